package io.strom.test;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.errors.TopicAuthorizationException;

/**
 * The Java AdminClient's authorized-operations fields, as a user of a SASL_PLAINTEXT (PLAIN)
 * listener: describeTopics with includeAuthorizedOperations (Kafka 4's client sends
 * DescribeTopicPartitions) must give READ and DESCRIBE for a topic the user may read, refuse a
 * topic it may not describe with TopicAuthorizationException, and describeCluster with
 * includeAuthorizedOperations must give no operation without DESCRIBE on the cluster.
 *
 * <p>Usage: java -cp strom-javacheck.jar io.strom.test.AuthzOpsCheck BOOTSTRAP USER PASSWORD
 * TOPIC HIDDEN_TOPIC. Exit code 0 and the line "authzopscheck: all checks passed" mean every
 * check passed.
 */
public final class AuthzOpsCheck {
    static {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: AuthzOpsCheck BOOTSTRAP USER PASSWORD TOPIC HIDDEN_TOPIC");
            System.exit(2);
        }
        String topic = args[3];
        String hidden = args[4];
        List<String> failures = new ArrayList<>();
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        ap.put("security.protocol", "SASL_PLAINTEXT");
        ap.put("sasl.mechanism", "PLAIN");
        ap.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
                + args[1] + "\" password=\"" + args[2] + "\";");
        try (Admin admin = Admin.create(ap)) {
            DescribeTopicsOptions opts = new DescribeTopicsOptions().includeAuthorizedOperations(true);
            TopicDescription d = admin.describeTopics(List.of(topic), opts).allTopicNames().get(30, TimeUnit.SECONDS).get(topic);
            Set<AclOperation> ops = d.authorizedOperations();
            System.out.println("authzopscheck: " + topic + " partitions " + d.partitions().size() + " operations " + ops);
            if (!EnumSet.of(AclOperation.READ, AclOperation.DESCRIBE).equals(ops)) {
                failures.add("topic operations " + ops + ", want [READ, DESCRIBE]");
            }
            if (d.partitions().size() != 2) {
                failures.add("topic partitions " + d.partitions().size() + ", want 2");
            }
            try {
                admin.describeTopics(List.of(hidden), opts).allTopicNames().get(30, TimeUnit.SECONDS);
                failures.add("a topic without DESCRIBE was described");
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicAuthorizationException)) {
                    failures.add("a topic without DESCRIBE: " + e.getCause() + ", want TopicAuthorizationException");
                }
            }
            Set<AclOperation> cluster = admin.describeCluster(new DescribeClusterOptions().includeAuthorizedOperations(true))
                    .authorizedOperations().get(30, TimeUnit.SECONDS);
            System.out.println("authzopscheck: cluster operations " + cluster);
            if (cluster == null || !cluster.isEmpty()) {
                failures.add("cluster operations " + cluster + ", want []");
            }
        }
        if (!failures.isEmpty()) {
            for (String f : failures) {
                System.out.println("authzopscheck: FAIL " + f);
            }
            System.exit(1);
        }
        System.out.println("authzopscheck: all checks passed");
    }
}
