package io.strom.test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
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
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Exercises the Apache Kafka Java client against a broker: Admin creates and describes one
 * topic per codec, an idempotent acks=all producer writes keyed records with headers, and an
 * assign()-based consumer (no group) reads them back and compares them byte for byte.
 *
 * <p>Usage: JavaCheck BOOTSTRAP TOPIC_PREFIX RECORDS. Exit code 0 means every check passed;
 * any mismatch is printed to stderr and exits 1.
 */
public final class JavaCheck {
    static {
        // Must be set before the first logger is created.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    }

    private static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
    private static final int PARTITIONS = 2;

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: JavaCheck BOOTSTRAP TOPIC_PREFIX RECORDS");
            System.exit(2);
        }
        String bootstrap = args[0];
        String prefix = args[1];
        int n = Integer.parseInt(args[2]);

        List<String> failures = new ArrayList<>();
        try (Admin admin = Admin.create(adminProps(bootstrap))) {
            for (String codec : CODECS) {
                String topic = prefix + "-" + codec;
                createTopic(admin, topic);
                List<RecordMetadata> acks = produce(bootstrap, topic, codec, n);
                consumeAndVerify(bootstrap, topic, codec, n, acks, failures);
                System.out.printf("javacheck: codec=%s records=%d ok=%b%n", codec, n, failures.isEmpty());
            }
            Set<String> listed = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            for (String codec : CODECS) {
                if (!listed.contains(prefix + "-" + codec)) {
                    failures.add("listTopics does not contain " + prefix + "-" + codec + ": " + listed);
                }
            }
        }
        if (!failures.isEmpty()) {
            for (String f : failures) {
                System.err.println("javacheck FAIL: " + f);
            }
            System.exit(1);
        }
        System.out.println("javacheck: all checks passed");
        System.exit(0);
    }

    private static Properties adminProps(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        return p;
    }

    private static void createTopic(Admin admin, String topic) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get(30, TimeUnit.SECONDS);
        Map<String, TopicDescription> d = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS);
        int got = d.get(topic).partitions().size();
        if (got != PARTITIONS) {
            throw new IllegalStateException("describeTopics " + topic + ": " + got + " partitions, want " + PARTITIONS);
        }
    }

    static byte[] key(int i) {
        return ("key-" + i).getBytes(StandardCharsets.UTF_8);
    }

    static byte[] value(String codec, int i) {
        // Repetitive enough to compress, distinct per record.
        return ("value-" + codec + "-" + i + "-" + "x".repeat(64 + i % 50)).getBytes(StandardCharsets.UTF_8);
    }

    static List<Header> headers(int i) {
        return List.of(
                new RecordHeader("h-index", Integer.toString(i).getBytes(StandardCharsets.UTF_8)),
                new RecordHeader("h-empty", new byte[0]));
    }

    private static List<RecordMetadata> produce(String bootstrap, String topic, String codec, int n) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 60000);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        List<Future<RecordMetadata>> futures = new ArrayList<>(n);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < n; i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, i % PARTITIONS, key(i), value(codec, i), headers(i))));
            }
            producer.flush();
            List<RecordMetadata> out = new ArrayList<>(n);
            for (Future<RecordMetadata> f : futures) {
                out.add(f.get(60, TimeUnit.SECONDS));
            }
            return out;
        }
    }

    private static void consumeAndVerify(String bootstrap, String topic, String codec, int n,
                                         List<RecordMetadata> acks, List<String> failures) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>(n);
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            Collection<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < PARTITIONS; i++) {
                tps.add(new TopicPartition(topic, i));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (got.size() < n && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    got.add(r);
                }
            }
            // One more poll: anything beyond n is a duplicate or a stray record.
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                got.add(r);
            }
        }
        String where = "topic " + topic + " (" + codec + "): ";
        if (got.size() != n) {
            failures.add(where + "consumed " + got.size() + " records, want " + n);
        }
        long[] nextOffset = new long[PARTITIONS];
        Set<String> seen = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            String idx = new String(r.key(), StandardCharsets.UTF_8).substring(4);
            int i;
            try {
                i = Integer.parseInt(idx);
            } catch (NumberFormatException e) {
                failures.add(where + "unexpected key " + Arrays.toString(r.key()));
                continue;
            }
            if (i < 0 || i >= n || !seen.add(idx)) {
                failures.add(where + "record " + idx + " out of range or read twice");
                continue;
            }
            RecordMetadata ack = acks.get(i);
            if (r.partition() != ack.partition() || r.offset() != ack.offset()) {
                failures.add(where + "record " + i + " read at " + r.partition() + "/" + r.offset()
                        + ", acknowledged at " + ack.partition() + "/" + ack.offset());
            }
            if (r.offset() != nextOffset[r.partition()]) {
                failures.add(where + "partition " + r.partition() + " offset " + r.offset() + ", want " + nextOffset[r.partition()]);
            }
            nextOffset[r.partition()] = r.offset() + 1;
            if (!Arrays.equals(r.value(), value(codec, i))) {
                failures.add(where + "record " + i + " value differs");
            }
            List<Header> want = headers(i);
            Header[] have = r.headers().toArray();
            if (have.length != want.size()) {
                failures.add(where + "record " + i + " has " + have.length + " headers, want " + want.size());
                continue;
            }
            for (int h = 0; h < have.length; h++) {
                if (!have[h].key().equals(want.get(h).key()) || !Arrays.equals(have[h].value(), want.get(h).value())) {
                    failures.add(where + "record " + i + " header " + h + " differs");
                }
            }
        }
    }

    private JavaCheck() {}
}
