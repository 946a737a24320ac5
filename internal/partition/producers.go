package partition

import (
	"fmt"
	"math"

	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/record"
)

// Errors from the idempotent-producer checks (defined in errcode, which
// maps them to OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH).
var (
	ErrOutOfOrderSequence   = errcode.ErrOutOfOrderSequence
	ErrInvalidProducerEpoch = errcode.ErrInvalidProducerEpoch
)

// dedupWindow is how many recent batches per producer are remembered to
// answer retries with their original offsets; Kafka keeps five, matching
// max.in.flight.requests.per.connection=5 for idempotent producers.
const dedupWindow = 5

type batchMeta struct {
	firstSeq, lastSeq int32
	firstOffset       int64
	lastOffset        int64
	timestamp         int64
}

// producerEntry is what a partition knows of one producer id.
type producerEntry struct {
	epoch   int16
	batches [dedupWindow]batchMeta // ring, newest at (next-1)%dedupWindow
	n       int                    // batches held, <= dedupWindow
	next    int
}

func (e *producerEntry) last() *batchMeta {
	if e.n == 0 {
		return nil
	}
	return &e.batches[(e.next+dedupWindow-1)%dedupWindow]
}

func (e *producerEntry) add(m batchMeta) {
	e.batches[e.next] = m
	e.next = (e.next + 1) % dedupWindow
	if e.n < dedupWindow {
		e.n++
	}
}

func (e *producerEntry) findDuplicate(firstSeq, lastSeq int32) (batchMeta, bool) {
	for i := 0; i < e.n; i++ {
		m := e.batches[i]
		if m.firstSeq == firstSeq && m.lastSeq == lastSeq {
			return m, true
		}
	}
	return batchMeta{}, false
}

// lastSeqOf is the sequence of the last record of a batch, wrapping at
// MaxInt32 as Kafka's DefaultRecordBatch.incrementSequence does.
func lastSeqOf(h record.BatchHeader) int32 {
	if int64(h.BaseSequence)+int64(h.LastOffsetDelta) > math.MaxInt32 {
		return int32(int64(h.BaseSequence) + int64(h.LastOffsetDelta) - math.MaxInt32 - 1)
	}
	return h.BaseSequence + h.LastOffsetDelta
}

func inSequence(lastSeq, nextSeq int32) bool {
	return nextSeq == lastSeq+1 || (nextSeq == 0 && lastSeq == math.MaxInt32)
}

// producerState tracks idempotent producers of one partition. Guarded by
// the partition's append lock.
type producerState map[int64]*producerEntry

// check validates a batch against the producer's state, following Kafka's
// ProducerAppendInfo. It returns the original batch when the batch is a
// retry of one already appended. Transactions add their checks here, under
// the same lock: a transactional batch needs a transaction of the
// producer's epoch in progress (or starts one), a non-transactional one
// none.
func (s producerState) check(h record.BatchHeader) (dup batchMeta, isDup bool, err error) {
	if h.ProducerID < 0 {
		return batchMeta{}, false, nil
	}
	e, ok := s[h.ProducerID]
	if !ok {
		// An unknown producer (new, or its state expired) may start at
		// any sequence, as in Kafka.
		return batchMeta{}, false, nil
	}
	if h.ProducerEpoch < e.epoch {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if h.ProducerEpoch > e.epoch {
		if h.BaseSequence != 0 {
			return batchMeta{}, false, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return batchMeta{}, false, nil
	}
	if m, ok := e.findDuplicate(h.BaseSequence, lastSeqOf(h)); ok {
		return m, true, nil
	}
	if l := e.last(); l != nil && !inSequence(l.lastSeq, h.BaseSequence) {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d: got sequence %d, expected %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, l.lastSeq+1)
	}
	return batchMeta{}, false, nil
}

// update records an appended batch (h.BaseOffset already assigned).
func (s producerState) update(h record.BatchHeader) {
	if h.ProducerID < 0 || h.IsControl() {
		return
	}
	e, ok := s[h.ProducerID]
	if !ok || h.ProducerEpoch != e.epoch {
		e = &producerEntry{epoch: h.ProducerEpoch}
		s[h.ProducerID] = e
	}
	e.add(batchMeta{firstSeq: h.BaseSequence, lastSeq: lastSeqOf(h), firstOffset: h.BaseOffset, lastOffset: h.LastOffset(), timestamp: h.MaxTimestamp})
}
