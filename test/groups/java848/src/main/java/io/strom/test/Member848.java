package io.strom.test;

import java.io.InputStream;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One member of a consumer group using the KIP-848 protocol. Each record read is committed
 * synchronously, then printed as "record KEY PARTITION OFFSET". When stdin closes the consumer
 * closes, leaving the group, and the program prints "closed" and exits 0.
 */
public final class Member848 {
    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: Member848 BOOTSTRAP GROUP TOPIC CLIENT_ID");
            System.exit(2);
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, args[1]);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, args[3]);
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());

        AtomicBoolean stop = new AtomicBoolean();
        Thread watcher = new Thread(() -> {
            try {
                InputStream in = System.in;
                while (in.read() >= 0) {
                    // Wait for EOF.
                }
            } catch (Exception ignored) {
                // Treat a broken stdin as EOF.
            }
            stop.set(true);
        });
        watcher.setDaemon(true);
        watcher.start();

        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(args[2]));
            while (!stop.get()) {
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(200));
                if (recs.isEmpty()) {
                    continue;
                }
                try {
                    c.commitSync();
                } catch (RuntimeException e) {
                    System.err.println("commit failed: " + e);
                }
                StringBuilder sb = new StringBuilder();
                for (ConsumerRecord<String, String> r : recs) {
                    sb.append("record ").append(r.key()).append(' ').append(r.partition()).append(' ')
                            .append(r.offset()).append('\n');
                }
                System.out.print(sb);
                System.out.flush();
            }
        }
        System.out.println("closed");
        System.out.flush();
    }
}
