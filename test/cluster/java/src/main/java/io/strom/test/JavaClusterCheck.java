package io.strom.test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Round trip of the Apache Kafka Java client through a 3-node cluster: Admin creates a topic with
 * 3 partitions and replication factor 3 and checks that every partition has 3 replicas and a
 * leader; an idempotent acks=all producer writes 100-byte records; an assign()-based consumer
 * reads every partition back. Every acknowledged record must be read at its acknowledged
 * partition and offset, exactly once, with gapless offsets per partition.
 *
 * <p>Usage: JavaClusterCheck BOOTSTRAP TOPIC RECORDS. Exit code 0 means every check passed.
 */
public final class JavaClusterCheck {
    static {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    }

    private static final int PARTITIONS = 3;
    private static final short RF = 3;

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: JavaClusterCheck BOOTSTRAP TOPIC RECORDS");
            System.exit(2);
        }
        String bootstrap = args[0];
        String topic = args[1];
        int n = Integer.parseInt(args[2]);
        List<String> failures = new ArrayList<>();

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, RF))).all().get(30, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            String problem;
            do {
                problem = describeProblem(admin, topic);
                if (problem != null) {
                    Thread.sleep(200); // polling the topic's description until it is complete
                }
            } while (problem != null && System.nanoTime() < deadline);
            if (problem != null) {
                failures.add(problem);
            }
        }

        List<RecordMetadata> acks = produce(bootstrap, topic, n);
        System.out.printf("javaclustercheck: %d records acknowledged%n", acks.size());
        verify(bootstrap, topic, n, acks, failures);

        if (!failures.isEmpty()) {
            for (String f : failures) {
                System.err.println("javaclustercheck FAIL: " + f);
            }
            System.exit(1);
        }
        System.out.println("javaclustercheck: all checks passed");
        System.exit(0);
    }

    /** Returns null when every partition has RF replicas and a leader, else what is missing. */
    private static String describeProblem(Admin admin, String topic) throws Exception {
        Map<String, TopicDescription> d = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS);
        List<TopicPartitionInfo> parts = d.get(topic).partitions();
        if (parts.size() != PARTITIONS) {
            return "describeTopics " + topic + ": " + parts.size() + " partitions, want " + PARTITIONS;
        }
        for (TopicPartitionInfo p : parts) {
            if (p.replicas().size() != RF || p.leader() == null || p.leader().id() < 0) {
                return "describeTopics " + topic + " partition " + p.partition() + ": replicas " + p.replicas()
                        + ", leader " + p.leader() + ", isr " + p.isr();
            }
        }
        return null;
    }

    static byte[] value(int i) {
        byte[] v = new byte[100];
        Arrays.fill(v, (byte) 'x');
        byte[] id = String.format("java-%08d-", i).getBytes(StandardCharsets.UTF_8);
        System.arraycopy(id, 0, v, 0, id.length);
        return v;
    }

    private static List<RecordMetadata> produce(String bootstrap, String topic, int n) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 60000);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        List<Future<RecordMetadata>> futures = new ArrayList<>(n);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < n; i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, i % PARTITIONS, null, value(i))));
            }
            producer.flush();
            List<RecordMetadata> out = new ArrayList<>(n);
            for (Future<RecordMetadata> f : futures) {
                out.add(f.get(60, TimeUnit.SECONDS));
            }
            return out;
        }
    }

    private static void verify(String bootstrap, String topic, int n, List<RecordMetadata> acks, List<String> failures) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>(n);
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < PARTITIONS; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        Map<TopicPartition, Long> ends;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            ends = consumer.endOffsets(tps, Duration.ofSeconds(30));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (got.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    got.add(r);
                }
            }
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                got.add(r);
            }
        }
        long total = 0;
        for (long e : ends.values()) {
            total += e;
        }
        if (total != n) {
            failures.add("end offsets " + ends + " add up to " + total + ", want " + n);
        }
        if (got.size() != n) {
            failures.add("consumed " + got.size() + " records, want " + n);
        }
        Map<Integer, Long> next = new HashMap<>();
        Set<Integer> seen = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            String v = new String(r.value(), StandardCharsets.UTF_8);
            int i;
            try {
                i = Integer.parseInt(v.substring(5, 13));
            } catch (RuntimeException e) {
                failures.add("unexpected value " + v);
                continue;
            }
            if (i < 0 || i >= n || !seen.add(i)) {
                failures.add("record " + i + " out of range or read twice");
                continue;
            }
            RecordMetadata ack = acks.get(i);
            if (r.partition() != ack.partition() || r.offset() != ack.offset()) {
                failures.add("record " + i + " read at " + r.partition() + "/" + r.offset()
                        + ", acknowledged at " + ack.partition() + "/" + ack.offset());
            }
            long want = next.getOrDefault(r.partition(), 0L);
            if (r.offset() != want) {
                failures.add("partition " + r.partition() + ": offset " + r.offset() + ", want " + want);
            }
            next.put(r.partition(), r.offset() + 1);
            if (!Arrays.equals(r.value(), value(i))) {
                failures.add("record " + i + " value differs");
            }
        }
        if (failures.size() > 20) {
            failures.subList(20, failures.size()).clear();
            failures.add("... more failures omitted");
        }
    }
}
