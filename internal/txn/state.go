package txn

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// State is a transaction's state, numbered as Kafka numbers it in
// TransactionLogValue.TransactionStatus.
type State int8

// Kafka's transaction states.
const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String is Kafka's name of the state (DescribeTransactions, ListTransactions).
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int8(s))
	}
	return stateNames[s]
}

// ParseState is the state of a Kafka state name.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// validPrevious is Kafka's table of allowed transitions: the states each
// state may be entered from.
var validPrevious = map[State][]State{
	Empty:         {Empty, CompleteCommit, CompleteAbort},
	Ongoing:       {Ongoing, Empty, CompleteCommit, CompleteAbort},
	PrepareCommit: {Ongoing},
	// Empty and Complete*: a transactions-v2 abort with no partitions
	// (Kafka 4.1), which bumps the epoch and writes no marker.
	PrepareAbort:      {Ongoing, PrepareEpochFence, Empty, CompleteCommit, CompleteAbort},
	CompleteCommit:    {PrepareCommit},
	CompleteAbort:     {PrepareAbort},
	Dead:              {Empty, CompleteAbort, CompleteCommit},
	PrepareEpochFence: {Ongoing},
}

// CanTransition reports whether Kafka allows from -> to.
func CanTransition(from, to State) bool {
	for _, s := range validPrevious[to] {
		if s == from {
			return true
		}
	}
	return false
}

// expirable: a transactional id idle in these states may be expired.
func (s State) expirable() bool { return s == Empty || s == CompleteCommit || s == CompleteAbort }

const (
	noProducerID    = -1
	noProducerEpoch = -1
)

// TopicPartition names one partition in a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// PIDEpoch is a producer id and epoch a client presents.
type PIDEpoch struct {
	ID    int64
	Epoch int16
}

// Metadata is one transactional id's state (Kafka's TransactionMetadata).
// The coordinator guards it with its mu.
type Metadata struct {
	ID             string
	ProducerID     int64
	PrevProducerID int64 // the id before the last rotation (KIP-360 retries)
	NextProducerID int64 // TV2: the id taken on when an exhausted epoch completes
	Epoch          int16
	LastEpoch      int16 // the epoch before the last bump (KIP-360 retries)
	TimeoutMs      int32
	State          State
	Partitions     map[TopicPartition]struct{}
	StartMs        int64 // -1 when no transaction
	UpdateMs       int64
	// TV is the transaction version the client uses: 2 bumps the epoch on
	// every EndTxn (KIP-890 part 2).
	TV int16

	// pending is the transition being written, nil when none: while set,
	// other requests are answered CONCURRENT_TRANSACTIONS.
	pending *Transit
	// failedFence: a fence whose write failed already bumped the epoch
	// (never returned to a client); the next fence does not bump again.
	failedFence bool
	// endFenced: the last end was the coordinator's abort after a fence,
	// whose epoch is one above the fenced producer's: that producer's
	// own end is then PRODUCER_FENCED, not a retry of a bumped end.
	endFenced bool
}

// NewMetadata is a transactional id seen for the first time.
func NewMetadata(id string, producerID int64, timeoutMs int32, nowMs int64) *Metadata {
	return &Metadata{
		ID: id, ProducerID: producerID, PrevProducerID: noProducerID, NextProducerID: noProducerID,
		Epoch: noProducerEpoch, LastEpoch: noProducerEpoch, TimeoutMs: timeoutMs, State: Empty,
		Partitions: map[TopicPartition]struct{}{}, StartMs: -1, UpdateMs: nowMs,
	}
}

// Transit is a transition's target: what is written to the log and, once
// durable, becomes the metadata.
type Transit struct {
	ProducerID, PrevProducerID, NextProducerID int64
	Epoch, LastEpoch                           int16
	TimeoutMs                                  int32
	State                                      State
	Partitions                                 []TopicPartition // sorted
	StartMs, UpdateMs                          int64
	TV                                         int16
	// fence: the abort that follows an epoch fence (its epoch was bumped
	// in memory before the write).
	fence bool
}

// Pending reports whether a transition is being written.
func (m *Metadata) Pending() bool { return m.pending != nil }

// PendingState is the state being written, if any.
func (m *Metadata) PendingState() (State, bool) {
	if m.pending == nil {
		return 0, false
	}
	return m.pending.State, true
}

func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

func sortedPartitions(set map[TopicPartition]struct{}) []TopicPartition {
	out := make([]TopicPartition, 0, len(set))
	for tp := range set {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// errIllegal is a transition Kafka's table forbids; it means a bug, so it
// is answered as an internal error.
var errIllegal = errors.New("illegal transaction state transition")

// prepare records t as the pending transition after checking it is legal.
func (m *Metadata) prepare(t Transit) (Transit, error) {
	if m.pending != nil {
		return Transit{}, fmt.Errorf("%w: %s already has a pending %s", errIllegal, m.ID, m.pending.State)
	}
	if t.ProducerID < 0 || (t.State != Dead && t.Epoch < 0) {
		return Transit{}, fmt.Errorf("%w: %s to %s with producer %d epoch %d", errIllegal, m.ID, t.State, t.ProducerID, t.Epoch)
	}
	if !CanTransition(m.State, t.State) {
		return Transit{}, fmt.Errorf("%w: %s from %s to %s", errIllegal, m.ID, m.State, t.State)
	}
	m.pending = &t
	return t, nil
}

func (m *Metadata) base() Transit {
	return Transit{
		ProducerID: m.ProducerID, PrevProducerID: m.ProducerID, NextProducerID: noProducerID,
		Epoch: m.Epoch, LastEpoch: m.LastEpoch, TimeoutMs: m.TimeoutMs, State: m.State,
		Partitions: sortedPartitions(m.Partitions), StartMs: m.StartMs, UpdateMs: m.UpdateMs,
	}
}

// InitResult is what PrepareInit decided.
type InitResult struct {
	Transit Transit
	// Fence: an ongoing transaction must be aborted first (Transit is a
	// PrepareEpochFence); the client is answered CONCURRENT_TRANSACTIONS.
	Fence bool
}

// PrepareInit is InitProducerId for an existing (or just created) id:
// bump the epoch (or rotate the producer id when it is exhausted), or
// fence an ongoing transaction. expected is the KIP-360 producer id and
// epoch the client presents, nil when none; newID allocates a producer id.
func (m *Metadata) PrepareInit(timeoutMs int32, expected *PIDEpoch, nowMs int64, newID func() (int64, error)) (InitResult, error) {
	if m.pending != nil {
		return InitResult{}, ErrConcurrentTransactions
	}
	if expected != nil {
		valid := m.Epoch == noProducerEpoch || expected.ID == m.ProducerID ||
			(expected.ID == m.PrevProducerID && epochExhausted(expected.Epoch))
		if !valid {
			return InitResult{}, ErrProducerFenced
		}
	}
	switch m.State {
	case PrepareAbort, PrepareCommit:
		return InitResult{}, ErrConcurrentTransactions
	case CompleteAbort, CompleteCommit, Empty:
		t := m.base()
		t.State, t.TimeoutMs, t.Partitions, t.StartMs, t.UpdateMs = Empty, timeoutMs, nil, -1, nowMs
		if epochExhausted(m.Epoch) && (expected == nil || expected.Epoch == m.Epoch) {
			id, err := newID()
			if err != nil {
				return InitResult{}, err
			}
			t.ProducerID, t.Epoch, t.LastEpoch = id, 0, noProducerEpoch
			if expected != nil {
				t.LastEpoch = m.Epoch
			}
		} else {
			next := m.Epoch + 1
			switch {
			case expected == nil:
				t.Epoch, t.LastEpoch = next, noProducerEpoch
			case m.Epoch == noProducerEpoch || expected.Epoch == m.Epoch:
				t.Epoch, t.LastEpoch = next, m.Epoch
			case expected.Epoch == m.LastEpoch:
				// A retry of a bump whose answer was lost.
				t.Epoch, t.LastEpoch = m.Epoch, m.LastEpoch
			default:
				return InitResult{}, ErrProducerFenced
			}
		}
		t, err := m.prepare(t)
		return InitResult{Transit: t}, err
	case Ongoing:
		t, err := m.PrepareFence()
		return InitResult{Transit: t, Fence: true}, err
	default:
		return InitResult{}, fmt.Errorf("%w: InitProducerId of %s in state %s", errIllegal, m.ID, m.State)
	}
}

// PrepareFence bumps the epoch to fence the current producer before its
// ongoing transaction is aborted (a new producer, or a timeout).
func (m *Metadata) PrepareFence() (Transit, error) {
	if m.Epoch == math.MaxInt16 {
		return Transit{}, fmt.Errorf("%w: epoch of %s would overflow", errIllegal, m.ID)
	}
	t := m.base()
	t.State, t.LastEpoch = PrepareEpochFence, noProducerEpoch
	if !m.failedFence {
		t.Epoch++
	}
	return m.prepare(t)
}

// CheckAdd validates AddPartitionsToTxn for pid/epoch; done reports that
// every partition is already in the ongoing transaction (nothing to write).
func (m *Metadata) CheckAdd(pid int64, epoch int16, parts []TopicPartition) (done bool, err error) {
	switch {
	case m.ProducerID != pid:
		return false, ErrInvalidProducerIDMapping
	case m.Epoch != epoch:
		return false, ErrProducerFenced
	case m.pending != nil, m.State == PrepareCommit, m.State == PrepareAbort:
		return false, ErrConcurrentTransactions
	}
	if m.State != Ongoing {
		return false, nil
	}
	for _, tp := range parts {
		if _, ok := m.Partitions[tp]; !ok {
			return false, nil
		}
	}
	return true, nil
}

// PrepareAdd adds partitions to the transaction, starting it if needed;
// tv is the client's transaction version as the request shows it (2 for a
// partition leader's AddPartitionsToTxn v5 on behalf of a Produce v12+ or
// TxnOffsetCommit v5+), which Kafka records with the transaction
// (prepareAddPartitions' clientTransactionVersion).
func (m *Metadata) PrepareAdd(parts []TopicPartition, tv int16, nowMs int64) (Transit, error) {
	t := m.base()
	if m.State != Ongoing {
		t.StartMs = nowMs
	}
	set := make(map[TopicPartition]struct{}, len(m.Partitions)+len(parts))
	for tp := range m.Partitions {
		set[tp] = struct{}{}
	}
	for _, tp := range parts {
		set[tp] = struct{}{}
	}
	t.State, t.Partitions, t.UpdateMs, t.TV = Ongoing, sortedPartitions(set), nowMs, tv
	return m.prepare(t)
}

// Verify answers KIP-890 part 1's verification: whether each partition is
// in the producer's ongoing transaction.
func (m *Metadata) Verify(pid int64, epoch int16, parts []TopicPartition) (map[TopicPartition]error, error) {
	switch {
	case m.ProducerID != pid:
		return nil, ErrInvalidProducerIDMapping
	case m.Epoch != epoch:
		return nil, ErrProducerFenced
	case m.State == PrepareCommit || m.State == PrepareAbort:
		return nil, ErrConcurrentTransactions
	}
	out := make(map[TopicPartition]error, len(parts))
	for _, tp := range parts {
		if _, ok := m.Partitions[tp]; ok && m.State == Ongoing {
			out[tp] = nil
		} else {
			out[tp] = ErrTransactionAbortable
		}
	}
	return out, nil
}

// EndResult is what PrepareEnd decided.
type EndResult struct {
	Transit Transit
	// Done: nothing to write (a retry of a completed end).
	Done bool
	// ProducerID and Epoch are the answer: what the producer continues
	// with. Under transactions v2 that is the bumped epoch, or, when the
	// epoch is exhausted, the next producer id at epoch 0, as Kafka
	// answers from the metadata it prepares before the markers
	// (prepareComplete); the markers carry the bumped epoch of the old id.
	ProducerID int64
	Epoch      int16
}

// PrepareEnd is EndTxn (fromClient) or the coordinator's own abort
// (after a fence). tv is the client's transaction version (2 for EndTxn
// v5+): it bumps the epoch with every end.
func (m *Metadata) PrepareEnd(pid int64, epoch int16, commit, fromClient bool, tv int16, nowMs int64, newID func() (int64, error)) (EndResult, error) {
	fencing := m.pending != nil && m.pending.State == PrepareEpochFence
	// Transactions v2 is the request's (EndTxn v5+), as Kafka chooses
	// by the request; a retry of an end comes at the same version.
	v2 := !fencing && tv >= 2
	bumped := v2 && m.Epoch == epoch+1 && !m.endFenced // a retry of a v2 end that bumped
	overflowRetry := v2 && m.PrevProducerID == pid && epoch == math.MaxInt16-1 && m.Epoch == 0
	retry := bumped || overflowRetry
	var validEpoch bool
	if v2 {
		switch m.State {
		case Ongoing, Empty, Dead, PrepareEpochFence:
			validEpoch = epoch == m.Epoch
		case PrepareCommit, PrepareAbort:
			// A retry of this end (the old epoch), or the producer's next
			// end at the bumped epoch while this one's markers are still
			// being written (it waits: CONCURRENT_TRANSACTIONS).
			validEpoch = bumped || epoch == m.Epoch
		default:
			validEpoch = retry || epoch == m.Epoch
		}
	} else {
		validEpoch = (!fromClient || epoch == m.Epoch) && epoch >= m.Epoch
	}
	switch {
	case m.ProducerID != pid && !overflowRetry:
		return EndResult{}, ErrInvalidProducerIDMapping
	case !validEpoch:
		return EndResult{}, ErrProducerFenced
	case m.pending != nil && !fencing:
		return EndResult{}, ErrConcurrentTransactions
	}
	done := EndResult{Done: true, ProducerID: m.ProducerID, Epoch: m.Epoch}
	if v2 {
		// Kafka 4.1's TransactionCoordinator.endTransaction for
		// transactions v2: a retry of a completed end is answered as
		// done; an abort with no transaction in progress is a new, empty
		// one (it bumps the epoch; the client aborts whenever none of
		// its produces succeeded).
		switch {
		case (m.State == PrepareCommit || m.State == PrepareAbort) && epoch == m.Epoch:
			// franz-go aborts its next, empty, transaction right after
			// EndTxn answered, before the markers are written.
			return EndResult{}, ErrConcurrentTransactions
		case m.State == CompleteCommit && commit, m.State == CompleteAbort && !commit:
			if retry {
				return done, nil
			}
			if commit {
				return EndResult{}, ErrInvalidTxnState
			}
			return m.prepareEmptyAbort(tv, nowMs, newID)
		case m.State == CompleteCommit && !commit && !retry, m.State == Empty && !commit:
			return m.prepareEmptyAbort(tv, nowMs, newID)
		case m.State == CompleteCommit, m.State == CompleteAbort, m.State == Empty:
			return EndResult{}, ErrInvalidTxnState
		}
	}
	switch m.State {
	case Ongoing:
		next := PrepareAbort
		if commit {
			next = PrepareCommit
		}
		nextID := int64(noProducerID)
		if tv >= 2 && !fencing && epochExhausted(m.Epoch) {
			id, err := newID()
			if err != nil {
				return EndResult{}, err
			}
			nextID = id
		}
		if fencing {
			if commit {
				return EndResult{}, ErrProducerFenced
			}
			// Abort on top of the fence: the fence's bumped epoch is the
			// one written with PrepareAbort.
			m.pending = nil
			m.Epoch, m.LastEpoch = epoch, noProducerEpoch
		}
		t := m.base()
		if tv >= 2 && !fencing {
			t.Epoch, t.LastEpoch = m.Epoch+1, m.Epoch
		}
		t.State, t.NextProducerID, t.UpdateMs, t.TV, t.fence = next, nextID, nowMs, tv, fencing
		t, err := m.prepare(t)
		res := EndResult{Transit: t, ProducerID: t.ProducerID, Epoch: t.Epoch}
		if nextID != noProducerID {
			res.ProducerID, res.Epoch = nextID, 0
		}
		return res, err
	case CompleteCommit:
		if commit {
			return done, nil
		}
	case CompleteAbort:
		if !commit {
			return done, nil
		}
	case PrepareCommit:
		if commit {
			return EndResult{}, ErrConcurrentTransactions
		}
	case PrepareAbort:
		if !commit {
			return EndResult{}, ErrConcurrentTransactions
		}
	case Empty:
	default:
		return EndResult{}, fmt.Errorf("%w: EndTxn of %s in state %s", errIllegal, m.ID, m.State)
	}
	return EndResult{}, ErrInvalidTxnState
}

// prepareEmptyAbort is a transactions-v2 abort without a transaction in
// progress: PrepareAbort with no partitions at the bumped epoch (the next
// producer id when the epoch is exhausted), completed at once since no
// marker is due. Its start is now, as Kafka's noPartitionAdded.
func (m *Metadata) prepareEmptyAbort(tv int16, nowMs int64, newID func() (int64, error)) (EndResult, error) {
	nextID := int64(noProducerID)
	if epochExhausted(m.Epoch) {
		id, err := newID()
		if err != nil {
			return EndResult{}, err
		}
		nextID = id
	}
	t := m.base()
	t.State, t.Partitions, t.Epoch, t.LastEpoch, t.NextProducerID = PrepareAbort, nil, m.Epoch+1, m.Epoch, nextID
	t.StartMs, t.UpdateMs, t.TV = nowMs, nowMs, tv
	t, err := m.prepare(t)
	res := EndResult{Transit: t, ProducerID: t.ProducerID, Epoch: t.Epoch}
	if nextID != noProducerID {
		res.ProducerID, res.Epoch = nextID, 0
	}
	return res, err
}

// PrepareComplete is the transition once every marker is written.
func (m *Metadata) PrepareComplete(nowMs int64) (Transit, error) {
	t := m.base()
	t.State = CompleteAbort
	if m.State == PrepareCommit {
		t.State = CompleteCommit
	}
	if m.TV >= 2 && m.NextProducerID != noProducerID {
		// The epoch was exhausted: the producer continues with a new id.
		t.ProducerID, t.Epoch = m.NextProducerID, 0
	}
	t.LastEpoch, t.Partitions, t.UpdateMs, t.TV = m.Epoch, nil, nowMs, m.TV
	m.failedFence = false
	return m.prepare(t)
}

// PrepareDead expires an idle transactional id (written as a tombstone).
func (m *Metadata) PrepareDead() (Transit, error) {
	t := m.base()
	t.State, t.Partitions = Dead, nil
	return m.prepare(t)
}

// Complete makes the pending transition t current once it is durable.
func (m *Metadata) Complete(t Transit) {
	m.ProducerID, m.Epoch, m.LastEpoch, m.TimeoutMs = t.ProducerID, t.Epoch, t.LastEpoch, t.TimeoutMs
	if t.State == Empty || t.State == CompleteCommit || t.State == CompleteAbort {
		m.PrevProducerID = t.PrevProducerID
	}
	m.NextProducerID = t.NextProducerID
	if t.State == PrepareCommit || t.State == PrepareAbort {
		m.endFenced = t.fence
	}
	m.State, m.StartMs, m.UpdateMs, m.TV = t.State, t.StartMs, t.UpdateMs, t.TV
	m.Partitions = make(map[TopicPartition]struct{}, len(t.Partitions))
	for _, tp := range t.Partitions {
		m.Partitions[tp] = struct{}{}
	}
	m.pending = nil
}

// Abandon drops the pending transition after its write failed.
func (m *Metadata) Abandon() {
	if m.pending != nil && m.pending.State == PrepareEpochFence {
		m.failedFence = true
	}
	if m.pending != nil && m.pending.fence {
		m.failedFence = true
	}
	m.pending = nil
}

// fromTransit is the metadata a loaded record describes.
func fromTransit(id string, t Transit) *Metadata {
	m := &Metadata{ID: id}
	m.Complete(t)
	m.PrevProducerID = t.PrevProducerID
	return m
}
