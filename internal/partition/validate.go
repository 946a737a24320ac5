package partition

// The checks a batch passes on its way into the log, in one place: checkBatch
// here, then Partition.Append under the append lock. A produced batch is
// checked without decompressing it: header, CRC-32C, record count and codec
// (record.Validate), its codec's frame (record.CheckCompressionFrame), the
// produce rules, the topic's max.message.bytes; its records are read only
// when a feature needs them (the keys of a compacted topic). Under the
// append lock, Append checks the producer's epoch and sequence
// (producerState.check) and, for message.timestamp.type=LogAppendTime,
// stamps the batch (a retry keeps its first stamp). Any CreateTime is
// accepted: the timestamp difference limits (message.timestamp.before.max.ms,
// message.timestamp.after.max.ms) are not implemented. The header is parsed
// once, here, and goes down to the log as it is.

import (
	"fmt"

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
)

// checkBatch checks what does not depend on the log: the batch's bytes
// against the topic's config. It returns the batch's header.
func checkBatch(batch []byte, origin Origin, cfg config.TopicConfig) (record.BatchHeader, error) {
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
