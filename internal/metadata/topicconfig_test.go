package metadata

import (
	"errors"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
)

// TestDynamicBrokerDefaults: every dynamic broker default a client may set
// is in effect for topics without an override, as DescribeConfigs says.
func TestDynamicBrokerDefaults(t *testing.T) {
	im := &Image{BrokerConfigs: map[string]string{
		"log.cleaner.delete.retention.ms": "1000",
		"log.cleaner.min.cleanable.ratio": "0.25",
		"log.retention.ms":                "2000",
	}}
	top := &Topic{Name: "t", Configs: map[string]string{"retention.ms": "3000"}}
	got := top.EffectiveConfig(im.TopicDefaults(config.Default().Log))
	if got.DeleteRetention != time.Second || got.MinCleanableDirtyRatio != 0.25 || got.Retention != 3*time.Second {
		t.Fatalf("delete.retention.ms %s, min.cleanable.dirty.ratio %v, retention.ms %s; want 1s, 0.25, 3s",
			got.DeleteRetention, got.MinCleanableDirtyRatio, got.Retention)
	}
}

// TestEffectiveConfig reads every topic config into the typed config.
func TestEffectiveConfig(t *testing.T) {
	def := config.Default().Log.TopicConfig()
	if want := (config.TopicConfig{
		Cleanup:                config.CleanupPolicy{Delete: true},
		DeleteRetention:        24 * time.Hour,
		MinCleanableDirtyRatio: 0.5,
		Flush:                  config.FlushPolicy{Messages: 1, Interval: 1<<63 - 1},
		IndexIntervalBytes:     4096,
		MaxMessageBytes:        1048588,
		MinInsyncReplicas:      1,
		RetentionBytes:         -1,
		Retention:              7 * 24 * time.Hour,
		SegmentBytes:           1 << 30,
		SegmentAge:             7 * 24 * time.Hour,
		SegmentIndexBytes:      10 << 20,
		Compression:            config.Compression{GzipLevel: -1, LZ4Level: 9, ZstdLevel: 3},
		TimestampBeforeMax:     1<<63 - 1,
		TimestampAfterMax:      time.Hour,
		MaxCompactionLag:       1<<63 - 1,
	}); def != want {
		t.Fatalf("defaults\n got %+v\nwant %+v", def, want)
	}
	top := &Topic{Name: "t", Configs: map[string]string{
		"cleanup.policy":            "compact",
		"delete.retention.ms":       "1",
		"flush.messages":            "10",
		"flush.ms":                  "9223372036854775807",
		"index.interval.bytes":      "100",
		"max.message.bytes":         "2000",
		"message.timestamp.type":    "LogAppendTime",
		"min.cleanable.dirty.ratio": "0.1",
		"min.insync.replicas":       "2",
		"retention.bytes":           "5000",
		"retention.ms":              "-1",
		"segment.bytes":             "1000000",
		"segment.ms":                "60000",

		"compression.type":                        "zstd",
		"compression.gzip.level":                  "5",
		"compression.lz4.level":                   "17",
		"compression.zstd.level":                  "-5",
		"file.delete.delay.ms":                    "0",
		"follower.replication.throttled.replicas": "*",
		"leader.replication.throttled.replicas":   "0:1, 1:2",
		"local.retention.bytes":                   "-2",
		"local.retention.ms":                      "1000",
		"max.compaction.lag.ms":                   "7000",
		"message.timestamp.after.max.ms":          "5000",
		"message.timestamp.before.max.ms":         "6000",
		"min.compaction.lag.ms":                   "3000",
		"preallocate":                             "TRUE",
		"remote.log.copy.disable":                 "true",
		"remote.log.delete.on.disable":            "true",
		"remote.storage.enable":                   "false",
		"segment.index.bytes":                     "4096",
		"segment.jitter.ms":                       "10",
		"unclean.leader.election.enable":          "true",
	}}
	if len(top.Configs) != len(TopicConfigDefs) {
		t.Fatalf("the test sets %d configs of %d", len(top.Configs), len(TopicConfigDefs))
	}
	want := config.TopicConfig{
		Cleanup:                config.CleanupPolicy{Compact: true},
		DeleteRetention:        time.Millisecond,
		MinCleanableDirtyRatio: 0.1,
		Flush:                  config.FlushPolicy{Messages: 10, Interval: 1<<63 - 1},
		IndexIntervalBytes:     100,
		MaxMessageBytes:        2000,
		LogAppendTime:          true,
		MinInsyncReplicas:      2,
		RetentionBytes:         5000,
		Retention:              -time.Millisecond,
		SegmentBytes:           1000000,
		SegmentAge:             time.Minute,
		SegmentIndexBytes:      4096,
		Compression:            config.Compression{Recompress: true, Codec: config.CodecZstd, GzipLevel: 5, LZ4Level: 17, ZstdLevel: -5},
		TimestampBeforeMax:     6 * time.Second,
		TimestampAfterMax:      5 * time.Second,
		MinCompactionLag:       3 * time.Second,
		MaxCompactionLag:       7 * time.Second,
		UncleanLeaderElection:  true,
	}
	if got := top.EffectiveConfig(def); got != want {
		t.Fatalf("overrides\n got %+v\nwant %+v", got, want)
	}
}

// TestTopicConfigDefaults: every topic config of Kafka 4.1, with the
// default Kafka 4.1.1 describes for it (flush.messages is Strom's own,
// docs/compatibility.md#topic-configs).
func TestTopicConfigDefaults(t *testing.T) {
	want := map[string]string{
		"cleanup.policy":                          "delete",
		"compression.gzip.level":                  "-1",
		"compression.lz4.level":                   "9",
		"compression.type":                        "producer",
		"compression.zstd.level":                  "3",
		"delete.retention.ms":                     "86400000",
		"file.delete.delay.ms":                    "60000",
		"flush.messages":                          "1",
		"flush.ms":                                "9223372036854775807",
		"follower.replication.throttled.replicas": "",
		"index.interval.bytes":                    "4096",
		"leader.replication.throttled.replicas":   "",
		"local.retention.bytes":                   "-2",
		"local.retention.ms":                      "-2",
		"max.compaction.lag.ms":                   "9223372036854775807",
		"max.message.bytes":                       "1048588",
		"message.timestamp.after.max.ms":          "3600000",
		"message.timestamp.before.max.ms":         "9223372036854775807",
		"message.timestamp.type":                  "CreateTime",
		"min.cleanable.dirty.ratio":               "0.5",
		"min.compaction.lag.ms":                   "0",
		"min.insync.replicas":                     "1",
		"preallocate":                             "false",
		"remote.log.copy.disable":                 "false",
		"remote.log.delete.on.disable":            "false",
		"remote.storage.enable":                   "false",
		"retention.bytes":                         "-1",
		"retention.ms":                            "604800000",
		"segment.bytes":                           "1073741824",
		"segment.index.bytes":                     "10485760",
		"segment.jitter.ms":                       "0",
		"segment.ms":                              "604800000",
		"unclean.leader.election.enable":          "false",
	}
	if len(want) != len(TopicConfigDefs) {
		t.Errorf("%d configs defined, Kafka 4.1 has %d", len(TopicConfigDefs), len(want))
	}
	for _, d := range TopicConfigDefs {
		if got := d.Default(config.Default().Log); got != want[d.Name] {
			t.Errorf("%s default %q, want %q", d.Name, got, want[d.Name])
		}
		if err := d.Validate(want[d.Name]); err != nil {
			t.Errorf("%s: the default %q does not validate: %v", d.Name, want[d.Name], err)
		}
	}
}

// TestInvalidValueLeavesConfig: a value that does not validate changes
// nothing.
func TestInvalidValueLeavesConfig(t *testing.T) {
	def := config.Default().Log.TopicConfig()
	for _, d := range TopicConfigDefs {
		c := def
		if err := d.set("not-a-value", &c); err == nil {
			t.Errorf("%s accepted %q", d.Name, "not-a-value")
		}
		if c != def {
			t.Errorf("%s: an invalid value changed the config to %+v", d.Name, c)
		}
	}
}

// TestTopicConfigValidation: values Kafka 4.1.1 refuses are refused with
// its message; values it accepts are accepted.
func TestTopicConfigValidation(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"compression.gzip.level", "10", "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{"compression.lz4.level", "18", "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17"},
		{"compression.zstd.level", "23", "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"},
		{"compression.type", "bogus", "Invalid value bogus for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{"max.compaction.lag.ms", "0", "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"},
		{"leader.replication.throttled.replicas", "bogus", "Invalid value [bogus] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{"local.retention.ms", "-3", "Invalid value -3 for configuration local.retention.ms: Value must be at least -2"},
		{"segment.index.bytes", "3", "Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"},
		{"cleanup.policy", "bogus", "Invalid value bogus for configuration cleanup.policy: String must be one of: compact, delete"},
		{"unclean.leader.election.enable", "yes", "Invalid value yes for configuration unclean.leader.election.enable: Expected value to be either true or false"},
		{"retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{"segment.bytes", "13", "Invalid value 13 for configuration segment.bytes: Value must be at least 1048576"},
		{"remote.storage.enable", "true", "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."},
		{"max.message.bytes", "-1", "Invalid value -1 for configuration max.message.bytes: Value must be at least 0"},
		{"segment.jitter.ms", "x", "Invalid value x for configuration segment.jitter.ms: Not a number of type LONG"},
		{"preallocate", "1", "Invalid value 1 for configuration preallocate: Expected value to be either true or false"},
		{"message.timestamp.type", "Bogus", "Invalid value Bogus for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		{"bogus.config", "1", "Unknown topic config name: bogus.config"},
		// Removed in Kafka 4.0: unknown, as on Kafka 4.1.
		{"message.format.version", "3.0", "Unknown topic config name: message.format.version"},
		{"message.downconversion.enable", "true", "Unknown topic config name: message.downconversion.enable"},
		{"message.timestamp.difference.max.ms", "1000", "Unknown topic config name: message.timestamp.difference.max.ms"},
		// Accepted by Kafka 4.1.1.
		{"leader.replication.throttled.replicas", "*", ""},
		{"leader.replication.throttled.replicas", "0:1,1:2", ""},
		{"local.retention.ms", "1000", ""},
		{"retention.bytes", "-5", ""},
		{"cleanup.policy", "", ""},
		{"cleanup.policy", "compact, delete", ""},
	} {
		err := ValidateTopicConfig(tc.name, tc.value)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrUnknownConfig) {
				t.Errorf("%s=%q: %v is neither ErrInvalidConfig nor ErrUnknownConfig", tc.name, tc.value, err)
			}
		}
		if got != tc.want {
			t.Errorf("%s=%q: got %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}
