"""The client-matrix scenario for confluent-kafka (Python, librdkafka).
Usage: confluent_client.py BOOTSTRAP TOPIC GROUP RF"""
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import common as c

bootstrap, topic, group_id, rf = c.args()
run = c.Run()
admin = AdminClient({"bootstrap.servers": bootstrap})


def create():
    admin.create_topics([NewTopic(topic, num_partitions=c.PARTITIONS, replication_factor=rf)])[topic].result(c.STEP_TIMEOUT)

    def ready():
        t = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        if t is None or t.error is not None or len(t.partitions) != c.PARTITIONS:
            return f"topic not ready: {t and t.error}"
        if any(p.leader < 0 for p in t.partitions.values()):
            return "a partition has no leader"
        return ""
    c.poll(ready)
    return "3 partitions with leaders"


def produce(codec, label, n):
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20, "acks": "all"})
    errors = []
    for k, v, h in c.group(label, n):
        p.produce(topic, key=k, value=v, headers=h, on_delivery=lambda err, msg: err and errors.append(err))
    left = p.flush(c.STEP_TIMEOUT)
    if left or errors:
        raise AssertionError(f"{left} undelivered, errors {errors[:3]}")
    return f"{n} records acknowledged"


def consumer():
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    cons.subscribe([topic])
    return cons


def consume(cons, chk):
    end = c.deadline()
    while not chk.done():
        if time.monotonic() > end:
            raise AssertionError(f"timed out with {chk.progress()}")
        m = cons.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise AssertionError(f"poll: {m.error()}")
        chk.add(m.key(), m.value(), m.headers(), f"partition {m.partition()} offset {m.offset()}")
    return f"{chk.progress()} byte-exact"


def commit(cons):
    cons.commit(asynchronous=False)
    committed = cons.committed([TopicPartition(topic, p) for p in range(c.PARTITIONS)], timeout=30)
    total = 0
    for tp in committed:
        _, high = cons.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
        if tp.offset != high:
            raise AssertionError(f"partition {tp.partition}: committed {tp.offset}, high watermark {high}")
        total += high
    return f"committed offsets equal high watermarks (sum {total})"


def resume():
    produce("none", "resume", c.RESUME)
    cons = consumer()
    try:
        consume(cons, c.Checker(c.group("resume", c.RESUME)))
    finally:
        cons.close()
    return f"restarted consumer got exactly the {c.RESUME} new records"


def delete():
    if not created:
        return "nothing created"
    admin.delete_topics([topic])[topic].result(c.STEP_TIMEOUT)
    c.poll(lambda: "topic still listed" if topic in admin.list_topics(timeout=5).topics else "")
    return "topic gone from metadata"


created = run.step("create_topic", create)
if created:
    want = []
    for codec in c.CODECS:
        if not run.step(f"produce_{codec}", lambda: produce(codec, codec, c.PER_CODEC)):
            break
        want += c.group(codec, c.PER_CODEC)
    if not run.failed:
        cons = consumer()
        ok = run.step("consume_group", lambda: consume(cons, c.Checker(want))) and run.step("commit", lambda: commit(cons))
        cons.close()  # leaves the group
        if ok:
            run.step("resume", resume)
run.step("delete_topic", delete, always=True)
run.exit()
