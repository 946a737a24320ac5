package metadata

import (
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
		SegmentIndexBytes:      10 << 20,
	}
	if got := top.EffectiveConfig(def); got != want {
		t.Fatalf("overrides\n got %+v\nwant %+v", got, want)
	}
}

// TestTopicConfigDefaults: the defaults DescribeConfigs reports are
// config.Default()'s, formatted as Kafka formats them.
func TestTopicConfigDefaults(t *testing.T) {
	want := map[string]string{
		"cleanup.policy":            "delete",
		"delete.retention.ms":       "86400000",
		"flush.messages":            "1",
		"flush.ms":                  "9223372036854775807",
		"index.interval.bytes":      "4096",
		"max.message.bytes":         "1048588",
		"message.timestamp.type":    "CreateTime",
		"min.cleanable.dirty.ratio": "0.5",
		"min.insync.replicas":       "1",
		"retention.bytes":           "-1",
		"retention.ms":              "604800000",
		"segment.bytes":             "1073741824",
		"segment.ms":                "604800000",
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
