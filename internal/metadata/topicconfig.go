package metadata

import (
	"fmt"
	"strconv"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/errcode"
)

// ErrUnknownConfig and ErrInvalidConfig are returned by ValidateTopicConfig
// (defined in errcode, which maps both to INVALID_CONFIG).
var (
	ErrUnknownConfig = errcode.ErrUnknownConfig
	ErrInvalidConfig = errcode.ErrInvalidConfig
)

// ConfigKind is the value type of a config, as DescribeConfigs v3+ reports it.
type ConfigKind int8

// Values match Kafka's ConfigType (DescribeConfigsResponse ConfigType).
const (
	KindBoolean ConfigKind = 1
	KindString  ConfigKind = 2
	KindInt     ConfigKind = 3
	KindShort   ConfigKind = 4
	KindLong    ConfigKind = 5
	KindDouble  ConfigKind = 6
	KindList    ConfigKind = 7
	KindClass   ConfigKind = 8
)

// TopicConfigDef describes one topic-level config: its type, how it is
// validated, and the broker-level key and value it falls back to.
type TopicConfigDef struct {
	Name      string
	Kind      ConfigKind
	BrokerKey string // the log.* broker config that supplies the default
	Default   func(d config.LogDefaults) string
	Validate  func(v string) error
}

func intRange(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %q is not an integer", ErrInvalidConfig, v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%w: %d out of range [%d, %d]", ErrInvalidConfig, n, lo, hi)
		}
		return nil
	}
}

func floatRange(lo, hi float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%w: %q is not a number", ErrInvalidConfig, v)
		}
		if f < lo || f > hi {
			return fmt.Errorf("%w: %v out of range [%v, %v]", ErrInvalidConfig, f, lo, hi)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, ok := range vals {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("%w: %q is not one of %v", ErrInvalidConfig, v, vals)
	}
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

const maxInt64 = int64(^uint64(0) >> 1)

// TopicConfigDefs lists the topic configs Strom understands, in the order
// DescribeConfigs returns them.
var TopicConfigDefs = []TopicConfigDef{
	{"cleanup.policy", KindList, "log.cleanup.policy", func(d config.LogDefaults) string { return d.CleanupPolicy }, oneOf("delete", "compact", "compact,delete", "delete,compact")},
	{"delete.retention.ms", KindLong, "log.cleaner.delete.retention.ms", func(d config.LogDefaults) string { return i64(d.DeleteRetentionMs) }, intRange(0, maxInt64)},
	{"flush.messages", KindLong, "log.flush.interval.messages", func(d config.LogDefaults) string { return i64(d.FlushMessages) }, intRange(1, maxInt64)},
	{"flush.ms", KindLong, "log.flush.interval.ms", func(d config.LogDefaults) string { return i64(d.FlushMs) }, intRange(0, maxInt64)},
	{"index.interval.bytes", KindInt, "log.index.interval.bytes", func(d config.LogDefaults) string { return i64(int64(d.IndexIntervalBytes)) }, intRange(0, 1<<31-1)},
	{"max.message.bytes", KindInt, "message.max.bytes", func(d config.LogDefaults) string { return i64(int64(d.MaxMessageBytes)) }, intRange(0, 1<<31-1)},
	{"message.timestamp.type", KindString, "log.message.timestamp.type", func(d config.LogDefaults) string { return d.MessageTimestampType }, oneOf("CreateTime", "LogAppendTime")},
	{"min.cleanable.dirty.ratio", KindDouble, "log.cleaner.min.cleanable.ratio", func(d config.LogDefaults) string { return strconv.FormatFloat(d.MinCleanableDirtyRatio, 'g', -1, 64) }, floatRange(0, 1)},
	{"min.insync.replicas", KindInt, "min.insync.replicas", func(d config.LogDefaults) string { return i64(int64(d.MinInsyncReplicas)) }, intRange(1, 1<<31-1)},
	{"retention.bytes", KindLong, "log.retention.bytes", func(d config.LogDefaults) string { return i64(d.RetentionBytes) }, intRange(-1, maxInt64)},
	{"retention.ms", KindLong, "log.retention.ms", func(d config.LogDefaults) string { return i64(d.RetentionMs) }, intRange(-1, maxInt64)},
	{"segment.bytes", KindInt, "log.segment.bytes", func(d config.LogDefaults) string { return i64(d.SegmentBytes) }, intRange(14, 1<<31-1)},
	{"segment.ms", KindLong, "log.roll.ms", func(d config.LogDefaults) string { return i64(d.SegmentMs) }, intRange(1, maxInt64)},
}

// LookupTopicConfig returns the definition of a topic config.
func LookupTopicConfig(name string) (TopicConfigDef, bool) {
	for _, d := range TopicConfigDefs {
		if d.Name == name {
			return d, true
		}
	}
	return TopicConfigDef{}, false
}

// ValidateTopicConfig checks one name=value pair.
func ValidateTopicConfig(name, value string) error {
	d, ok := LookupTopicConfig(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownConfig, name)
	}
	if err := d.Validate(value); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func ratio(v string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// LogConfig is a topic's effective configuration, overrides applied over
// broker defaults.
type LogConfig struct {
	CleanupPolicy      string
	DeleteRetentionMs  int64
	MinCleanableRatio  float64
	FlushMessages      int64
	FlushMs            int64
	IndexIntervalBytes int32
	MaxMessageBytes    int32
	LogAppendTime      bool
	MinInsyncReplicas  int32
	RetentionBytes     int64
	RetentionMs        int64
	SegmentBytes       int64
	SegmentMs          int64
}

// Value returns the effective value of a topic config and whether it was
// set on the topic (as opposed to coming from the broker default).
func (t *Topic) Value(d TopicConfigDef, defaults config.LogDefaults) (string, bool) {
	if v, ok := t.Configs[d.Name]; ok {
		return v, true
	}
	return d.Default(defaults), false
}

// EffectiveConfig resolves a topic's configuration. Values were validated
// when stored, so parse errors cannot happen here; a bad value would keep
// the default.
func (t *Topic) EffectiveConfig(defaults config.LogDefaults) LogConfig {
	get := func(name string) string {
		d, _ := LookupTopicConfig(name)
		v, _ := t.Value(d, defaults)
		return v
	}
	num := func(name string) int64 {
		n, _ := strconv.ParseInt(get(name), 10, 64)
		return n
	}
	return LogConfig{
		CleanupPolicy:      get("cleanup.policy"),
		DeleteRetentionMs:  num("delete.retention.ms"),
		MinCleanableRatio:  ratio(get("min.cleanable.dirty.ratio")),
		FlushMessages:      num("flush.messages"),
		FlushMs:            num("flush.ms"),
		IndexIntervalBytes: int32(num("index.interval.bytes")),
		MaxMessageBytes:    int32(num("max.message.bytes")),
		LogAppendTime:      get("message.timestamp.type") == "LogAppendTime",
		MinInsyncReplicas:  int32(num("min.insync.replicas")),
		RetentionBytes:     num("retention.bytes"),
		RetentionMs:        num("retention.ms"),
		SegmentBytes:       num("segment.bytes"),
		SegmentMs:          num("segment.ms"),
	}
}
