package group

import (
	"testing"
)

func txnCommit(h *harness, groupID string, pid int64, gen int32, member string, offsets ...CommitOffset) *CommitResult {
	h.t.Helper()
	to := h.id()
	h.m.TxnCommit(h.now, to, TxnCommitRequest{Group: groupID, ProducerID: pid, ProducerEpoch: 0, Generation: gen, MemberID: member, Offsets: offsets})
	h.settle()
	return h.replies[to].(*CommitResult)
}

func completeTxn(h *harness, groupID string, pid int64, commit bool) error {
	h.t.Helper()
	to := h.id()
	h.m.CompleteTxn(h.now, to, h.m.PartitionFor(groupID), pid, 0, 3, commit)
	h.settle()
	v, ok := h.replies[to]
	if !ok {
		h.t.Fatal("CompleteTxn not answered")
	}
	if v == nil {
		return nil
	}
	return v.(error)
}

func offsetOf(h *harness, groupID string, tp TopicPartition) (int64, bool) {
	got, err := h.m.FetchOffsets(groupID, []TopicPartition{tp})
	if err != nil {
		h.t.Fatal(err)
	}
	o, ok := got[tp]
	return o.Offset, ok
}

func TestTxnOffsetsVisibleOnlyOnCommit(t *testing.T) {
	h := newHarness(t, testConfig())
	tp := TopicPartition{"in", 0}
	res := txnCommit(h, "g", 7, -1, "", CommitOffset{TopicPartition: tp, Offset: 42, LeaderEpoch: -1})
	if res.Err != nil || res.Partitions[0] != nil {
		t.Fatalf("TxnCommit: %+v", res)
	}
	if _, ok := offsetOf(h, "g", tp); ok {
		t.Fatal("a pending transactional offset is visible")
	}
	if p := h.m.HasPendingTxn("g", nil); !p[tp] {
		t.Fatalf("pending: %v", p)
	}
	// The batch was a transactional one of producer 7, sequence 0.
	if err := completeTxn(h, "g", 7, true); err != nil {
		t.Fatal(err)
	}
	if off, ok := offsetOf(h, "g", tp); !ok || off != 42 {
		t.Fatalf("after COMMIT: %d %v", off, ok)
	}
	if p := h.m.HasPendingTxn("g", nil); len(p) != 0 {
		t.Fatalf("still pending: %v", p)
	}
	// An aborted commit leaves the committed offset.
	txnCommit(h, "g", 7, -1, "", CommitOffset{TopicPartition: tp, Offset: 99, LeaderEpoch: -1})
	if err := completeTxn(h, "g", 7, false); err != nil {
		t.Fatal(err)
	}
	if off, _ := offsetOf(h, "g", tp); off != 42 {
		t.Fatalf("after ABORT: %d", off)
	}
	// Markers were written as records: a commit and an abort.
	var markers []bool
	for _, r := range h.written {
		if commit, ok := IsCommitMarker(r.Key); ok && len(r.Key) == 4 {
			markers = append(markers, commit)
		}
	}
	if len(markers) != 2 || !markers[0] || markers[1] {
		t.Fatalf("markers written: %v", markers)
	}
}

func TestTxnCommitGeneration(t *testing.T) {
	h := newHarness(t, testConfig())
	tp := TopicPartition{"in", 0}
	if res := txnCommit(h, "nogroup", 1, 3, "m", CommitOffset{TopicPartition: tp}); res.Err != ErrIllegalGeneration {
		t.Fatalf("generation for an unknown group: %v", res.Err)
	}
	member, gen := h.joinOne("live", JoinRequest{})
	if res := txnCommit(h, "live", 1, gen+1, member, CommitOffset{TopicPartition: tp}); res.Err != ErrIllegalGeneration {
		t.Fatalf("wrong generation: %v", res.Err)
	}
	if res := txnCommit(h, "live", 1, gen, "stranger", CommitOffset{TopicPartition: tp}); res.Err != ErrUnknownMember {
		t.Fatalf("unknown member: %v", res.Err)
	}
	// A commit without generation from a producer outside the group
	// management (older clients) is accepted, as in Kafka.
	if res := txnCommit(h, "live", 1, -1, "", CommitOffset{TopicPartition: tp}); res.Err != nil {
		t.Fatalf("commit without generation: %v", res.Err)
	}
	if res := txnCommit(h, "live", 1, gen, member, CommitOffset{TopicPartition: tp}); res.Err != nil || res.Partitions[0] != nil {
		t.Fatalf("member's commit: %+v", res)
	}
}

func TestTxnOffsetsReplayed(t *testing.T) {
	h := newHarness(t, testConfig())
	a, b := TopicPartition{"in", 0}, TopicPartition{"in", 1}
	txnCommit(h, "g", 7, -1, "", CommitOffset{TopicPartition: a, Offset: 10, LeaderEpoch: -1})
	completeTxn(h, "g", 7, true)
	txnCommit(h, "g", 8, -1, "", CommitOffset{TopicPartition: b, Offset: 20, LeaderEpoch: -1})

	// Replay as the driver does: records of transactional batches through
	// ApplyTxn, markers through EndTxn.
	p := h.m.PartitionFor("g")
	l := NewLoader(p)
	if err := l.ApplyTxn(7, offsetRecord("g", a, Offset{Offset: 10, LeaderEpoch: -1}).Key, offsetRecord("g", a, Offset{Offset: 10, LeaderEpoch: -1}).Value); err != nil {
		t.Fatal(err)
	}
	l.EndTxn(7, true)
	r := offsetRecord("g", b, Offset{Offset: 20, LeaderEpoch: -1})
	if err := l.ApplyTxn(8, r.Key, r.Value); err != nil {
		t.Fatal(err)
	}
	m2 := NewMachine(testConfig())
	m2.BeginLoad(p)
	m2.CompleteLoad(h.now, p, l)
	got, _ := m2.FetchOffsets("g", nil)
	if got[a].Offset != 10 || len(got) != 1 {
		t.Fatalf("replayed offsets: %v", got)
	}
	if pend := m2.HasPendingTxn("g", nil); !pend[b] || pend[a] {
		t.Fatalf("replayed pending: %v", pend)
	}
}

// TestTxnSequenceContinues: a producer's transactional batches on one
// partition carry consecutive sequences across its transactions of one
// epoch, and restart at 0 with a new epoch.
func TestTxnSequenceContinues(t *testing.T) {
	h := newHarness(t, testConfig())
	p := h.m.PartitionFor("g")
	var seqs []int32
	h.holdWrites = true
	commit := func(epoch int16, n int) {
		offs := make([]CommitOffset, n)
		for i := range offs {
			offs[i] = CommitOffset{TopicPartition: TopicPartition{"in", int32(i)}}
		}
		h.m.TxnCommit(h.now, h.id(), TxnCommitRequest{Group: "g", ProducerID: 5, ProducerEpoch: epoch, Generation: -1, Offsets: offs})
		h.settle()
		for _, w := range h.held {
			if w.Txn != nil && !w.Txn.Control && w.Partition == p {
				seqs = append(seqs, w.Txn.Sequence)
			}
			h.finish(w)
		}
		h.held = nil
		h.settle()
	}
	commit(0, 2)
	h.holdWrites = false
	completeTxn(h, "g", 5, true)
	h.holdWrites = true
	commit(0, 1)
	commit(1, 3)
	if len(seqs) != 3 || seqs[0] != 0 || seqs[1] != 2 || seqs[2] != 0 {
		t.Fatalf("sequences %v, want [0 2 0]", seqs)
	}
}
