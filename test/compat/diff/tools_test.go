package diff

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// The tools users create and configure topics with, run against Apache
// Kafka and Strom with the same steps; their answers must agree, bar the
// documented default differences (knownDifferences, path = config name).

// toolTopicConfigs are compaction and retention settings with one value
// each (the tools' outputs are split on commas).
var toolTopicConfigs = map[string]string{
	"cleanup.policy":            "compact",
	"compression.type":          "lz4",
	"delete.retention.ms":       "3600000",
	"max.compaction.lag.ms":     "86400000",
	"min.cleanable.dirty.ratio": "0.2",
	"min.compaction.lag.ms":     "1000",
	"retention.ms":              "604800000",
	"segment.bytes":             "1048576",
}

// transcript is what one broker answered, by step and item.
type transcript map[string]string

func compareTranscripts(t *testing.T, kafkaT, stromT transcript) {
	t.Helper()
	keys := map[string]bool{}
	for k := range kafkaT {
		keys[k] = true
	}
	for k := range stromT {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		kv, ok := kafkaT[k]
		if !ok {
			kv = "<absent>"
		}
		sv, ok := stromT[k]
		if !ok {
			sv = "<absent>"
		}
		if kv == sv {
			continue
		}
		step, item, _ := strings.Cut(k, " | ")
		if e := allowed(t.Name(), step, item); e != nil {
			t.Logf("known difference %s (docs/compatibility.md#%s): %s: kafka=%q strom=%q", e.id, e.id, k, kv, sv)
			continue
		}
		t.Errorf("%s:\n kafka: %s\n strom: %s", k, kv, sv)
	}
}

// TestTopicConfigsLibrdkafka creates, describes, alters and resets topic
// configs through librdkafka's AdminClient (confluent-kafka-go), as Kafka
// Connect-style tools do, on both brokers.
func TestTopicConfigsLibrdkafka(t *testing.T) {
	p := brokers(t)
	run := func(addr string) transcript {
		out := transcript{}
		adm, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": addr})
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		topic := "tools-rdkafka"
		res, err := adm.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1, Config: toolTopicConfigs}})
		if err != nil {
			t.Fatalf("%s: CreateTopics: %v", addr, err)
		}
		out["create | error"] = res[0].Error.Code().String()
		describe := func(step string, until func(map[string]kafka.ConfigEntryResult) bool) {
			var entries map[string]kafka.ConfigEntryResult
			for i := 0; ; i++ {
				r, err := adm.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
				if err == nil && r[0].Error.Code() == kafka.ErrNoError {
					entries = r[0].Config
					if until == nil || until(entries) {
						break
					}
				}
				if i == 100 {
					t.Fatalf("%s: %s: describe: %v %v", addr, step, err, r)
				}
				sleepPoll()
			}
			for name, e := range entries {
				var syn []string
				for _, s := range e.Synonyms {
					syn = append(syn, fmt.Sprintf("%s=%s(%v)", s.Name, s.Value, s.Source))
				}
				sort.Strings(syn)
				out[step+" | "+name] = fmt.Sprintf("%s source=%v readonly=%v default=%v sensitive=%v synonyms=%v",
					e.Value, e.Source, e.IsReadOnly, e.IsDefault, e.IsSensitive, syn)
			}
		}
		alter := func(step string, entries ...kafka.ConfigEntry) {
			r, err := adm.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic, Config: entries}})
			if err != nil {
				t.Fatalf("%s: %s: %v", addr, step, err)
			}
			out[step+" | error"] = r[0].Error.Code().String()
		}
		describe("after create", nil)
		alter("alter",
			kafka.ConfigEntry{Name: "retention.ms", Value: "3600000", IncrementalOperation: kafka.AlterConfigOpTypeSet},
			kafka.ConfigEntry{Name: "min.compaction.lag.ms", Value: "5000", IncrementalOperation: kafka.AlterConfigOpTypeSet},
			kafka.ConfigEntry{Name: "delete.retention.ms", IncrementalOperation: kafka.AlterConfigOpTypeDelete})
		describe("after alter", func(m map[string]kafka.ConfigEntryResult) bool {
			return m["retention.ms"].Value == "3600000" && m["delete.retention.ms"].Source == kafka.ConfigSourceDefault
		})
		alter("removed config", kafka.ConfigEntry{Name: "message.format.version", Value: "3.0", IncrementalOperation: kafka.AlterConfigOpTypeSet})
		alter("invalid level", kafka.ConfigEntry{Name: "compression.gzip.level", Value: "10", IncrementalOperation: kafka.AlterConfigOpTypeSet})
		return out
	}
	compareTranscripts(t, run(p.kafkaAddr), run(p.stromAddr))
}

// TestTopicConfigTools runs Kafka's own kafka-topics and kafka-configs
// (org.apache.kafka.tools.TopicCommand, kafka.admin.ConfigCommand, from the
// Maven jars: the scripts are not on Maven) against both brokers: create a
// topic with compaction and retention settings, describe it, alter, delete
// a config, describe every config, and set a config Kafka 4.0 removed.
// Each step starts a JVM, so it runs in the full suite only.
func TestTopicConfigTools(t *testing.T) {
	p := brokers(t)
	if !fullSuite() {
		t.Skip("full suite only (STROM_COMPAT=full or -tags compat): every step starts a JVM")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cp, err := kafkaref.EnsureToolJars(ctx, "")
	if err != nil {
		t.Fatalf("Kafka's tool jars: %v", err)
	}
	tool := func(class string, args ...string) (string, string, int) {
		cmd := exec.CommandContext(ctx, "java", append([]string{"-Xmx256m", "-Dlog4j2.level=ERROR", "-cp", cp, class}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", class, err)
		}
		return stdout.String(), stderr.String(), code
	}
	const topics, configs = "org.apache.kafka.tools.TopicCommand", "kafka.admin.ConfigCommand"
	exception := regexp.MustCompile(`(?m)^(org\.apache\.kafka\.common\.errors\.\w+: .*)$`)
	topicID := regexp.MustCompile(`TopicId: \S+`)
	elr := regexp.MustCompile(`\s*Elr: .*$`)
	run := func(addr string) transcript {
		out := transcript{}
		topic := "tools-cli"
		// record keeps each line of a tool's output under the step, sorted
		// (Kafka prints configs in hash order), with the "k=v" lists of a
		// line sorted too.
		record := func(step, stdout, stderr string, code int) {
			out[step+" | exit"] = fmt.Sprint(code)
			if m := exception.FindStringSubmatch(stderr); m != nil {
				out[step+" | exception"] = m[1]
			}
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				line = topicID.ReplaceAllString(strings.TrimSpace(line), "TopicId: <id>")
				// Strom serves no DescribeTopicPartitions (KIP-966's eligible
				// leader replicas): kafka-topics prints N/A where Kafka
				// prints empty lists (docs/compatibility.md#tools-elr).
				line = elr.ReplaceAllString(line, "")
				if line == "" {
					continue
				}
				key := line
				if name, _, ok := strings.Cut(line, "="); ok && !strings.Contains(name, " ") {
					key = name // one config per line: keyed by its name
				}
				if before, list, ok := strings.Cut(line, "Configs: "); ok {
					// docs/compatibility.md#min-insync-source: Kafka lists
					// its cluster-wide default among a topic's configs.
					items := slices.DeleteFunc(strings.Split(list, ","), func(s string) bool { return strings.HasPrefix(s, "min.insync.replicas=") })
					sort.Strings(items)
					line = before + "Configs: " + strings.Join(items, ",")
					key = "Configs"
				}
				out[step+" | "+key] = line
			}
		}
		args := []string{"--bootstrap-server", addr, "--create", "--topic", topic, "--partitions", "1", "--replication-factor", "1"}
		for k, v := range toolTopicConfigs {
			args = append(args, "--config", k+"="+v)
		}
		so, se, code := tool(topics, args...)
		if code != 0 {
			t.Fatalf("%s: create: %s %s", addr, so, se)
		}
		record("kafka-topics --create", so, se, code)
		so, se, code = tool(topics, "--bootstrap-server", addr, "--describe", "--topic", topic)
		record("kafka-topics --describe", so, se, code)
		entity := []string{"--bootstrap-server", addr, "--entity-type", "topics", "--entity-name", topic}
		so, se, code = tool(configs, append(entity, "--describe")...)
		record("kafka-configs --describe", so, se, code)
		so, se, code = tool(configs, append(entity, "--alter", "--add-config", "retention.ms=3600000,min.compaction.lag.ms=5000", "--delete-config", "delete.retention.ms")...)
		record("kafka-configs --alter", so, se, code)
		for i := 0; ; i++ { // the alter shows once the controller committed it
			so, se, code = tool(configs, append(entity, "--describe")...)
			if strings.Contains(so, "retention.ms=3600000") && !strings.Contains(so, "delete.retention.ms=") || i == 20 {
				break
			}
		}
		record("kafka-configs --describe after alter", so, se, code)
		so, se, code = tool(configs, append(entity, "--describe", "--all")...)
		record("kafka-configs --describe --all", so, se, code)
		so, se, code = tool(configs, append(entity, "--alter", "--add-config", "message.format.version=3.0")...)
		record("kafka-configs --alter removed config", so, se, code)
		so, se, code = tool(configs, append(entity, "--alter", "--add-config", "min.cleanable.dirty.ratio=2")...)
		record("kafka-configs --alter invalid value", so, se, code)
		return out
	}
	compareTranscripts(t, run(p.kafkaAddr), run(p.stromAddr))
}
