package partition

import (
	"fmt"
	"math"

	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/record"
)

// Errors from the producer checks (defined in errcode, which maps them to
// OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE
// and TRANSACTION_COORDINATOR_FENCED).
var (
	ErrOutOfOrderSequence   = errcode.ErrOutOfOrderSequence
	ErrInvalidProducerEpoch = errcode.ErrInvalidProducerEpoch
	// ErrTxnState: a plain batch from a producer inside a transaction, or
	// a transactional batch starting a transaction the coordinator did not
	// verify (KIP-890).
	ErrTxnState = errcode.ErrPartitionTxnState
	// ErrCoordinatorFenced: a marker from an older coordinator epoch.
	ErrCoordinatorFenced = errcode.ErrMarkerCoordinatorFenced
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

	// Transactions (Kafka's ProducerStateEntry): the coordinator epoch of
	// the last marker, and the first offset of the transaction in
	// progress on this partition, -1 when none.
	coordinatorEpoch int32
	txnFirst         int64
	lastTimestamp    int64 // of its last batch or marker
}

func newEntry(epoch int16) *producerEntry {
	return &producerEntry{epoch: epoch, coordinatorEpoch: -1, txnFirst: -1, lastTimestamp: -1}
}

// setEpoch moves the entry to epoch; a new epoch forgets the batches of
// the old one (their sequences restart), as Kafka's maybeUpdateProducerEpoch.
func (e *producerEntry) setEpoch(epoch int16) {
	if epoch != e.epoch {
		e.epoch, e.n, e.next = epoch, 0, 0
	}
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

// producerState tracks the idempotent and transactional producers of one
// partition, following Kafka's ProducerStateManager. Guarded by the
// partition's append lock.
type producerState struct {
	entries map[int64]*producerEntry
	// ongoing maps each producer with a transaction in progress to its
	// first offset: what bounds the last stable offset.
	ongoing map[int64]int64
	// verifying holds the KIP-890 verification guard of producers whose
	// first transactional write the coordinator is being asked about;
	// cleared by the write it guards and by any marker of the producer.
	verifying map[int64]verifyGuard
	nextGuard uint64
}

// verifyGuard ties a verified append to the verification it followed: a
// marker in between clears it, and the late write is refused.
type verifyGuard struct {
	token uint64
	epoch int16
}

func newProducerState() *producerState {
	return &producerState{entries: map[int64]*producerEntry{}, ongoing: map[int64]int64{}, verifying: map[int64]verifyGuard{}}
}

// txnEvent is what an appended batch did to the transactions of the
// partition: started one (a first transactional batch) or ended one (a
// marker of a producer with a transaction in progress).
type txnEvent struct {
	kind       txnEventKind
	producerID int64
	first      int64 // first offset of the transaction
	marker     int64 // offset of the marker (ended)
	abort      bool
	// lastStable is the offset below which everything is decided once the
	// transaction ended: the first offset of the earliest other open
	// transaction, or the offset after the marker (the aborted index's
	// LastStableOffset, Kafka's ProducerStateManager.lastStableOffset).
	lastStable int64
}

type txnEventKind uint8

const (
	txnNone txnEventKind = iota
	txnStarted
	txnEnded
)

// check validates a data batch from a producer against its state,
// following Kafka's ProducerAppendInfo. It returns the original batch when
// the batch is a retry of one already appended. guard is the token of a
// KIP-890 verification the caller did for this batch (0: none). A batch a
// coordinator of this broker wrote (the group coordinator's transactional
// offset commits) skips the sequence checks, as Kafka validates sequences
// of client batches only: the coordinator numbers its own writes, and
// starts again after it reloads.
func (s *producerState) check(h record.BatchHeader, guard uint64, origin Origin) (dup batchMeta, isDup bool, err error) {
	if h.ProducerID < 0 {
		return batchMeta{}, false, nil
	}
	e, ok := s.entries[h.ProducerID]
	if ok && h.ProducerEpoch < e.epoch {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if ok && h.ProducerEpoch == e.epoch && origin == FromClient {
		// A retry is answered before the transaction checks: it was
		// appended under them. (Kafka looks for duplicates of client
		// batches only.)
		if m, found := e.findDuplicate(h.BaseSequence, lastSeqOf(h)); found {
			return m, true, nil
		}
	}
	if ok && e.txnFirst >= 0 && !h.IsTransactional() {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d wrote a non-transactional batch inside its transaction", ErrTxnState, h.ProducerID)
	}
	if h.IsTransactional() && !(ok && e.txnFirst >= 0 && h.ProducerEpoch == e.epoch) {
		// KIP-890: starting a transaction needs the guard of a
		// verification when one was started for this producer (Kafka
		// compares the request's guard with the partition's; with no
		// verification both are the sentinel).
		if g, verifying := s.verifying[h.ProducerID]; verifying || guard != 0 {
			if !verifying || g.token != guard || g.epoch != h.ProducerEpoch {
				return batchMeta{}, false, fmt.Errorf("%w: producer %d: the transaction was not verified with the coordinator, or ended since", ErrTxnState, h.ProducerID)
			}
		}
	}
	if !ok || origin != FromClient {
		// An unknown producer (new, or its state expired) may start at
		// any sequence, as in Kafka.
		return batchMeta{}, false, nil
	}
	if h.ProducerEpoch > e.epoch {
		if h.BaseSequence != 0 && e.epoch >= 0 {
			return batchMeta{}, false, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return batchMeta{}, false, nil
	}
	if l := e.last(); l != nil && !inSequence(l.lastSeq, h.BaseSequence) {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d: got sequence %d, expected %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, l.lastSeq+1)
	}
	if e.last() == nil && h.BaseSequence != 0 && e.epoch >= 0 {
		// The epoch is known (a marker moved the producer to it, as a
		// transactions-v2 marker does) but holds no batch yet: its first
		// batch starts at 0, as in Kafka's checkSequence. A pipelined
		// second batch that got ahead of a failed first one is refused
		// rather than appended before it.
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d: got sequence %d, expected 0 (no batch of this epoch yet)", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	}
	return batchMeta{}, false, nil
}

// checkMarker validates a transaction marker for producer pid at epoch
// from a coordinator of coordinatorEpoch (Kafka's appendEndTxnMarker): an
// older producer epoch is fenced (INVALID_PRODUCER_EPOCH), an older
// coordinator epoch too (TRANSACTION_COORDINATOR_FENCED). A marker with a
// newer epoch fences every write of the older ones.
func (s *producerState) checkMarker(pid int64, epoch int16, coordinatorEpoch int32) error {
	e, ok := s.entries[pid]
	if !ok {
		return nil
	}
	if epoch < e.epoch {
		return fmt.Errorf("%w: marker for producer %d at epoch %d, which is older than %d", ErrInvalidProducerEpoch, pid, epoch, e.epoch)
	}
	if coordinatorEpoch < e.coordinatorEpoch {
		return fmt.Errorf("%w: marker for producer %d from coordinator epoch %d, already saw %d", ErrCoordinatorFenced, pid, coordinatorEpoch, e.coordinatorEpoch)
	}
	return nil
}

// update records an appended batch (h.BaseOffset already assigned); for a
// control batch, m is its marker (nil when it holds none). It applies
// batches of the log as they are, without checks: the leader checked them
// (check, checkMarker), and a follower or recovery replays what a leader
// wrote. It reports what the batch did to the transactions.
func (s *producerState) update(h record.BatchHeader, m *record.Marker) txnEvent {
	if h.ProducerID < 0 {
		return txnEvent{}
	}
	e, ok := s.entries[h.ProducerID]
	if !ok {
		e = newEntry(h.ProducerEpoch)
		s.entries[h.ProducerID] = e
	}
	if h.IsControl() {
		if m == nil {
			return txnEvent{}
		}
		e.setEpoch(max(e.epoch, h.ProducerEpoch))
		e.coordinatorEpoch = m.CoordinatorEpoch
		e.lastTimestamp = h.MaxTimestamp
		delete(s.verifying, h.ProducerID)
		if e.txnFirst < 0 {
			return txnEvent{}
		}
		ev := txnEvent{kind: txnEnded, producerID: h.ProducerID, first: e.txnFirst, marker: h.BaseOffset, abort: !m.Commit()}
		e.txnFirst = -1
		delete(s.ongoing, h.ProducerID)
		ev.lastStable = h.BaseOffset + 1
		if f, ok := s.firstOngoing(); ok {
			ev.lastStable = f
		}
		return ev
	}
	if h.ProducerEpoch > e.epoch {
		e.setEpoch(h.ProducerEpoch)
	}
	e.add(batchMeta{firstSeq: h.BaseSequence, lastSeq: lastSeqOf(h), firstOffset: h.BaseOffset, lastOffset: h.LastOffset(), timestamp: h.MaxTimestamp})
	e.lastTimestamp = h.MaxTimestamp
	if h.IsTransactional() && e.txnFirst < 0 {
		e.txnFirst = h.BaseOffset
		s.ongoing[h.ProducerID] = h.BaseOffset
		delete(s.verifying, h.ProducerID)
		return txnEvent{kind: txnStarted, producerID: h.ProducerID, first: h.BaseOffset}
	}
	return txnEvent{}
}

// removeExpired forgets the producers that wrote no batch and got no
// marker for expiration (by the timestamps those carry, -1 when unknown)
// and have no transaction open here, as Kafka's
// ProducerStateManager.removeExpiredProducers (KIP-854). A forgotten
// producer may start again at any sequence. It returns the ids removed.
func (s *producerState) removeExpired(nowMs, expirationMs int64) []int64 {
	var gone []int64
	for pid, e := range s.entries {
		if e.txnFirst < 0 && nowMs-e.lastTimestamp >= expirationMs {
			delete(s.entries, pid)
			delete(s.verifying, pid)
			gone = append(gone, pid)
		}
	}
	return gone
}

// firstOngoing is the first offset of the earliest transaction in
// progress.
func (s *producerState) firstOngoing() (int64, bool) {
	first, ok := int64(math.MaxInt64), false
	for _, f := range s.ongoing {
		first, ok = min(first, f), true
	}
	return first, ok
}

// startVerification returns the guard for a transactional write of
// pid/epoch that needs the coordinator's word (KIP-890 part 1): none (0)
// when the producer already has a transaction of that epoch in progress
// here.
func (s *producerState) startVerification(pid int64, epoch int16) uint64 {
	if e, ok := s.entries[pid]; ok && e.txnFirst >= 0 && e.epoch == epoch {
		return 0
	}
	if g, ok := s.verifying[pid]; ok && g.epoch == epoch {
		return g.token
	}
	s.nextGuard++
	s.verifying[pid] = verifyGuard{token: s.nextGuard, epoch: epoch}
	return s.nextGuard
}

// ProducerInfo is what a partition knows of one producer
// (DescribeProducers, Kafka's ProducerStateEntry).
type ProducerInfo struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32 // -1 when no batch of this epoch is held
	LastTimestamp    int64 // of its last batch or marker, -1 unknown
	CoordinatorEpoch int32 // of its last marker, -1 none
	TxnStartOffset   int64 // first offset of its open transaction, -1 none
}
