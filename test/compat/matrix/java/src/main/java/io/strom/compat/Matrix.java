package io.strom.compat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Client-matrix scenarios for the Apache Kafka Java client and Kafka Streams.
 * Usage: Matrix clients|streams BOOTSTRAP TOPIC GROUP RF. The scenario and the
 * record shapes are specified in test/compat/matrix/README.md; every step prints
 * one "STEP name PASS|FAIL detail" line.
 */
public final class Matrix {
    static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
    static final int PER_CODEC = 50, RESUME = 10, PARTITIONS = 3;
    static final long STEP_TIMEOUT_MS = 60_000;
    static final byte[] MAPPED_PREFIX = "mapped:".getBytes(StandardCharsets.UTF_8);

    record Rec(byte[] key, byte[] value, List<Map.Entry<String, byte[]>> headers) {}

    interface StepBody {
        String run() throws Exception;
    }

    static String bootstrap, topic, group;
    static short rf;
    static boolean failed;

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: Matrix clients|streams BOOTSTRAP TOPIC GROUP RF");
            System.exit(2);
        }
        bootstrap = args[1];
        topic = args[2];
        group = args[3];
        rf = Short.parseShort(args[4]);
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            if (args[0].equals("streams")) {
                streams(admin);
            } else {
                clients(admin);
            }
        }
        System.exit(failed ? 1 : 0);
    }

    static Rec make(String label, int i) {
        ByteArrayOutputStream v = new ByteArrayOutputStream();
        v.writeBytes(("value-" + label + "-" + i + "-").getBytes(StandardCharsets.UTF_8));
        v.writeBytes(new byte[] {0x00, 0x01, 0x7f, (byte) 0x80, (byte) 0xfe, (byte) 0xff});
        v.writeBytes("x".repeat(64).getBytes(StandardCharsets.UTF_8));
        ByteArrayOutputStream bin = new ByteArrayOutputStream();
        bin.writeBytes(new byte[] {0x01, (byte) 0x80, (byte) 0xff});
        bin.writeBytes(label.getBytes(StandardCharsets.UTF_8));
        return new Rec(("key-" + label + "-" + i).getBytes(StandardCharsets.UTF_8), v.toByteArray(), List.of(
                Map.entry("trace", ("h-" + label + "-" + i).getBytes(StandardCharsets.UTF_8)),
                Map.entry("bin", bin.toByteArray())));
    }

    static List<Rec> group(String label, int n) {
        List<Rec> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(make(label, i));
        }
        return out;
    }

    /** Compares consumed records with the expected ones, byte for byte, each once. */
    static final class Checker {
        final Map<String, Rec> want = new HashMap<>();
        final Set<String> seen = new HashSet<>();

        Checker(List<Rec> recs) {
            for (Rec r : recs) {
                want.put(new String(r.key(), StandardCharsets.ISO_8859_1), r);
            }
        }

        void add(ConsumerRecord<byte[], byte[]> r, byte[] valuePrefix) {
            String k = new String(r.key(), StandardCharsets.ISO_8859_1);
            String where = "partition " + r.partition() + " offset " + r.offset();
            Rec w = want.get(k);
            if (w == null) {
                throw new IllegalStateException("unexpected record key " + k + " at " + where);
            }
            if (!seen.add(k)) {
                throw new IllegalStateException("duplicate record " + k + " at " + where);
            }
            byte[] wv = w.value();
            if (valuePrefix.length > 0) {
                wv = concat(valuePrefix, wv);
            }
            if (!Arrays.equals(wv, r.value())) {
                throw new IllegalStateException("record " + k + " at " + where + ": value differs");
            }
            Header[] hs = r.headers().toArray();
            if (hs.length != w.headers().size()) {
                throw new IllegalStateException("record " + k + ": " + hs.length + " headers, want " + w.headers().size());
            }
            for (int i = 0; i < hs.length; i++) {
                var h = w.headers().get(i);
                if (!hs[i].key().equals(h.getKey()) || !Arrays.equals(hs[i].value(), h.getValue())) {
                    throw new IllegalStateException("record " + k + ": header " + i + " is " + hs[i].key() + " differs");
                }
            }
        }

        boolean done() {
            return seen.size() == want.size();
        }

        String progress() {
            return seen.size() + " of " + want.size() + " records";
        }
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static boolean step(String name, StepBody body) {
        return step(name, body, false);
    }

    static boolean step(String name, StepBody body, boolean always) {
        if (failed && !always) {
            return false;
        }
        try {
            String detail = body.run();
            System.out.println("STEP " + name + " PASS " + detail);
            return true;
        } catch (Exception e) {
            failed = true;
            Throwable c = e.getCause() != null ? e.getCause() : e;
            System.out.println("STEP " + name + " FAIL " + (c.getClass().getSimpleName() + ": " + c.getMessage()).replaceAll("\\s+", " "));
            return false;
        } finally {
            System.out.flush();
        }
    }

    interface Cond {
        String problem() throws Exception;
    }

    static void poll(Cond c) throws Exception {
        long end = System.currentTimeMillis() + STEP_TIMEOUT_MS;
        while (true) {
            String p = c.problem();
            if (p.isEmpty()) {
                return;
            }
            if (System.currentTimeMillis() > end) {
                throw new IllegalStateException("timed out: " + p);
            }
            Thread.sleep(200);
        }
    }

    static String createTopics(Admin admin, String... names) throws Exception {
        List<NewTopic> nts = new ArrayList<>();
        for (String n : names) {
            nts.add(new NewTopic(n, PARTITIONS, rf));
        }
        admin.createTopics(nts).all().get(STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        poll(() -> {
            Map<String, TopicDescription> ds = admin.describeTopics(List.of(names)).allTopicNames().get(10, TimeUnit.SECONDS);
            for (TopicDescription d : ds.values()) {
                if (d.partitions().size() != PARTITIONS) {
                    return d.name() + " has " + d.partitions().size() + " partitions";
                }
                if (d.partitions().stream().anyMatch(p -> p.leader() == null || p.leader().id() < 0)) {
                    return d.name() + " has a partition without a leader";
                }
            }
            return "";
        });
        return PARTITIONS + " partitions with leaders";
    }

    static String deleteTopics(Admin admin, String... names) throws Exception {
        admin.deleteTopics(List.of(names)).all().get(STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        poll(() -> {
            Set<String> listed = admin.listTopics().names().get(10, TimeUnit.SECONDS);
            for (String n : names) {
                if (listed.contains(n)) {
                    return n + " still listed";
                }
            }
            return "";
        });
        return "topic gone from metadata";
    }

    static String produce(String to, String codec, String label, int n) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 20);
        try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (Rec r : group(label, n)) {
                RecordHeaders hs = new RecordHeaders();
                for (var h : r.headers()) {
                    hs.add(h.getKey(), h.getValue());
                }
                fs.add(prod.send(new ProducerRecord<>(to, null, r.key(), r.value(), hs)));
            }
            for (Future<RecordMetadata> f : fs) {
                f.get(STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            }
        }
        return n + " records acknowledged";
    }

    static KafkaConsumer<byte[], byte[]> consumer(String groupId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        if (groupId != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        }
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    static String consume(KafkaConsumer<byte[], byte[]> c, Checker chk, byte[] valuePrefix) {
        long end = System.currentTimeMillis() + STEP_TIMEOUT_MS;
        while (!chk.done()) {
            if (System.currentTimeMillis() > end) {
                throw new IllegalStateException("timed out with " + chk.progress());
            }
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                chk.add(r, valuePrefix);
            }
        }
        return chk.progress() + " byte-exact";
    }

    static List<TopicPartition> partitions(String t) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            tps.add(new TopicPartition(t, p));
        }
        return tps;
    }

    /** Checks that the group's committed offsets equal the topic's end offsets. */
    static String committedAtEnd(Admin admin, String groupId, String t) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
        for (TopicPartition tp : partitions(t)) {
            specs.put(tp, OffsetSpec.latest());
        }
        var ends = admin.listOffsets(specs).all().get(30, TimeUnit.SECONDS);
        long sum = 0;
        for (TopicPartition tp : partitions(t)) {
            OffsetAndMetadata om = committed.get(tp);
            long end = ends.get(tp).offset();
            if (om == null || om.offset() != end) {
                throw new IllegalStateException("partition " + tp.partition() + ": committed " + om + ", high watermark " + end);
            }
            sum += end;
        }
        return "committed offsets equal high watermarks (sum " + sum + ")";
    }

    static void clients(Admin admin) throws Exception {
        boolean created = step("create_topic", () -> createTopics(admin, topic));
        if (created) {
            List<Rec> want = new ArrayList<>();
            for (String codec : CODECS) {
                if (!step("produce_" + codec, () -> produce(topic, codec, codec, PER_CODEC))) {
                    break;
                }
                want.addAll(group(codec, PER_CODEC));
            }
            if (!failed) {
                boolean ok;
                try (KafkaConsumer<byte[], byte[]> c = consumer(group)) {
                    c.subscribe(List.of(topic));
                    ok = step("consume_group", () -> consume(c, new Checker(want), new byte[0]))
                            && step("commit", () -> {
                                c.commitSync(Duration.ofSeconds(30));
                                return committedAtEnd(admin, group, topic);
                            });
                } // close leaves the group
                if (ok) {
                    step("resume", () -> {
                        produce(topic, "none", "resume", RESUME);
                        try (KafkaConsumer<byte[], byte[]> c = consumer(group)) {
                            c.subscribe(List.of(topic));
                            consume(c, new Checker(group("resume", RESUME)), new byte[0]);
                        }
                        return "restarted consumer got exactly the " + RESUME + " new records";
                    });
                }
            }
        }
        step("delete_topic", () -> created ? deleteTopics(admin, topic) : "nothing created", true);
    }

    /**
     * An at-least-once Kafka Streams app maps TOPIC.in to TOPIC.out, prefixing
     * each value; the output is read back byte-exact (headers pass through) and
     * the app's committed offsets must cover the whole input.
     */
    static void streams(Admin admin) throws Exception {
        String in = topic + ".in", out = topic + ".out";
        boolean created = step("create_topic", () -> createTopics(admin, in, out));
        if (created) {
            step("produce_input", () -> produce(in, "lz4", "streams", PER_CODEC));
            if (!failed) {
                StreamsBuilder b = new StreamsBuilder();
                b.stream(in, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
                        .mapValues(v -> concat(MAPPED_PREFIX, v))
                        .to(out, Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
                Properties p = new Properties();
                p.put(StreamsConfig.APPLICATION_ID_CONFIG, group);
                p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
                p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
                p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
                p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, (int) rf);
                p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
                p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("strom-compat-streams").toString());
                p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
                KafkaStreams app = new KafkaStreams(b.build(), p);
                try {
                    step("streams_run", () -> {
                        app.start();
                        poll(() -> {
                            KafkaStreams.State s = app.state();
                            if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.PENDING_ERROR) {
                                throw new IllegalStateException("streams app in state " + s);
                            }
                            return s == KafkaStreams.State.RUNNING ? "" : "state " + s;
                        });
                        return "app RUNNING";
                    });
                    step("verify_output", () -> {
                        try (KafkaConsumer<byte[], byte[]> c = consumer(null)) {
                            c.assign(partitions(out));
                            c.seekToBeginning(partitions(out));
                            return consume(c, new Checker(group("streams", PER_CODEC)), MAPPED_PREFIX);
                        }
                    });
                } finally {
                    app.close(Duration.ofSeconds(30)); // commits the processed offsets
                }
                step("streams_commit", () -> committedAtEnd(admin, group, in));
            }
        }
        step("delete_topic", () -> created ? deleteTopics(admin, in, out) : "nothing created", true);
    }
}
