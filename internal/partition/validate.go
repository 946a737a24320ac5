package partition

// The checks a batch passes on its way into the log, in one place: checkBatch
// here, then Partition.Append under the append lock. A produced batch is
// checked without decompressing it: header, CRC-32C, record count and codec
// (record.Validate), its codec's frame (record.CheckCompressionFrame), the
// produce rules, the topic's max.message.bytes; its records are read only
// when a feature needs them (the keys of a compacted topic; a codec other
// than the topic's compression.type, which Append recompresses before the
// append lock, see recompress). Under the
// append lock, Append checks the producer's epoch and sequence
// (producerState.check) and, for message.timestamp.type=LogAppendTime,
// stamps the batch (a retry keeps its first stamp). On a CreateTime topic
// the batch's timestamps must lie within message.timestamp.before.max.ms
// and after.max.ms of the broker's clock; the check reads the header's
// first and max timestamps, and the records only to name the offending
// ones in a refusal (so a record older than the batch's first one, a
// negative timestamp delta, is not checked: producers write deltas from
// the first record's time). The header is parsed once, here, and goes
// down to the log as it is (or as Recompress returns it with the copy).

import (
	"fmt"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/record"
)

// Origin is who wrote a batch, as Kafka's AppendOrigin: it decides which
// checks apply.
type Origin int8

const (
	// FromClient is a producer's batch: every check applies.
	FromClient Origin = iota
	// FromCoordinator is a batch a coordinator of this broker built (the
	// group coordinator's records in __consumer_offsets): only its framing
	// and CRC are checked, and the producer state.
	FromCoordinator
)

// Errors of the produce checks found before the log is looked at (defined
// in errcode, which gives their Kafka codes; the checks also return the
// errors of record and producers.go).
var (
	// ErrInvalidRecord is a batch that breaks a produce rule (INVALID_RECORD):
	// not exactly one batch, no records, a control batch, a record without a
	// key for a compacted topic. record.ErrInvalidRecord is a header that
	// contradicts itself.
	ErrInvalidRecord = errcode.ErrInvalidRecord
	// ErrRecordTooLarge is a batch over max.message.bytes (MESSAGE_TOO_LARGE).
	ErrRecordTooLarge = errcode.ErrRecordTooLarge
	// ErrInvalidTimestamp is a record timestamp outside the topic's
	// limits (INVALID_TIMESTAMP); the error is a *TimestampError.
	ErrInvalidTimestamp = errcode.ErrInvalidTimestamp
)

// TimestampError refuses a batch for its records' timestamps, naming each
// offending record as Kafka's produce response does (record_errors).
type TimestampError struct {
	Records []RecordError
}

// RecordError is one refused record: its index in the batch and why.
type RecordError struct {
	Index   int32
	Message string
}

// Error is Kafka's message for the whole batch; Records say which.
func (e *TimestampError) Error() string {
	return "One or more records have been rejected due to invalid timestamp"
}

func (e *TimestampError) Unwrap() error { return ErrInvalidTimestamp }

// checkTimestamps applies message.timestamp.before.max.ms and
// after.max.ms to a CreateTime batch.
func checkTimestamps(batch []byte, h record.BatchHeader, cfg config.TopicConfig, now time.Time) error {
	if cfg.LogAppendTime {
		return nil
	}
	nowMs := now.UnixMilli()
	lo, hi := satSub(nowMs, cfg.TimestampBeforeMax.Milliseconds()), satAdd(nowMs, cfg.TimestampAfterMax.Milliseconds())
	if h.FirstTimestamp >= lo && h.MaxTimestamp <= hi {
		return nil
	}
	te := &TimestampError{}
	var i int32
	_ = record.Records(batch, func(r record.Record) error {
		ts := h.FirstTimestamp + r.TimestampDelta
		if ts < lo || ts > hi {
			te.Records = append(te.Records, RecordError{Index: i, Message: fmt.Sprintf(
				"Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]", ts, r.OffsetDelta, lo, hi)})
		}
		i++
		return nil
	})
	if len(te.Records) == 0 { // the header's bounds, when the records say nothing more
		te.Records = append(te.Records, RecordError{Index: 0, Message: fmt.Sprintf(
			"Timestamps [%d, %d] of the batch are out of range. The timestamp should be within [%d, %d]", h.FirstTimestamp, h.MaxTimestamp, lo, hi)})
	}
	return te
}

func satSub(a, b int64) int64 {
	if b > 0 && a < -1<<63+b {
		return -1 << 63
	}
	return a - b
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > 1<<63-1-b {
		return 1<<63 - 1
	}
	return a + b
}

// checkBatch checks what does not depend on the log: the batch's bytes
// against the topic's config. It returns the batch's header.
func checkBatch(batch []byte, origin Origin, cfg config.TopicConfig, now time.Time) (record.BatchHeader, error) {
	if len(batch) == 0 {
		return record.BatchHeader{}, fmt.Errorf("%w: no record batch", ErrInvalidRecord)
	}
	h, err := record.Validate(batch)
	if err != nil {
		return h, err
	}
	if origin == FromCoordinator {
		if h.TotalSize() != len(batch) {
			return h, fmt.Errorf("%w: %d bytes hold a batch of %d", ErrInvalidRecord, len(batch), h.TotalSize())
		}
		return h, nil
	}
	if err := record.CheckCompressionFrame(batch, h); err != nil {
		return h, err
	}
	if h.TotalSize() != len(batch) {
		return h, fmt.Errorf("%w: produce requests must contain exactly one record batch per partition", ErrInvalidRecord)
	}
	if h.NumRecords == 0 {
		return h, fmt.Errorf("%w: empty record batch", ErrInvalidRecord)
	}
	if h.IsControl() {
		return h, fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
	}
	// A transactional batch names its producer; whether its transaction
	// may go on is producer state, checked under the append lock with the
	// sequence (producerState.check).
	if h.IsTransactional() && (h.ProducerID < 0 || h.ProducerEpoch < 0) {
		return h, fmt.Errorf("%w: transactional batch without a producer id and epoch", ErrInvalidRecord)
	}
	if max := cfg.MaxMessageBytes; len(batch) > int(max) {
		return h, fmt.Errorf("%w: %d bytes exceeds max.message.bytes %d", ErrRecordTooLarge, len(batch), max)
	}
	if err := checkTimestamps(batch, h, cfg, now); err != nil {
		return h, err
	}
	if cfg.Cleanup.Compact {
		// The one check that needs the records themselves: a compacted
		// topic keeps the latest record per key, so it refuses records
		// without one, as Kafka does.
		if err := record.Records(batch, func(r record.Record) error {
			if r.Key == nil {
				return fmt.Errorf("%w: compacted topic cannot accept message without key", ErrInvalidRecord)
			}
			return nil
		}); err != nil {
			return h, err
		}
	}
	return h, nil
}

// recompress stores a batch with the topic's codec when compression.type
// is not producer and the batch has another one, as Kafka does; the copy
// keeps the header's offsets, timestamps and producer fields, so the
// idempotent-producer checks and offset assignment that follow see the
// batch the producer sent. The copy must still fit max.message.bytes.
func recompress(batch []byte, h record.BatchHeader, cfg config.TopicConfig) ([]byte, record.BatchHeader, error) {
	c := cfg.Compression
	codec := record.Codec(c.Codec)
	if !c.Recompress || h.Codec() == codec {
		return batch, h, nil
	}
	level := 0
	switch c.Codec {
	case config.CodecGzip:
		level = c.GzipLevel
	case config.CodecLZ4:
		level = c.LZ4Level
	case config.CodecZstd:
		level = c.ZstdLevel
	}
	nb, nh, err := record.Recompress(batch, h, codec, level)
	if err != nil {
		return batch, h, err
	}
	if len(nb) > int(cfg.MaxMessageBytes) {
		return batch, h, fmt.Errorf("%w: %d bytes recompressed with %v exceeds max.message.bytes %d", ErrRecordTooLarge, len(nb), codec, cfg.MaxMessageBytes)
	}
	return nb, nh, nil
}
