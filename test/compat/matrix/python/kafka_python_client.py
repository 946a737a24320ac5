"""The client-matrix scenario for kafka-python (pure Python).
Usage: kafka_python_client.py BOOTSTRAP TOPIC GROUP RF"""
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

import common as c

bootstrap, topic, group_id, rf = c.args()
servers = bootstrap.split(",")
run = c.Run()
admin = KafkaAdminClient(bootstrap_servers=servers, client_id="strom-compat-kafka-python")


def create():
    admin.create_topics([NewTopic(topic, num_partitions=c.PARTITIONS, replication_factor=rf)])

    def ready():
        [t] = admin.describe_topics([topic])
        if t["error_code"] != 0 or len(t["partitions"]) != c.PARTITIONS:
            return f"topic not ready: error {t['error_code']}, {len(t['partitions'])} partitions"
        # Field names follow the Metadata response schema (leader_id); older
        # kafka-python releases used "leader".
        if any(p.get("leader_id", p.get("leader", -1)) < 0 for p in t["partitions"]):
            return "a partition has no leader"
        return ""
    c.poll(ready)
    return "3 partitions with leaders"


def produce(codec, label, n):
    p = KafkaProducer(bootstrap_servers=servers, compression_type=None if codec == "none" else codec,
                      acks="all", linger_ms=20)
    try:
        futures = [p.send(topic, key=k, value=v, headers=h) for k, v, h in c.group(label, n)]
        for f in futures:
            f.get(timeout=c.STEP_TIMEOUT)
    finally:
        p.close()
    return f"{n} records acknowledged"


def consumer():
    return KafkaConsumer(topic, bootstrap_servers=servers, group_id=group_id,
                         enable_auto_commit=False, auto_offset_reset="earliest")


def consume(cons, chk):
    end = c.deadline()
    while not chk.done():
        if time.monotonic() > end:
            raise AssertionError(f"timed out with {chk.progress()}")
        for tp, recs in cons.poll(timeout_ms=500).items():
            for r in recs:
                chk.add(r.key, r.value, r.headers, f"partition {tp.partition} offset {r.offset}")
    return f"{chk.progress()} byte-exact"


def commit(cons):
    cons.commit()
    tps = [TopicPartition(topic, p) for p in range(c.PARTITIONS)]
    ends = cons.end_offsets(tps)
    total = 0
    for tp in tps:
        got = cons.committed(tp)
        if got != ends[tp]:
            raise AssertionError(f"partition {tp.partition}: committed {got}, high watermark {ends[tp]}")
        total += ends[tp]
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
    admin.delete_topics([topic])
    c.poll(lambda: "topic still listed" if topic in admin.list_topics() else "")
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
admin.close()
run.exit()
