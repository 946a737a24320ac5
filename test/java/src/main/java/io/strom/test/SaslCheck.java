package io.strom.test;

import java.io.FileInputStream;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Runs the Java client through a secured listener: the client properties (security.protocol,
 * sasl.mechanism, sasl.jaas.config, ssl.truststore.*, ...) come from a file. Admin creates the
 * topic, a producer writes RECORDS records, a consumer in group GROUP reads them and commits, and
 * Admin reads the committed offset back.
 *
 * <p>Usage: SaslCheck PROPS_FILE TOPIC GROUP RECORDS, or SaslCheck PROPS_FILE --expect-auth-failure:
 * an Admin call must fail with SaslAuthenticationException (its message is printed). Prints
 * "saslcheck: ok" on success; exits 1 on any failure.
 */
public final class SaslCheck {
    static {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2 && args.length != 4) {
            System.err.println("usage: SaslCheck PROPS_FILE TOPIC GROUP RECORDS | SaslCheck PROPS_FILE --expect-auth-failure");
            System.exit(2);
        }
        Properties base = new Properties();
        try (InputStream in = new FileInputStream(args[0])) {
            base.load(in);
        }
        // Kafka 4 reads OAuth token files and URLs only when allowed (KIP-1102 era).
        String tokenUrl = base.getProperty("sasl.oauthbearer.token.endpoint.url");
        if (tokenUrl != null) {
            System.setProperty("org.apache.kafka.sasl.oauthbearer.allowed.urls", tokenUrl);
        }
        if (args.length == 2) {
            expectAuthFailure(base);
            return;
        }
        String topic = args[1];
        String group = args[2];
        int n = Integer.parseInt(args[3]);
        List<String> failures = new ArrayList<>();
        try (Admin admin = Admin.create(with(base, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000"))) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);

            Properties pp = with(base, ProducerConfig.ACKS_CONFIG, "all");
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
                for (int i = 0; i < n; i++) {
                    p.send(new ProducerRecord<>(topic, "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
                }
            }

            Properties cp = with(base, ConsumerConfig.GROUP_ID_CONFIG, group);
            cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            int seen = 0;
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
                c.subscribe(List.of(topic));
                long deadline = System.currentTimeMillis() + 60_000;
                while (seen < n && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                        if (!r.value().equals("v" + r.offset())) {
                            failures.add("offset " + r.offset() + " holds " + r.value());
                        }
                        seen++;
                    }
                }
                c.commitSync(Duration.ofSeconds(30));
            }
            if (seen != n) {
                failures.add("consumed " + seen + " of " + n + " records");
            }
            Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            OffsetAndMetadata off = committed.get(new TopicPartition(topic, 0));
            if (off == null || off.offset() != n) {
                failures.add("committed offset " + off + ", want " + n);
            }
        }
        if (!failures.isEmpty()) {
            for (String f : failures) {
                System.err.println("saslcheck FAIL: " + f);
            }
            System.exit(1);
        }
        System.out.println("saslcheck: ok");
    }

    private static void expectAuthFailure(Properties base) throws Exception {
        try (Admin admin = Admin.create(with(base, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000"))) {
            admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);
            System.err.println("saslcheck FAIL: describeCluster succeeded");
            System.exit(1);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof SaslAuthenticationException) {
                System.out.println("saslcheck: authentication failed: " + e.getCause().getMessage());
                return;
            }
            System.err.println("saslcheck FAIL: " + e.getCause());
            System.exit(1);
        }
    }

    private static Properties with(Properties base, String key, String value) {
        Properties p = new Properties();
        p.putAll(base);
        p.put(key, value);
        return p;
    }
}
