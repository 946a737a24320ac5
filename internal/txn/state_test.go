package txn

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func noID() (int64, error) { return 0, errors.New("no id expected") }

func newIDs(next int64) func() (int64, error) {
	return func() (int64, error) { return next, nil }
}

// must completes a prepared transit as the coordinator does once durable.
func must(t *testing.T, m *Metadata, tr Transit, err error) Transit {
	t.Helper()
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	m.Complete(tr)
	return tr
}

func initialized(t *testing.T) *Metadata {
	m := NewMetadata("tx", 1000, 60000, 1)
	r, err := m.PrepareInit(60000, nil, 2, noID)
	must(t, m, r.Transit, err)
	if m.Epoch != 0 || m.State != Empty {
		t.Fatalf("after init: epoch %d state %s", m.Epoch, m.State)
	}
	return m
}

func ongoing(t *testing.T) *Metadata {
	m := initialized(t)
	tr, err := m.PrepareAdd([]TopicPartition{{"a", 0}}, 0, 10)
	must(t, m, tr, err)
	return m
}

func TestTransitionTable(t *testing.T) {
	// Kafka 4.1's TransactionState.VALID_PREVIOUS_STATES, spelled out.
	allowed := map[[2]State]bool{}
	for to, froms := range map[State][]State{
		Empty: {Empty, CompleteCommit, CompleteAbort}, Ongoing: {Ongoing, Empty, CompleteCommit, CompleteAbort},
		PrepareCommit: {Ongoing}, PrepareAbort: {Ongoing, PrepareEpochFence, Empty, CompleteCommit, CompleteAbort}, CompleteCommit: {PrepareCommit},
		CompleteAbort: {PrepareAbort}, Dead: {Empty, CompleteAbort, CompleteCommit}, PrepareEpochFence: {Ongoing},
	} {
		for _, f := range froms {
			allowed[[2]State{f, to}] = true
		}
	}
	for from := Empty; from <= PrepareEpochFence; from++ {
		for to := Empty; to <= PrepareEpochFence; to++ {
			if got := CanTransition(from, to); got != allowed[[2]State{from, to}] {
				t.Errorf("%s -> %s: got %v", from, to, got)
			}
		}
	}
	for s := Empty; s <= PrepareEpochFence; s++ {
		if p, ok := ParseState(s.String()); !ok || p != s {
			t.Errorf("ParseState(%s) = %v %v", s, p, ok)
		}
	}
}

func TestInitBumpsEpochAndFencesOngoing(t *testing.T) {
	m := initialized(t)
	r, err := m.PrepareInit(60000, nil, 3, noID)
	must(t, m, r.Transit, err)
	if m.Epoch != 1 || m.LastEpoch != -1 {
		t.Fatalf("second init: epoch %d last %d", m.Epoch, m.LastEpoch)
	}
	// A new producer while a transaction is ongoing: fence, then abort.
	tr, err := m.PrepareAdd([]TopicPartition{{"a", 0}}, 0, 10)
	must(t, m, tr, err)
	r, err = m.PrepareInit(60000, nil, 11, noID)
	if err != nil || !r.Fence || r.Transit.State != PrepareEpochFence || r.Transit.Epoch != 2 {
		t.Fatalf("init over ongoing: %+v %v", r, err)
	}
	// Until the abort is written, everything else is concurrent.
	if _, err := m.PrepareInit(60000, nil, 12, noID); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("init while fencing: %v", err)
	}
	end, err := m.PrepareEnd(m.ProducerID, r.Transit.Epoch, false, false, 0, 12, noID)
	if err != nil || end.Transit.State != PrepareAbort || end.Transit.Epoch != 2 {
		t.Fatalf("abort after fence: %+v %v", end, err)
	}
	m.Complete(end.Transit)
	// The old producer (epoch 1) is fenced.
	if _, err := m.PrepareEnd(m.ProducerID, 1, true, true, 0, 13, noID); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("zombie commit: %v", err)
	}
	if _, err := m.CheckAdd(m.ProducerID, 1, nil); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("zombie add: %v", err)
	}
	// Markers done: CompleteAbort; the new producer's retry bumps to 3.
	tr, err = m.PrepareComplete(14)
	must(t, m, tr, err)
	if m.State != CompleteAbort || len(m.Partitions) != 0 {
		t.Fatalf("complete: %s %v", m.State, m.Partitions)
	}
	r, err = m.PrepareInit(60000, nil, 15, noID)
	must(t, m, r.Transit, err)
	if m.Epoch != 3 {
		t.Fatalf("epoch after fence and retry: %d", m.Epoch)
	}
}

func TestInitKIP360(t *testing.T) {
	m := initialized(t) // epoch 0
	r, err := m.PrepareInit(60000, &PIDEpoch{m.ProducerID, 0}, 3, noID)
	must(t, m, r.Transit, err)
	if m.Epoch != 1 || m.LastEpoch != 0 {
		t.Fatalf("recovery bump: epoch %d last %d", m.Epoch, m.LastEpoch)
	}
	// The same request retried (answer lost): same epoch again.
	r, err = m.PrepareInit(60000, &PIDEpoch{m.ProducerID, 0}, 4, noID)
	must(t, m, r.Transit, err)
	if m.Epoch != 1 {
		t.Fatalf("retry: epoch %d", m.Epoch)
	}
	// A stale epoch is fenced; another producer id too.
	if _, err := m.PrepareInit(60000, &PIDEpoch{m.ProducerID, 7}, 5, noID); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("stale epoch: %v", err)
	}
	if _, err := m.PrepareInit(60000, &PIDEpoch{999, 0}, 5, noID); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("other id: %v", err)
	}
	// An exhausted epoch rotates the producer id.
	m.Epoch = math.MaxInt16 - 1
	r, err = m.PrepareInit(60000, nil, 6, newIDs(2000))
	must(t, m, r.Transit, err)
	if m.ProducerID != 2000 || m.Epoch != 0 || m.PrevProducerID != 1000 {
		t.Fatalf("rotation: %+v", m)
	}
}

func TestAddPartitionsChecks(t *testing.T) {
	m := initialized(t)
	if _, err := m.CheckAdd(42, 0, nil); !errors.Is(err, ErrInvalidProducerIDMapping) {
		t.Fatalf("wrong id: %v", err)
	}
	if _, err := m.CheckAdd(m.ProducerID, 5, nil); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("wrong epoch: %v", err)
	}
	tps := []TopicPartition{{"b", 1}, {"a", 0}}
	if done, err := m.CheckAdd(m.ProducerID, 0, tps); done || err != nil {
		t.Fatalf("first add: %v %v", done, err)
	}
	tr, err := m.PrepareAdd(tps, 0, 10)
	if _, err2 := m.CheckAdd(m.ProducerID, 0, tps); !errors.Is(err2, ErrConcurrentTransactions) {
		t.Fatalf("add while writing: %v", err2)
	}
	must(t, m, tr, err)
	if m.State != Ongoing || m.StartMs != 10 || !reflect.DeepEqual(tr.Partitions, []TopicPartition{{"a", 0}, {"b", 1}}) {
		t.Fatalf("after add: %s %d %v", m.State, m.StartMs, tr.Partitions)
	}
	if done, err := m.CheckAdd(m.ProducerID, 0, []TopicPartition{{"a", 0}}); !done || err != nil {
		t.Fatalf("re-add: %v %v", done, err)
	}
	tr, err = m.PrepareAdd([]TopicPartition{{"c", 0}}, 0, 20)
	must(t, m, tr, err)
	if m.StartMs != 10 || len(m.Partitions) != 3 {
		t.Fatalf("second add keeps the start: %d %v", m.StartMs, m.Partitions)
	}
	v, err := m.Verify(m.ProducerID, 0, []TopicPartition{{"a", 0}, {"z", 0}})
	if err != nil || v[TopicPartition{"a", 0}] != nil || !errors.Is(v[TopicPartition{"z", 0}], ErrTransactionAbortable) {
		t.Fatalf("verify: %v %v", v, err)
	}
}

func TestEndTxn(t *testing.T) {
	m := initialized(t)
	if _, err := m.PrepareEnd(m.ProducerID, 0, true, true, 0, 5, noID); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("end without a transaction: %v", err)
	}
	m = ongoing(t)
	if _, err := m.PrepareEnd(m.ProducerID+1, 0, true, true, 0, 5, noID); !errors.Is(err, ErrInvalidProducerIDMapping) {
		t.Fatalf("wrong id: %v", err)
	}
	if _, err := m.PrepareEnd(m.ProducerID, 3, true, true, 0, 5, noID); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("wrong epoch: %v", err)
	}
	r, err := m.PrepareEnd(m.ProducerID, 0, true, true, 0, 20, noID)
	must(t, m, r.Transit, err)
	if m.State != PrepareCommit || m.Epoch != 0 {
		t.Fatalf("prepare commit: %s %d", m.State, m.Epoch)
	}
	if _, err := m.PrepareEnd(m.ProducerID, 0, true, true, 0, 21, noID); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("commit retry while markers go out: %v", err)
	}
	if _, err := m.PrepareEnd(m.ProducerID, 0, false, true, 0, 21, noID); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("abort after commit: %v", err)
	}
	if _, err := m.CheckAdd(m.ProducerID, 0, []TopicPartition{{"a", 1}}); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("add while completing: %v", err)
	}
	tr, err := m.PrepareComplete(22)
	must(t, m, tr, err)
	if m.State != CompleteCommit {
		t.Fatalf("complete: %s", m.State)
	}
	if r, err := m.PrepareEnd(m.ProducerID, 0, true, true, 0, 23, noID); err != nil || !r.Done {
		t.Fatalf("commit retry after completion: %+v %v", r, err)
	}
	if _, err := m.PrepareEnd(m.ProducerID, 0, false, true, 0, 23, noID); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("abort after completed commit: %v", err)
	}
}

func TestEndTxnV2BumpsEpoch(t *testing.T) {
	m := ongoing(t)
	r, err := m.PrepareEnd(m.ProducerID, 0, false, true, 2, 20, noID)
	must(t, m, r.Transit, err)
	if m.State != PrepareAbort || m.Epoch != 1 || m.LastEpoch != 0 || r.Transit.Epoch != 1 {
		t.Fatalf("v2 abort: %s epoch %d last %d", m.State, m.Epoch, m.LastEpoch)
	}
	// A retry with the old epoch is the same end, still in progress.
	if _, err := m.PrepareEnd(m.ProducerID, 0, false, true, 2, 21, noID); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("v2 retry: %v", err)
	}
	tr, err := m.PrepareComplete(22)
	must(t, m, tr, err)
	if r, err := m.PrepareEnd(m.ProducerID, 0, false, true, 2, 23, noID); err != nil || !r.Done || r.Epoch != 1 {
		t.Fatalf("v2 retry after completion: %+v %v", r, err)
	}
	// An exhausted epoch: the end carries the next producer id, taken on
	// at completion.
	tr, err = m.PrepareAdd([]TopicPartition{{"a", 0}}, 2, 30)
	must(t, m, tr, err)
	m.Epoch = math.MaxInt16 - 1
	r, err = m.PrepareEnd(m.ProducerID, m.Epoch, true, true, 2, 31, newIDs(5000))
	must(t, m, r.Transit, err)
	// The answer names the producer id to continue with (Kafka answers
	// from prepareComplete's metadata); the markers carry the old id at
	// the last epoch.
	if r.ProducerID != 5000 || r.Epoch != 0 || m.Epoch != math.MaxInt16 {
		t.Fatalf("v2 overflow answer: id %d epoch %d (markers at epoch %d)", r.ProducerID, r.Epoch, m.Epoch)
	}
	tr, err = m.PrepareComplete(32)
	must(t, m, tr, err)
	if m.ProducerID != 5000 || m.Epoch != 0 {
		t.Fatalf("v2 overflow: id %d epoch %d", m.ProducerID, m.Epoch)
	}
}

func TestAbandonedFenceDoesNotBumpTwice(t *testing.T) {
	m := ongoing(t)
	tr, err := m.PrepareFence()
	if err != nil || tr.Epoch != 1 {
		t.Fatalf("fence: %+v %v", tr, err)
	}
	end, err := m.PrepareEnd(m.ProducerID, tr.Epoch, false, false, 0, 5, noID)
	if err != nil {
		t.Fatal(err)
	}
	m.Abandon() // the PrepareAbort write failed
	if m.State != Ongoing || m.Epoch != 1 || !m.failedFence {
		t.Fatalf("after failed fence: %s %d %v", m.State, m.Epoch, m.failedFence)
	}
	tr, err = m.PrepareFence()
	if err != nil || tr.Epoch != 1 {
		t.Fatalf("second fence: %+v %v (first abort %+v)", tr, err, end)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tr := range []Transit{
		{ProducerID: 7, PrevProducerID: 6, NextProducerID: -1, Epoch: 3, LastEpoch: -1, TimeoutMs: 60000, State: Ongoing,
			Partitions: []TopicPartition{{"a", 0}, {"a", 2}, {"b", 1}}, StartMs: 10, UpdateMs: 11, TV: 2},
		{ProducerID: 7, PrevProducerID: 7, NextProducerID: -1, Epoch: 4, LastEpoch: -1, TimeoutMs: 60000, State: CompleteCommit,
			StartMs: 10, UpdateMs: 12},
	} {
		id, got, ok, err := decodeRecord(recordKey("tx-1"), recordValue(tr))
		if err != nil || !ok || id != "tx-1" {
			t.Fatalf("decode: %q %v %v", id, ok, err)
		}
		if !reflect.DeepEqual(got, tr) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, tr)
		}
	}
	id, _, ok, err := decodeRecord(recordKey("gone"), recordValue(Transit{State: Dead}))
	if err != nil || ok || id != "gone" {
		t.Fatalf("tombstone: %q %v %v", id, ok, err)
	}
}

func TestPartitionForMatchesKafka(t *testing.T) {
	// Java: Math.abs("my-txn".hashCode()) % 50.
	h := int32(0)
	for _, r := range "my-txn" {
		h = 31*h + r
	}
	if h < 0 {
		h = -h
	}
	if got := PartitionFor("my-txn", 50); got != h%50 {
		t.Fatalf("PartitionFor = %d, want %d", got, h%50)
	}
}

// TestEndTxnV2EmptyAbort: under transactions v2 an abort without a
// transaction in progress (Empty, or after a completed end) bumps the
// epoch and completes with no partitions, as Kafka 4.1; a commit of none
// stays INVALID_TXN_STATE, and a retry of a completed end is done.
func TestEndTxnV2EmptyAbort(t *testing.T) {
	m := NewMetadata("tx", 1000, 60000, 0)
	tr, err := m.PrepareInit(60000, nil, 1, noID)
	must(t, m, tr.Transit, err)
	if _, err := m.PrepareEnd(1000, 0, true, true, 2, 2, noID); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("v2 commit of nothing: %v", err)
	}
	if _, err := m.PrepareEnd(1000, 0, false, true, 0, 2, noID); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("v1 abort of nothing: %v", err)
	}
	r, err := m.PrepareEnd(1000, 0, false, true, 2, 3, noID)
	must(t, m, r.Transit, err)
	if m.State != PrepareAbort || len(m.Partitions) != 0 || r.Epoch != 1 || m.StartMs != 3 {
		t.Fatalf("v2 empty abort: %s %v answer epoch %d start %d", m.State, m.Partitions, r.Epoch, m.StartMs)
	}
	tr2, err := m.PrepareComplete(4)
	must(t, m, tr2, err)
	if r, err := m.PrepareEnd(1000, 0, false, true, 2, 5, noID); err != nil || !r.Done || r.Epoch != 1 {
		t.Fatalf("retry of the empty abort: %+v %v", r, err)
	}
	// Another empty abort, at the current epoch, after a completed one;
	// the next end while its markers are out waits.
	r, err = m.PrepareEnd(1000, 1, false, true, 2, 6, noID)
	must(t, m, r.Transit, err)
	if m.State != PrepareAbort || r.Epoch != 2 {
		t.Fatalf("second empty abort: %s epoch %d", m.State, r.Epoch)
	}
	if _, err := m.PrepareEnd(1000, 2, false, true, 2, 7, noID); !errors.Is(err, ErrConcurrentTransactions) {
		t.Fatalf("an end during the previous one's markers: %v, want CONCURRENT_TRANSACTIONS", err)
	}
}
