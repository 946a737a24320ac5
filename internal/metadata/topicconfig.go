package metadata

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	Name string
	Kind ConfigKind
	// BrokerKey is the broker config (dynamic, cluster-wide) that supplies
	// the default; empty for the configs Kafka gives no broker default
	// (remote storage switches, throttled replicas).
	BrokerKey string
	// Unlisted: Kafka's broker key has no default of its own (log.roll.ms,
	// log.flush.interval.ms, log.retention.ms are derived or null), so
	// DescribeConfigs lists no DEFAULT_CONFIG synonym for it; a static or
	// dynamic broker value is still listed.
	Unlisted bool
	// Default is the node's static default (config.Default() unless the
	// node config sets it), formatted as Kafka formats it.
	Default func(d config.LogDefaults) string
	// Doc is the documentation DescribeConfigs v3+ returns, for the topic
	// config and its broker key.
	Doc string
	// set validates v and stores it in c; c is unchanged when v is invalid.
	// Configs Strom stores without acting on validate only.
	set func(v string, c *config.TopicConfig) error
	// strict is a further check of values a client sends (Kafka's
	// minimum for segment.bytes), not applied to values already stored.
	strict func(v string) error
}

// Validate checks a value of the config as a client's request is checked.
func (d TopicConfigDef) Validate(v string) error {
	if d.strict != nil {
		if err := d.strict(v); err != nil {
			return err
		}
	}
	var c config.TopicConfig
	return d.set(v, &c)
}

const maxInt64 = int64(^uint64(0) >> 1)

// configError is an invalid value, worded as Kafka words it ("Invalid
// value X for configuration NAME: ...").
type configError struct {
	msg string
}

func (e *configError) Error() string { return e.msg }
func (e *configError) Unwrap() error { return ErrInvalidConfig }

func invalid(name, v, why string) error {
	return &configError{fmt.Sprintf("Invalid value %s for configuration %s: %s", v, name, why)}
}

// kindName is the type as Kafka's parse errors name it.
var kindName = map[ConfigKind]string{KindInt: "INT", KindLong: "LONG", KindDouble: "DOUBLE", KindShort: "SHORT"}

// parseRange reads an integer of kind k within [lo, hi], with the messages
// of Kafka's validators.
func parseRange(name, v string, k ConfigKind, lo, hi int64) (int64, error) {
	t := strings.TrimSpace(v)
	bits := 64
	if k == KindInt {
		bits = 32
	}
	n, err := strconv.ParseInt(t, 10, bits)
	if err != nil {
		return 0, invalid(name, v, "Not a number of type "+kindName[k])
	}
	if n < lo {
		return 0, invalid(name, t, fmt.Sprintf("Value must be at least %d", lo))
	}
	if n > hi {
		return 0, invalid(name, t, fmt.Sprintf("Value must be no more than %d", hi))
	}
	return n, nil
}

// Field setters. Each returns the set function of a def; name is filled in
// by the table's init.

type setter func(name string) func(string, *config.TopicConfig) error

func long(lo, hi int64, field func(*config.TopicConfig) *int64) setter {
	return func(name string) func(string, *config.TopicConfig) error {
		return func(v string, c *config.TopicConfig) error {
			n, err := parseRange(name, v, KindLong, lo, hi)
			if err == nil && field != nil {
				*field(c) = n
			}
			return err
		}
	}
}

func int32Field(lo, hi int64, field func(*config.TopicConfig) *int32) setter {
	return func(name string) func(string, *config.TopicConfig) error {
		return func(v string, c *config.TopicConfig) error {
			n, err := parseRange(name, v, KindInt, lo, hi)
			if err == nil && field != nil {
				*field(c) = int32(n)
			}
			return err
		}
	}
}

func intField(lo, hi int64, field func(*config.TopicConfig) *int) setter {
	return func(name string) func(string, *config.TopicConfig) error {
		return func(v string, c *config.TopicConfig) error {
			n, err := parseRange(name, v, KindInt, lo, hi)
			if err == nil && field != nil {
				*field(c) = int(n)
			}
			return err
		}
	}
}

func millis(lo int64, field func(*config.TopicConfig) *time.Duration) setter {
	return func(name string) func(string, *config.TopicConfig) error {
		return func(v string, c *config.TopicConfig) error {
			n, err := parseRange(name, v, KindLong, lo, maxInt64)
			if err == nil && field != nil {
				*field(c) = config.DurationMs(n)
			}
			return err
		}
	}
}

func ratio(lo, hi float64, field func(*config.TopicConfig) *float64) setter {
	return func(name string) func(string, *config.TopicConfig) error {
		return func(v string, c *config.TopicConfig) error {
			t := strings.TrimSpace(v)
			f, err := strconv.ParseFloat(t, 64)
			if err != nil {
				return invalid(name, v, "Not a number of type DOUBLE")
			}
			if f < lo {
				return invalid(name, t, fmt.Sprintf("Value must be at least %v", lo))
			}
			if f > hi {
				return invalid(name, t, fmt.Sprintf("Value must be no more than %v", hi))
			}
			*field(c) = f
			return nil
		}
	}
}

func boolean(field func(*config.TopicConfig) *bool) setter {
	return func(name string) func(string, *config.TopicConfig) error {
		return func(v string, c *config.TopicConfig) error {
			var b bool
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
				b = true
			case "false":
			default:
				return invalid(name, v, "Expected value to be either true or false")
			}
			if field != nil {
				*field(c) = b
			}
			return nil
		}
	}
}

// oneOf accepts one of values (case-sensitive, as Kafka's ValidString).
func oneOf(values []string, store func(v string, c *config.TopicConfig)) setter {
	return func(name string) func(string, *config.TopicConfig) error {
		return func(v string, c *config.TopicConfig) error {
			if !slices.Contains(values, v) {
				return invalid(name, v, "String must be one of: "+strings.Join(values, ", "))
			}
			if store != nil {
				store(v, c)
			}
			return nil
		}
	}
}

// throttledReplicas is Kafka's ThrottledReplicaListValidator: "*" or a
// list of partition:broker pairs.
func throttledReplicas(name string) func(string, *config.TopicConfig) error {
	return func(v string, _ *config.TopicConfig) error {
		var items []string
		for _, it := range strings.Split(v, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		ok := len(items) == 1 && items[0] == "*"
		if !ok {
			ok = true
			for _, it := range items {
				p, b, found := strings.Cut(it, ":")
				if !found || !digits(strings.TrimSpace(p)) || !digits(strings.TrimSpace(b)) {
					ok = false
				}
			}
		}
		if !ok {
			return invalid(name, "["+strings.Join(items, ", ")+"]", name+" must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
		}
		return nil
	}
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func constant(v string) func(config.LogDefaults) string {
	return func(config.LogDefaults) string { return v }
}

// compressionTypes are compression.type's values, in Kafka's order.
var compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

var codecOf = map[string]config.Codec{
	"uncompressed": config.CodecNone, "gzip": config.CodecGzip, "snappy": config.CodecSnappy,
	"lz4": config.CodecLZ4, "zstd": config.CodecZstd,
}

// def is one row of the table before init binds the setter to its name.
type def struct {
	TopicConfigDef
	setter setter
}

// TopicConfigDefs lists every topic config of Apache Kafka 4.1, in
// alphabetical order (DescribeConfigs returns them so). What Strom does
// with each is in docs/compatibility.md#topic-configs.
var TopicConfigDefs = func() []TopicConfigDef {
	rows := []def{
		{TopicConfigDef{Name: "cleanup.policy", Kind: KindList, BrokerKey: "log.cleanup.policy",
			Default: func(d config.LogDefaults) string { return d.CleanupPolicy },
			Doc:     "Retention policy for old log segments: delete (by time or size), compact (keep the latest value per key), or both; empty for neither."},
			func(name string) func(string, *config.TopicConfig) error {
				return func(v string, c *config.TopicConfig) error {
					p, err := config.ParseCleanupPolicy(v)
					if err != nil {
						return invalid(name, v, err.Error())
					}
					c.Cleanup = p
					return nil
				}
			}},
		{TopicConfigDef{Name: "compression.gzip.level", Kind: KindInt, BrokerKey: "compression.gzip.level",
			Default: constant("-1"), Doc: "Level of gzip when the broker compresses batches (compression.type=gzip): 1 to 9, or -1 for the codec's default."},
			func(name string) func(string, *config.TopicConfig) error {
				return func(v string, c *config.TopicConfig) error {
					n, err := parseRange(name, v, KindInt, -1<<31, 1<<31-1)
					if err == nil && (n < 1 || n > 9) && n != -1 {
						err = invalid(name, strings.TrimSpace(v), "Value must be between 1 and 9 or equal to -1")
					}
					if err == nil {
						c.Compression.GzipLevel = int(n)
					}
					return err
				}
			}},
		{TopicConfigDef{Name: "compression.lz4.level", Kind: KindInt, BrokerKey: "compression.lz4.level",
			Default: constant("9"), Doc: "Level of lz4 when the broker compresses batches (compression.type=lz4): 1 to 17."},
			intField(1, 17, func(c *config.TopicConfig) *int { return &c.Compression.LZ4Level })},
		{TopicConfigDef{Name: "compression.type", Kind: KindString, BrokerKey: "compression.type",
			Default: constant("producer"), Doc: "Codec of the batches stored: producer keeps each batch as the producer compressed it; any other value recompresses batches with that codec (uncompressed: none)."},
			oneOf(compressionTypes, func(v string, c *config.TopicConfig) {
				c.Compression.Recompress = v != "producer"
				c.Compression.Codec = codecOf[v]
			})},
		{TopicConfigDef{Name: "compression.zstd.level", Kind: KindInt, BrokerKey: "compression.zstd.level",
			Default: constant("3"), Doc: "Level of zstd when the broker compresses batches (compression.type=zstd): -131072 to 22."},
			intField(-131072, 22, func(c *config.TopicConfig) *int { return &c.Compression.ZstdLevel })},
		{TopicConfigDef{Name: "delete.retention.ms", Kind: KindLong, BrokerKey: "log.cleaner.delete.retention.ms",
			Default: func(d config.LogDefaults) string { return i64(d.DeleteRetentionMs) },
			Doc:     "How long a tombstone (a record with a key and no value) of a compacted topic is kept after the compaction that first reached it."},
			millis(0, func(c *config.TopicConfig) *time.Duration { return &c.DeleteRetention })},
		{TopicConfigDef{Name: "file.delete.delay.ms", Kind: KindLong, BrokerKey: "log.segment.delete.delay.ms",
			Default: constant("60000"), Doc: "How long a deleted segment's files are kept before removal (stored; Strom removes them once no reader holds them)."},
			millis(0, nil)},
		{TopicConfigDef{Name: "flush.messages", Kind: KindLong, BrokerKey: "log.flush.interval.messages",
			Default: func(d config.LogDefaults) string { return i64(d.FlushMessages) },
			Doc:     "Number of messages appended to a partition before its log is fsynced; 1 syncs every acknowledged write."},
			long(1, maxInt64, func(c *config.TopicConfig) *int64 { return &c.Flush.Messages })},
		{TopicConfigDef{Name: "flush.ms", Kind: KindLong, BrokerKey: "log.flush.interval.ms", Unlisted: true,
			Default: func(d config.LogDefaults) string { return i64(d.FlushMs) },
			Doc:     "Maximum time a message stays in the log before it is fsynced."},
			millis(0, func(c *config.TopicConfig) *time.Duration { return &c.Flush.Interval })},
		{TopicConfigDef{Name: "follower.replication.throttled.replicas", Kind: KindList,
			Default: constant(""), Doc: "Replicas whose replication is throttled on the follower side: '*' or partition:broker pairs (stored; Strom has no replication quotas)."},
			throttledReplicas},
		{TopicConfigDef{Name: "index.interval.bytes", Kind: KindInt, BrokerKey: "log.index.interval.bytes",
			Default: func(d config.LogDefaults) string { return i64(int64(d.IndexIntervalBytes)) },
			Doc:     "How many bytes of records lie between two entries of the offset index."},
			int32Field(0, 1<<31-1, func(c *config.TopicConfig) *int32 { return &c.IndexIntervalBytes })},
		{TopicConfigDef{Name: "leader.replication.throttled.replicas", Kind: KindList,
			Default: constant(""), Doc: "Replicas whose replication is throttled on the leader side: '*' or partition:broker pairs (stored; Strom has no replication quotas)."},
			throttledReplicas},
		{TopicConfigDef{Name: "local.retention.bytes", Kind: KindLong, BrokerKey: "log.local.retention.bytes",
			Default: constant("-2"), Doc: "With tiered storage, the local part of retention.bytes; -2 for retention.bytes (stored; Strom has no tiered storage)."},
			long(-2, maxInt64, nil)},
		{TopicConfigDef{Name: "local.retention.ms", Kind: KindLong, BrokerKey: "log.local.retention.ms",
			Default: constant("-2"), Doc: "With tiered storage, the local part of retention.ms; -2 for retention.ms (stored; Strom has no tiered storage)."},
			long(-2, maxInt64, nil)},
		{TopicConfigDef{Name: "max.compaction.lag.ms", Kind: KindLong, BrokerKey: "log.cleaner.max.compaction.lag.ms",
			Default: func(d config.LogDefaults) string { return i64(d.MaxCompactionLagMs) },
			Doc:     "Longest time a record stays uncompacted in a compacted topic: a segment whose first record is older makes compaction due whatever the dirty ratio."},
			millis(1, func(c *config.TopicConfig) *time.Duration { return &c.MaxCompactionLag })},
		{TopicConfigDef{Name: "max.message.bytes", Kind: KindInt, BrokerKey: "message.max.bytes",
			Default: func(d config.LogDefaults) string { return i64(int64(d.MaxMessageBytes)) },
			Doc:     "Largest record batch size accepted, after compression."},
			int32Field(0, 1<<31-1, func(c *config.TopicConfig) *int32 { return &c.MaxMessageBytes })},
		{TopicConfigDef{Name: "message.timestamp.after.max.ms", Kind: KindLong, BrokerKey: "log.message.timestamp.after.max.ms",
			Default: func(d config.LogDefaults) string { return i64(d.MessageTimestampAfterMaxMs) },
			Doc:     "How far a CreateTime record's timestamp may lie after the broker's clock; a batch beyond it is refused with INVALID_TIMESTAMP."},
			millis(0, func(c *config.TopicConfig) *time.Duration { return &c.TimestampAfterMax })},
		{TopicConfigDef{Name: "message.timestamp.before.max.ms", Kind: KindLong, BrokerKey: "log.message.timestamp.before.max.ms",
			Default: func(d config.LogDefaults) string { return i64(d.MessageTimestampBeforeMaxMs) },
			Doc:     "How far a CreateTime record's timestamp may lie before the broker's clock; a batch beyond it is refused with INVALID_TIMESTAMP."},
			millis(0, func(c *config.TopicConfig) *time.Duration { return &c.TimestampBeforeMax })},
		{TopicConfigDef{Name: "message.timestamp.type", Kind: KindString, BrokerKey: "log.message.timestamp.type",
			Default: func(d config.LogDefaults) string { return d.MessageTimestampType },
			Doc:     "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime)."},
			oneOf([]string{"CreateTime", "LogAppendTime"}, func(v string, c *config.TopicConfig) { c.LogAppendTime = v == "LogAppendTime" })},
		{TopicConfigDef{Name: "min.cleanable.dirty.ratio", Kind: KindDouble, BrokerKey: "log.cleaner.min.cleanable.ratio",
			Default: func(d config.LogDefaults) string { return strconv.FormatFloat(d.MinCleanableDirtyRatio, 'g', -1, 64) },
			Doc:     "Share of a compacted log's cleanable bytes not yet compacted above which compaction runs."},
			ratio(0, 1, func(c *config.TopicConfig) *float64 { return &c.MinCleanableDirtyRatio })},
		{TopicConfigDef{Name: "min.compaction.lag.ms", Kind: KindLong, BrokerKey: "log.cleaner.min.compaction.lag.ms",
			Default: func(d config.LogDefaults) string { return i64(d.MinCompactionLagMs) },
			Doc:     "Shortest time a record stays uncompacted in a compacted topic: segments holding a newer record are not compacted."},
			millis(0, func(c *config.TopicConfig) *time.Duration { return &c.MinCompactionLag })},
		{TopicConfigDef{Name: "min.insync.replicas", Kind: KindInt, BrokerKey: "min.insync.replicas",
			Default: func(d config.LogDefaults) string { return i64(int64(d.MinInsyncReplicas)) },
			Doc:     "Minimum number of in-sync replicas that must acknowledge an acks=all write."},
			int32Field(1, 1<<31-1, func(c *config.TopicConfig) *int32 { return &c.MinInsyncReplicas })},
		{TopicConfigDef{Name: "preallocate", Kind: KindBoolean, BrokerKey: "log.preallocate",
			Default: constant("false"), Doc: "Whether segment files are preallocated when created (stored; Strom grows segments as it appends)."},
			boolean(nil)},
		{TopicConfigDef{Name: "remote.log.copy.disable", Kind: KindBoolean,
			Default: constant("false"), Doc: "With tiered storage, stop copying segments to remote storage (stored; Strom has no tiered storage)."},
			boolean(nil)},
		{TopicConfigDef{Name: "remote.log.delete.on.disable", Kind: KindBoolean,
			Default: constant("false"), Doc: "With tiered storage, delete remote data when tiering is disabled (stored; Strom has no tiered storage)."},
			boolean(nil)},
		{TopicConfigDef{Name: "remote.storage.enable", Kind: KindBoolean,
			Default: constant("false"), Doc: "Tiered storage for the topic; Strom has none, so only false is accepted."},
			func(name string) func(string, *config.TopicConfig) error {
				check := boolean(nil)(name)
				return func(v string, c *config.TopicConfig) error {
					if err := check(v, c); err != nil {
						return err
					}
					if strings.EqualFold(strings.TrimSpace(v), "true") {
						return &configError{"Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."}
					}
					return nil
				}
			}},
		{TopicConfigDef{Name: "retention.bytes", Kind: KindLong, BrokerKey: "log.retention.bytes",
			Default: func(d config.LogDefaults) string { return i64(d.RetentionBytes) },
			Doc:     "Maximum size a partition's log may reach before old segments are deleted; negative for no limit."},
			long(-1<<63, maxInt64, func(c *config.TopicConfig) *int64 { return &c.RetentionBytes })},
		{TopicConfigDef{Name: "retention.ms", Kind: KindLong, BrokerKey: "log.retention.ms", Unlisted: true,
			Default: func(d config.LogDefaults) string { return i64(d.RetentionMs) },
			Doc:     "Maximum age of a log segment before it is deleted; -1 for no limit."},
			millis(-1, func(c *config.TopicConfig) *time.Duration { return &c.Retention })},
		{TopicConfigDef{Name: "segment.bytes", Kind: KindInt, BrokerKey: "log.segment.bytes",
			Default: func(d config.LogDefaults) string { return i64(d.SegmentBytes) },
			Doc:     "Size at which a log segment is closed and a new one started.",
			strict: func(v string) error {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
				if err == nil && n < minSegmentBytes {
					return invalid("segment.bytes", strings.TrimSpace(v), fmt.Sprintf("Value must be at least %d", minSegmentBytes))
				}
				return nil
			}},
			func(name string) func(string, *config.TopicConfig) error {
				return long(14, 1<<31-1, func(c *config.TopicConfig) *int64 { return &c.SegmentBytes })(name)
			}},
		{TopicConfigDef{Name: "segment.index.bytes", Kind: KindInt, BrokerKey: "log.index.size.max.bytes",
			Default: func(d config.LogDefaults) string { return i64(int64(d.SegmentIndexBytes)) },
			Doc:     "Largest size of a segment's offset and time indexes; a segment whose index is full is rolled."},
			int32Field(4, 1<<31-1, func(c *config.TopicConfig) *int32 { return &c.SegmentIndexBytes })},
		{TopicConfigDef{Name: "segment.jitter.ms", Kind: KindLong, BrokerKey: "log.roll.jitter.ms", Unlisted: true,
			Default: constant("0"), Doc: "Random time subtracted from segment.ms so that segments do not all roll at once (stored; Strom rolls at segment.ms)."},
			millis(0, nil)},
		{TopicConfigDef{Name: "segment.ms", Kind: KindLong, BrokerKey: "log.roll.ms", Unlisted: true,
			Default: func(d config.LogDefaults) string { return i64(d.SegmentMs) },
			Doc:     "Age at which a log segment is closed and a new one started, even if not full."},
			millis(1, func(c *config.TopicConfig) *time.Duration { return &c.SegmentAge })},
		{TopicConfigDef{Name: "unclean.leader.election.enable", Kind: KindBoolean, BrokerKey: "unclean.leader.election.enable",
			Default: constant("false"), Doc: "Whether a replica outside the ISR may become leader when no in-sync replica is alive, at the cost of losing acknowledged records."},
			boolean(func(c *config.TopicConfig) *bool { return &c.UncleanLeaderElection })},
	}
	out := make([]TopicConfigDef, len(rows))
	for i, r := range rows {
		out[i] = r.TopicConfigDef
		out[i].set = r.setter(r.Name)
	}
	return out
}()

// minSegmentBytes is Kafka 4.1's least segment.bytes a client may set
// (1 MiB); values below it stored earlier still apply.
const minSegmentBytes = 1 << 20

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
		return &unknownConfigError{name}
	}
	return d.Validate(value)
}

// unknownConfigError is a name Kafka 4.1 does not define (including those
// it removed), worded as Kafka words it.
type unknownConfigError struct{ name string }

func (e *unknownConfigError) Error() string { return "Unknown topic config name: " + e.name }
func (e *unknownConfigError) Unwrap() error { return ErrUnknownConfig }

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

// UncleanLeaderElection reports whether t may elect a leader outside its
// ISR: its unclean.leader.election.enable, else the cluster-wide dynamic
// default, else false. It reads only the image (no node's static config),
// so every node's controller decides the same.
func (im *Image) UncleanLeaderElection(t *Topic) bool {
	v, ok := t.Configs["unclean.leader.election.enable"]
	if !ok {
		v = im.BrokerConfigs["unclean.leader.election.enable"]
	}
	return strings.EqualFold(strings.TrimSpace(v), "true")
}
