package io.strom.test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client's transactions against a broker: a transactional producer commits one
 * transaction, aborts a second, and commits a third that also commits a consumer group's offsets
 * (sendOffsetsToTransaction); a second producer with the same transactional id fences the first.
 * A read_committed consumer must read exactly the committed records, a read_uncommitted one all of
 * them, and the group's committed offsets must be those sent in the transaction.
 *
 * <p>Usage: java -cp strom-javacheck.jar io.strom.test.TxnCheck BOOTSTRAP TOPIC_PREFIX RECORDS.
 * Exit code 0 and the line "txncheck: all checks passed" mean every check passed.
 */
public final class TxnCheck {
    static {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    }

    private static final int PARTITIONS = 2;

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: TxnCheck BOOTSTRAP TOPIC_PREFIX RECORDS");
            System.exit(2);
        }
        String bootstrap = args[0];
        String in = args[1] + "-in";
        String out = args[1] + "-out";
        String group = args[1] + "-group";
        String txnID = args[1] + "-txn";
        int n = Integer.parseInt(args[2]);
        List<String> failures = new ArrayList<>();

        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(in, PARTITIONS, (short) -1), new NewTopic(out, PARTITIONS, (short) -1)))
                    .all().get(30, TimeUnit.SECONDS);

            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) {
                offsets.put(new TopicPartition(in, p), new OffsetAndMetadata(7));
            }
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps(bootstrap, txnID))) {
                producer.initTransactions();
                int epoch0 = producerEpoch(admin, txnID);
                transaction(producer, out, "committed-a", n);
                producer.commitTransaction();
                transaction(producer, out, "aborted", n);
                producer.abortTransaction();
                transaction(producer, out, "committed-b", n);
                producer.sendOffsetsToTransaction(offsets, new ConsumerGroupMetadata(group));
                producer.commitTransaction();
                System.out.println("txncheck: commit, abort, commit with offsets done");
                // Transactions v2 (KIP-890 part 2) is on when the cluster finalizes
                // transaction.version 2: every commit and abort then bumps the epoch, and the
                // producer adds partitions and the group implicitly (Produce v12, TxnOffsetCommit v5).
                FinalizedVersionRange tv = admin.describeFeatures().featureMetadata().get(30, TimeUnit.SECONDS)
                        .finalizedFeatures().get("transaction.version");
                boolean v2 = tv != null && tv.maxVersionLevel() >= 2;
                int epoch3 = producerEpoch(admin, txnID);
                if (epoch3 != epoch0 + (v2 ? 3 : 0)) {
                    failures.add("producer epoch " + epoch0 + " before three transactions, " + epoch3 + " after (transactions v" + (v2 ? 2 : 1) + ")");
                }
                System.out.println("txncheck: transactions v" + (v2 ? 2 : 1) + ", producer epoch " + epoch0 + " -> " + epoch3);

                // A second producer with the same id fences the first.
                try (KafkaProducer<String, String> zombieKiller = new KafkaProducer<>(producerProps(bootstrap, txnID))) {
                    zombieKiller.initTransactions();
                    try {
                        transaction(producer, out, "fenced", n);
                        producer.commitTransaction();
                        failures.add("the fenced producer committed");
                    } catch (ProducerFencedException | InvalidProducerEpochException e) {
                        System.out.println("txncheck: fenced as expected: " + e.getClass().getSimpleName());
                    } catch (KafkaException e) {
                        if (!(e.getCause() instanceof ProducerFencedException || e.getCause() instanceof InvalidProducerEpochException)) {
                            failures.add("the fenced producer failed with " + e);
                        }
                    }
                    transaction(zombieKiller, out, "committed-c", n);
                    zombieKiller.commitTransaction();
                }
            }

            Map<String, Integer> committed = count(consume(bootstrap, out, "read_committed", 3 * n));
            Map<String, Integer> want = new TreeMap<>(Map.of("committed-a", n, "committed-b", n, "committed-c", n));
            if (!committed.equals(want)) {
                failures.add("read_committed read " + committed + ", want " + want);
            }
            // read_uncommitted also sees the aborted and the fenced records that made it to the log.
            Map<String, Integer> all = count(consume(bootstrap, out, "read_uncommitted", 4 * n));
            if (all.getOrDefault("aborted", 0) != n) {
                failures.add("read_uncommitted read " + all + ", want " + n + " aborted records among them");
            }
            Map<TopicPartition, OffsetAndMetadata> got = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            if (!got.equals(offsets)) {
                failures.add("group offsets " + got + ", want " + offsets);
            }
        }
        if (!failures.isEmpty()) {
            for (String f : failures) {
                System.err.println("txncheck FAIL: " + f);
            }
            System.exit(1);
        }
        System.out.println("txncheck: all checks passed");
        System.exit(0);
    }

    private static int producerEpoch(Admin admin, String txnID) throws Exception {
        return admin.describeTransactions(List.of(txnID)).description(txnID).get(30, TimeUnit.SECONDS).producerEpoch();
    }

    private static Properties producerProps(String bootstrap, String txnID) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnID);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return p;
    }

    private static void transaction(KafkaProducer<String, String> producer, String topic, String tag, int n) {
        producer.beginTransaction();
        for (int i = 0; i < n; i++) {
            producer.send(new ProducerRecord<>(topic, i % PARTITIONS, tag + "-" + i, tag));
        }
        producer.flush();
    }

    /** Reads topic from the start until want records arrived or 30 seconds passed, then polls once more. */
    private static List<ConsumerRecord<String, String>> consume(String bootstrap, String topic, String isolation, int want) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < PARTITIONS; i++) {
                tps.add(new TopicPartition(topic, i));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (got.size() < want && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(500)).forEach(got::add);
            }
            c.poll(Duration.ofMillis(500)).forEach(got::add);
        }
        return got;
    }

    private static Map<String, Integer> count(List<ConsumerRecord<String, String>> recs) {
        Map<String, Integer> m = new TreeMap<>();
        for (ConsumerRecord<String, String> r : recs) {
            m.merge(r.value(), 1, Integer::sum);
        }
        return m;
    }

    private TxnCheck() {}
}
