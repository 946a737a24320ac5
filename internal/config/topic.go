package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// TopicConfig is a topic's effective configuration, typed: what the produce
// path, the partition and its log act on. metadata resolves it once per
// metadata image (Image.TopicDefaults, Topic.EffectiveConfig) from the
// node's LogDefaults, the cluster-wide dynamic broker defaults and the
// topic's overrides; nothing below metadata parses a config string.
//
// Durations come from Kafka's *.ms values through DurationMs, which
// saturates: Long.MAX_VALUE milliseconds, Kafka's "never", is far beyond
// what a time.Duration holds.
type TopicConfig struct {
	Cleanup                CleanupPolicy // cleanup.policy
	DeleteRetention        time.Duration // delete.retention.ms: how long a tombstone outlives its first compaction
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio: compact when this much of the log is dirty
	Flush                  FlushPolicy   // flush.messages, flush.ms
	IndexIntervalBytes     int32         // index.interval.bytes: bytes between offset index entries
	MaxMessageBytes        int32         // max.message.bytes: the largest batch accepted, compressed
	LogAppendTime          bool          // message.timestamp.type is LogAppendTime: the broker stamps batches
	MinInsyncReplicas      int32         // min.insync.replicas: the ISR an acks=all write needs
	RetentionBytes         int64         // retention.bytes; negative: unlimited
	Retention              time.Duration // retention.ms; negative: unlimited
	SegmentBytes           int64         // segment.bytes: roll before a segment exceeds this
	SegmentAge             time.Duration // segment.ms: roll a segment this old
	SegmentIndexBytes      int32         // segment.index.bytes: roll when an index reaches this

	Compression Compression // compression.type and the codecs' levels: how appended batches are (re)compressed

	// message.timestamp.before.max.ms / after.max.ms: how far a CreateTime
	// record's timestamp may lie before or after the broker's clock.
	TimestampBeforeMax time.Duration
	TimestampAfterMax  time.Duration

	MinCompactionLag time.Duration // min.compaction.lag.ms: a record stays uncompacted at least this long
	MaxCompactionLag time.Duration // max.compaction.lag.ms: a dirty record is compacted within this long

	UncleanLeaderElection bool // unclean.leader.election.enable: elect outside the ISR when no ISR member is alive
}

// Codec is a batch compression codec, numbered as in a batch's attributes.
type Codec int8

// Codecs, as Kafka numbers them.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// Compression is compression.type with the level of each codec.
type Compression struct {
	// Recompress is false for compression.type=producer, the default
	// (and the zero value): batches are kept as the producer compressed
	// them; true stores every appended batch compressed with Codec.
	Recompress bool
	Codec      Codec
	GzipLevel  int // compression.gzip.level: 1-9, or -1 for the codec's default
	LZ4Level   int // compression.lz4.level: 1-17
	ZstdLevel  int // compression.zstd.level
}

// Kafka's codec levels when none is set.
const (
	DefaultGzipLevel = -1
	DefaultLZ4Level  = 9
	DefaultZstdLevel = 3
)

// CleanupPolicy is cleanup.policy: delete old segments by retention time
// and size, compact to the latest record per key, or both.
type CleanupPolicy struct {
	Delete  bool
	Compact bool
}

// ParseCleanupPolicy reads cleanup.policy as Kafka validates it: a
// comma-separated list of delete and compact (blanks around items
// ignored). An empty list, which Kafka 4.1 accepts, is neither: segments
// are never deleted nor compacted.
func ParseCleanupPolicy(v string) (CleanupPolicy, error) {
	var p CleanupPolicy
	if strings.TrimSpace(v) == "" {
		return p, nil
	}
	for _, item := range strings.Split(v, ",") {
		switch strings.TrimSpace(item) {
		case "delete":
			p.Delete = true
		case "compact":
			p.Compact = true
		default:
			return CleanupPolicy{}, fmt.Errorf("String must be one of: compact, delete")
		}
	}
	return p, nil
}

// FlushPolicy is when a partition fdatasyncs its log.
type FlushPolicy struct {
	// Messages is flush.messages: sync once this many messages are
	// unsynced. 1 (or less) syncs every acknowledged write before the
	// acknowledgement: the high watermark only covers synced data.
	Messages int64
	// Interval is flush.ms: sync once this long passed since the last
	// sync. Only used when Messages > 1.
	Interval time.Duration
}

// SyncOnAck reports whether acknowledged writes must be on disk first
// (flush.messages=1, Strom's default), with concurrent writes sharing one
// sync.
func (f FlushPolicy) SyncOnAck() bool { return f.Messages <= 1 }

// DurationMs converts a Kafka milliseconds value to a time.Duration,
// saturating at the limits of time.Duration (about 292 years).
func DurationMs(ms int64) time.Duration {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	switch {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// TopicConfig is the typed form of the node's topic config defaults. The
// two string keys are not validated at start-up; they are read as Strom
// always has: compaction when cleanup_policy mentions compact, deletion
// by retention unless it is exactly "compact", LogAppendTime only for
// exactly "LogAppendTime".
func (d LogDefaults) TopicConfig() TopicConfig {
	return TopicConfig{
		Cleanup: CleanupPolicy{
			Delete:  d.CleanupPolicy != "compact",
			Compact: strings.Contains(d.CleanupPolicy, "compact"),
		},
		DeleteRetention:        DurationMs(d.DeleteRetentionMs),
		MinCleanableDirtyRatio: d.MinCleanableDirtyRatio,
		Flush:                  FlushPolicy{Messages: d.FlushMessages, Interval: DurationMs(d.FlushMs)},
		IndexIntervalBytes:     d.IndexIntervalBytes,
		MaxMessageBytes:        d.MaxMessageBytes,
		LogAppendTime:          d.MessageTimestampType == "LogAppendTime",
		MinInsyncReplicas:      d.MinInsyncReplicas,
		RetentionBytes:         d.RetentionBytes,
		Retention:              DurationMs(d.RetentionMs),
		SegmentBytes:           d.SegmentBytes,
		SegmentAge:             DurationMs(d.SegmentMs),
		SegmentIndexBytes:      d.SegmentIndexBytes,
		Compression: Compression{
			GzipLevel: DefaultGzipLevel, LZ4Level: DefaultLZ4Level, ZstdLevel: DefaultZstdLevel,
		},
		TimestampBeforeMax: DurationMs(d.MessageTimestampBeforeMaxMs),
		TimestampAfterMax:  DurationMs(d.MessageTimestampAfterMaxMs),
		MinCompactionLag:   DurationMs(d.MinCompactionLagMs),
		MaxCompactionLag:   DurationMs(d.MaxCompactionLagMs),
	}
}
