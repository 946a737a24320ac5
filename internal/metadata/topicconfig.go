package metadata

import (
	"fmt"
	"strconv"
	"time"

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

// TopicConfigDef describes one topic-level config: its type, its
// documentation, the broker-level key and value it falls back to, and how a
// value is validated and read into the typed config.
type TopicConfigDef struct {
	Name      string
	Kind      ConfigKind
	BrokerKey string // the broker config (dynamic, cluster-wide) that supplies the default
	// Default is the node's static default (config.Default() unless the
	// node config sets it), formatted as Kafka formats it.
	Default func(d config.LogDefaults) string
	// Doc is the documentation DescribeConfigs v3+ returns, for the topic
	// config and its broker key; empty for none.
	Doc string
	// set validates v and stores it in c; c is unchanged when v is invalid.
	set func(v string, c *config.TopicConfig) error
}

// Validate checks a value of the config.
func (d TopicConfigDef) Validate(v string) error {
	var c config.TopicConfig
	return d.set(v, &c)
}

const maxInt64 = int64(^uint64(0) >> 1)

func parseRange(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an integer", ErrInvalidConfig, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%w: %d out of range [%d, %d]", ErrInvalidConfig, n, lo, hi)
	}
	return n, nil
}

// long, int32Field and millis read an integer in [lo, hi] into a field.
func long(lo, hi int64, field func(*config.TopicConfig) *int64) func(string, *config.TopicConfig) error {
	return func(v string, c *config.TopicConfig) error {
		n, err := parseRange(v, lo, hi)
		if err == nil {
			*field(c) = n
		}
		return err
	}
}

func int32Field(lo, hi int64, field func(*config.TopicConfig) *int32) func(string, *config.TopicConfig) error {
	return func(v string, c *config.TopicConfig) error {
		n, err := parseRange(v, lo, hi)
		if err == nil {
			*field(c) = int32(n)
		}
		return err
	}
}

func millis(lo, hi int64, field func(*config.TopicConfig) *time.Duration) func(string, *config.TopicConfig) error {
	return func(v string, c *config.TopicConfig) error {
		n, err := parseRange(v, lo, hi)
		if err == nil {
			*field(c) = config.DurationMs(n)
		}
		return err
	}
}

func ratio(lo, hi float64, field func(*config.TopicConfig) *float64) func(string, *config.TopicConfig) error {
	return func(v string, c *config.TopicConfig) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%w: %q is not a number", ErrInvalidConfig, v)
		}
		if f < lo || f > hi {
			return fmt.Errorf("%w: %v out of range [%v, %v]", ErrInvalidConfig, f, lo, hi)
		}
		*field(c) = f
		return nil
	}
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// TopicConfigDefs lists the topic configs Strom understands, in the order
// DescribeConfigs returns them.
var TopicConfigDefs = []TopicConfigDef{
	{
		Name: "cleanup.policy", Kind: KindList, BrokerKey: "log.cleanup.policy",
		Default: func(d config.LogDefaults) string { return d.CleanupPolicy },
		Doc:     "Retention policy for old log segments: delete (by time or size), compact (keep the latest value per key), or both.",
		set: func(v string, c *config.TopicConfig) error {
			p, err := config.ParseCleanupPolicy(v)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
			}
			c.Cleanup = p
			return nil
		},
	},
	{
		Name: "delete.retention.ms", Kind: KindLong, BrokerKey: "log.cleaner.delete.retention.ms",
		Default: func(d config.LogDefaults) string { return i64(d.DeleteRetentionMs) },
		set:     millis(0, maxInt64, func(c *config.TopicConfig) *time.Duration { return &c.DeleteRetention }),
	},
	{
		Name: "flush.messages", Kind: KindLong, BrokerKey: "log.flush.interval.messages",
		Default: func(d config.LogDefaults) string { return i64(d.FlushMessages) },
		Doc:     "Number of messages appended to a partition before its log is fsynced; 1 syncs every acknowledged write.",
		set:     long(1, maxInt64, func(c *config.TopicConfig) *int64 { return &c.Flush.Messages }),
	},
	{
		Name: "flush.ms", Kind: KindLong, BrokerKey: "log.flush.interval.ms",
		Default: func(d config.LogDefaults) string { return i64(d.FlushMs) },
		Doc:     "Maximum time a message stays in the log before it is fsynced.",
		set:     millis(0, maxInt64, func(c *config.TopicConfig) *time.Duration { return &c.Flush.Interval }),
	},
	{
		Name: "index.interval.bytes", Kind: KindInt, BrokerKey: "log.index.interval.bytes",
		Default: func(d config.LogDefaults) string { return i64(int64(d.IndexIntervalBytes)) },
		Doc:     "How many bytes of records lie between two entries of the offset index.",
		set:     int32Field(0, 1<<31-1, func(c *config.TopicConfig) *int32 { return &c.IndexIntervalBytes }),
	},
	{
		Name: "max.message.bytes", Kind: KindInt, BrokerKey: "message.max.bytes",
		Default: func(d config.LogDefaults) string { return i64(int64(d.MaxMessageBytes)) },
		Doc:     "Largest record batch size accepted, after compression.",
		set:     int32Field(0, 1<<31-1, func(c *config.TopicConfig) *int32 { return &c.MaxMessageBytes }),
	},
	{
		Name: "message.timestamp.type", Kind: KindString, BrokerKey: "log.message.timestamp.type",
		Default: func(d config.LogDefaults) string { return d.MessageTimestampType },
		Doc:     "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
		set: func(v string, c *config.TopicConfig) error {
			if v != "CreateTime" && v != "LogAppendTime" {
				return fmt.Errorf("%w: %q is not one of [CreateTime LogAppendTime]", ErrInvalidConfig, v)
			}
			c.LogAppendTime = v == "LogAppendTime"
			return nil
		},
	},
	{
		Name: "min.cleanable.dirty.ratio", Kind: KindDouble, BrokerKey: "log.cleaner.min.cleanable.ratio",
		Default: func(d config.LogDefaults) string { return strconv.FormatFloat(d.MinCleanableDirtyRatio, 'g', -1, 64) },
		set:     ratio(0, 1, func(c *config.TopicConfig) *float64 { return &c.MinCleanableDirtyRatio }),
	},
	{
		Name: "min.insync.replicas", Kind: KindInt, BrokerKey: "min.insync.replicas",
		Default: func(d config.LogDefaults) string { return i64(int64(d.MinInsyncReplicas)) },
		Doc:     "Minimum number of in-sync replicas that must acknowledge an acks=all write.",
		set:     int32Field(1, 1<<31-1, func(c *config.TopicConfig) *int32 { return &c.MinInsyncReplicas }),
	},
	{
		Name: "retention.bytes", Kind: KindLong, BrokerKey: "log.retention.bytes",
		Default: func(d config.LogDefaults) string { return i64(d.RetentionBytes) },
		Doc:     "Maximum size a partition's log may reach before old segments are deleted; -1 for no limit.",
		set:     long(-1, maxInt64, func(c *config.TopicConfig) *int64 { return &c.RetentionBytes }),
	},
	{
		Name: "retention.ms", Kind: KindLong, BrokerKey: "log.retention.ms",
		Default: func(d config.LogDefaults) string { return i64(d.RetentionMs) },
		Doc:     "Maximum age of a log segment before it is deleted; -1 for no limit.",
		set:     millis(-1, maxInt64, func(c *config.TopicConfig) *time.Duration { return &c.Retention }),
	},
	{
		Name: "segment.bytes", Kind: KindInt, BrokerKey: "log.segment.bytes",
		Default: func(d config.LogDefaults) string { return i64(d.SegmentBytes) },
		Doc:     "Size at which a log segment is closed and a new one started.",
		set:     long(14, 1<<31-1, func(c *config.TopicConfig) *int64 { return &c.SegmentBytes }),
	},
	{
		Name: "segment.ms", Kind: KindLong, BrokerKey: "log.roll.ms",
		Default: func(d config.LogDefaults) string { return i64(d.SegmentMs) },
		Doc:     "Age at which a log segment is closed and a new one started, even if not full.",
		set:     millis(1, maxInt64, func(c *config.TopicConfig) *time.Duration { return &c.SegmentAge }),
	},
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

// EffectiveConfig resolves a topic's configuration: its overrides over
// defaults (from Image.TopicDefaults). Values were validated when stored,
// so none fails to parse; one that did would leave the default in place.
func (t *Topic) EffectiveConfig(defaults config.TopicConfig) config.TopicConfig {
	c := defaults
	for _, d := range TopicConfigDefs {
		if v, ok := t.Configs[d.Name]; ok {
			_ = d.set(v, &c)
		}
	}
	return c
}
