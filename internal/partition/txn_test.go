package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
)

// txnBatch is a transactional batch of n records of producer pid/epoch.
func txnBatch(t testing.TB, n int, pid int64, epoch int16, seq int32, tag string) []byte {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Value: []byte(fmt.Sprintf("%s-%d", tag, i))}
	}
	b, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: 1000, ProducerID: pid, ProducerEpoch: epoch,
		BaseSequence: seq, Transactional: true}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openTxnPartition(t *testing.T, dir string) *Partition {
	t.Helper()
	p, err := Open(dir, "t", testTopicID, 0, config.Default().Log.TopicConfig(), 0, slog.New(slog.DiscardHandler))
	must(t, err)
	return p
}

func appendVisible(t *testing.T, p *Partition, b []byte) AppendResult {
	t.Helper()
	res, err := p.Append(b, FromClient)
	must(t, err)
	must(t, p.WaitVisible(context.Background(), res.LastOffset))
	return res
}

func marker(t *testing.T, p *Partition, pid int64, epoch int16, typ record.ControlType) AppendResult {
	t.Helper()
	res, err := p.AppendMarker(pid, epoch, record.Marker{Type: typ, CoordinatorEpoch: 3})
	must(t, err)
	must(t, p.WaitVisible(context.Background(), res.LastOffset))
	return res
}

// TestTxnLastStableOffset follows the last stable offset through two
// producers' transactions, the aborted-transaction index through an abort,
// and both through a reopen of the partition (recovery from the log, with
// the index file deleted).
func TestTxnLastStableOffset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	p := openTxnPartition(t, dir)

	appendVisible(t, p, batch(t, 2, -1, -1, "plain")) // 0-1
	a := appendVisible(t, p, txnBatch(t, 3, 7, 0, 0, "a"))
	if a.BaseOffset != 2 {
		t.Fatalf("txn a at %d", a.BaseOffset)
	}
	appendVisible(t, p, txnBatch(t, 2, 8, 0, 0, "b")) // 5-6
	appendVisible(t, p, txnBatch(t, 1, 7, 0, 3, "a")) // 7
	if o := p.Offsets(); o.HighWatermark != 8 || o.LastStable != 2 {
		t.Fatalf("two open transactions: offsets %+v, want HW 8, LSO 2", o)
	}
	// A plain batch from a producer inside its transaction is refused.
	if _, err := p.Append(batch(t, 1, 7, 4, "x"), FromClient); !errors.Is(err, ErrTxnState) {
		t.Fatalf("non-transactional batch inside a transaction: %v, want ErrTxnState", err)
	}
	// Producer 7 aborts: the LSO moves to producer 8's first offset.
	ab := marker(t, p, 7, 0, record.ControlAbort)
	if ab.BaseOffset != 8 {
		t.Fatalf("abort marker at %d", ab.BaseOffset)
	}
	if o := p.Offsets(); o.LastStable != 5 {
		t.Fatalf("after abort of 7: LSO %d, want 5", o.LastStable)
	}
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 2, LastOffset: 8, LastStableOffset: 5}}
	if got := p.AbortedTxns(0, 9); !slices.Equal(got, want) {
		t.Fatalf("aborted transactions %+v, want %+v", got, want)
	}
	if got := p.AbortedTxns(9, 20); len(got) != 0 {
		t.Fatalf("aborted transactions after the marker: %+v", got)
	}
	// Reads of read_committed stop at the LSO.
	rr, o, err := p.Read(0, 1<<20, BoundLastStable, true)
	must(t, err)
	if rr.LastOffset() != 4 || o.LastStable != 5 {
		t.Fatalf("read_committed read up to %d (offsets %+v), want 4", rr.LastOffset(), o)
	}
	rr.Release()
	must(t, p.Close())

	// Reopened with the index file gone: producer 8's transaction still
	// holds the LSO, and the index is rebuilt from the log.
	must(t, os.Remove(filepath.Join(dir, "00000000000000000000.txnindex")))
	p = openTxnPartition(t, dir)
	if o := p.Offsets(); o.LastStable != 5 || o.HighWatermark != 9 {
		t.Fatalf("reopened: offsets %+v, want LSO 5, HW 9", o)
	}
	if got := p.AbortedTxns(0, 9); !slices.Equal(got, want) {
		t.Fatalf("rebuilt aborted transactions %+v, want %+v", got, want)
	}
	if got, err := p.log.ReadTxnIndex(0); err != nil || !slices.Equal(got, want) {
		t.Fatalf("rebuilt .txnindex %+v (%v), want %+v", got, err, want)
	}
	c := marker(t, p, 8, 0, record.ControlCommit)
	if o := p.Offsets(); o.LastStable != c.LastOffset+1 || o.LastStable != o.HighWatermark {
		t.Fatalf("after commit of 8: offsets %+v, want LSO = HW = %d", o, c.LastOffset+1)
	}
	must(t, p.Close())
}

// TestTxnMarkerFencing: a marker of a newer producer epoch fences the
// older one's writes and markers; an older coordinator epoch is fenced.
func TestTxnMarkerFencing(t *testing.T) {
	p := openTxnPartition(t, filepath.Join(t.TempDir(), "t-0"))
	defer func() { must(t, p.Close()) }()
	appendVisible(t, p, txnBatch(t, 1, 9, 0, 0, "z"))
	// The coordinator fences the producer: its abort comes with epoch 1.
	marker(t, p, 9, 1, record.ControlAbort)
	if o := p.Offsets(); o.LastStable != o.HighWatermark {
		t.Fatalf("after the fencing abort: %+v", o)
	}
	if _, err := p.Append(txnBatch(t, 1, 9, 0, 1, "zombie"), FromClient); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("zombie write at epoch 0: %v, want ErrInvalidProducerEpoch", err)
	}
	if _, err := p.AppendMarker(9, 0, record.Marker{Type: record.ControlCommit, CoordinatorEpoch: 3}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker at epoch 0: %v, want ErrInvalidProducerEpoch", err)
	}
	if _, err := p.AppendMarker(9, 1, record.Marker{Type: record.ControlCommit, CoordinatorEpoch: 2}); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("marker from coordinator epoch 2 after 3: %v, want ErrCoordinatorFenced", err)
	}
	// The new epoch's transaction starts at sequence 0.
	appendVisible(t, p, txnBatch(t, 1, 9, 1, 0, "new"))
	if o := p.Offsets(); o.LastStable != o.HighWatermark-1 {
		t.Fatalf("new transaction: %+v", o)
	}
}

// TestTxnVerificationGuard: KIP-890 part 1. A write verified before the
// transaction ended is refused once a marker came in between.
func TestTxnVerificationGuard(t *testing.T) {
	p := openTxnPartition(t, filepath.Join(t.TempDir(), "t-0"))
	defer func() { must(t, p.Close()) }()
	g := p.StartTxnVerification(5, 0)
	if g == 0 {
		t.Fatal("no guard for a producer without a transaction here")
	}
	// The coordinator aborts (timeout) before the late write lands.
	marker(t, p, 5, 0, record.ControlAbort)
	if _, err := p.AppendVerified(txnBatch(t, 1, 5, 0, 0, "late"), FromClient, g); !errors.Is(err, ErrTxnState) {
		t.Fatalf("late verified write: %v, want ErrTxnState", err)
	}
	g = p.StartTxnVerification(5, 0)
	res, err := p.AppendVerified(txnBatch(t, 1, 5, 0, 0, "ok"), FromClient, g)
	must(t, err)
	if p.StartTxnVerification(5, 0) != 0 {
		t.Fatal("a verification asked for inside an ongoing transaction")
	}
	if o := p.Offsets(); o.LastStable != ids.Offset(res.BaseOffset) {
		t.Fatalf("LSO %d, want %d", o.LastStable, res.BaseOffset)
	}
}

// TestTxnFollowerKeepsLastStableOffset: a follower rebuilds transactions
// from the batches it copies, so its last stable offset follows the
// leader's; truncating a marker reopens its transaction, and after a
// failover the new leader holds the LSO and accepts the coordinator's
// marker.
func TestTxnFollowerKeepsLastStableOffset(t *testing.T) {
	reg, c := newNode(t, 2, image(1, []ids.NodeID{1, 2}, []ids.NodeID{1, 2}), time.Minute)
	p := reg.Get("t", 0)
	var next int64
	copyBatch := func(b []byte) {
		t.Helper()
		h, err := record.ParseHeader(b)
		must(t, err)
		record.SetBaseOffset(b, next)
		record.SetPartitionLeaderEpoch(b, 3)
		next += int64(h.LastOffsetDelta) + 1
		if _, err := p.AppendAsFollower(b, 3); err != nil {
			t.Fatal(err)
		}
	}
	copyBatch(txnBatch(t, 2, 7, 0, 0, "a"))                                                        // 0-1
	copyBatch(txnBatch(t, 1, 8, 0, 0, "b"))                                                        // 2
	copyBatch(record.AppendMarkerBatch(nil, 7, 0, 1000, record.Marker{Type: record.ControlAbort})) // 3
	must(t, p.Persist())
	p.UpdateFollowerHW(4)
	if o := p.Offsets(); o.HighWatermark != 4 || o.LastStable != 2 {
		t.Fatalf("follower: offsets %+v, want HW 4, LSO 2", o)
	}
	if got := p.AbortedTxns(0, 4); len(got) != 1 || got[0].ProducerID != 7 || got[0].FirstOffset != 0 || got[0].LastOffset != 3 {
		t.Fatalf("follower aborted transactions %+v", got)
	}
	// The marker was never committed: the new leader truncates it away,
	// and producer 7's transaction is open again.
	must(t, p.TruncateTo(3, 3))
	if o := p.Offsets(); o.LastStable != 0 {
		t.Fatalf("after truncating the marker: offsets %+v, want LSO 0", o)
	}
	if got := p.AbortedTxns(0, 4); len(got) != 0 {
		t.Fatalf("aborted transactions after truncation: %+v", got)
	}
	c.setLeader(t, 2, []ids.NodeID{2})
	marker(t, p, 7, 0, record.ControlAbort)
	marker(t, p, 8, 0, record.ControlCommit)
	if o := p.Offsets(); o.LastStable != o.HighWatermark {
		t.Fatalf("leader after both markers: %+v", o)
	}
}

// TestTxnLastStableOffsetAtLogStart: DeleteRecords (or retention) past the
// start of an open transaction leaves nothing below the log start
// unstable, as Kafka moves its first unstable offset up.
func TestTxnLastStableOffsetAtLogStart(t *testing.T) {
	p := openTxnPartition(t, filepath.Join(t.TempDir(), "t-0"))
	defer func() { must(t, p.Close()) }()
	appendVisible(t, p, txnBatch(t, 2, 4, 0, 0, "t")) // 0-1
	appendVisible(t, p, batch(t, 2, -1, -1, "plain")) // 2-3
	if o := p.Offsets(); o.LastStable != 0 {
		t.Fatalf("open transaction at 0: %+v", o)
	}
	if _, err := p.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	if o := p.Offsets(); o.LastStable != 1 || o.HighWatermark != 4 {
		t.Fatalf("after DeleteRecords to 1: %+v, want LSO 1 (the log start)", o)
	}
}

// TestTxnRestoredHighWatermarkKeepsMarkerUnstable: a replicated partition
// reopened with a checkpointed high watermark below a marker (the marker
// was not yet committed to the ISR) keeps that transaction unstable: its
// records stay invisible to read_committed readers until the marker is
// below the high watermark again.
func TestTxnRestoredHighWatermarkKeepsMarkerUnstable(t *testing.T) {
	dir := t.TempDir()
	open := func(isr []ids.NodeID) *Registry {
		reg := NewRegistry(dir, 1, config.Default().Log, slog.New(slog.DiscardHandler))
		must(t, reg.Apply(image(1, []ids.NodeID{1, 2}, isr)))
		return reg
	}
	reg := open([]ids.NodeID{1, 2})
	p := reg.Get("t", 0)
	res, err := p.Append(txnBatch(t, 2, 3, 0, 0, "t"), FromClient) // 0-1
	must(t, err)
	must(t, p.FollowerFetch(2, 0, time.Now())) // the follower catches up in its next fetches
	waitFor(t, "leader flush", func() bool { return p.FlushedOffset() == 2 })
	must(t, p.FollowerFetch(2, res.LastOffset+1, time.Now()))
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d, want 2", hw)
	}
	// The marker reaches the leader's disk only: HW stays 2.
	m, err := p.AppendMarker(3, 0, record.Marker{Type: record.ControlCommit, CoordinatorEpoch: 1})
	must(t, err)
	waitFor(t, "marker flush", func() bool { return p.FlushedOffset() == m.LastOffset+1 })
	if o := p.Offsets(); o.HighWatermark != 2 || o.LastStable != 0 {
		t.Fatalf("marker not replicated: %+v, want HW 2, LSO 0", o)
	}
	must(t, reg.Close())

	reg = open([]ids.NodeID{1, 2})
	defer func() { must(t, reg.Close()) }()
	p = reg.Get("t", 0)
	if o := p.Offsets(); o.HighWatermark != 2 || o.LastStable != 0 {
		t.Fatalf("reopened: %+v, want the checkpointed HW 2 and LSO 0", o)
	}
	must(t, p.FollowerFetch(2, 3, time.Now()))
	if o := p.Offsets(); o.HighWatermark != 3 || o.LastStable != 3 {
		t.Fatalf("marker replicated: %+v, want HW = LSO = 3", o)
	}
}

// TestTxnAppendAdded: transactions v2. The marker of the producer's
// previous transaction (at the bumped epoch the new one uses) lands
// between the start of the new write's check and its append: AppendAdded
// appends it anyway (the coordinator added the partition after that
// marker); a marker of a later epoch (the new transaction's own end)
// still refuses the late write, by its epoch.
func TestTxnAppendAdded(t *testing.T) {
	p := openTxnPartition(t, filepath.Join(t.TempDir(), "t-0"))
	defer func() { must(t, p.Close()) }()
	appendVisible(t, p, txnBatch(t, 1, 5, 0, 0, "first"))
	g := p.StartTxnVerification(5, 1) // the next transaction, epoch 1
	marker(t, p, 5, 1, record.ControlCommit)
	if _, err := p.AppendVerified(txnBatch(t, 1, 5, 1, 0, "next"), FromClient, g); !errors.Is(err, ErrTxnState) {
		t.Fatalf("verified write after the marker: %v, want ErrTxnState", err)
	}
	res, err := p.AppendAdded(txnBatch(t, 1, 5, 1, 0, "next"), FromClient, g)
	must(t, err)
	if o := p.Offsets(); o.LastStable != res.BaseOffset {
		t.Fatalf("LSO %d, want %d (the new transaction's start)", o.LastStable, res.BaseOffset)
	}
	// The new transaction ends (epoch 2); a late write of it is refused.
	marker(t, p, 5, 2, record.ControlAbort)
	g = p.StartTxnVerification(5, 1)
	if _, err := p.AppendAdded(txnBatch(t, 1, 5, 1, 1, "late"), FromClient, g); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("late write after its transaction's end: %v, want ErrInvalidProducerEpoch", err)
	}
}

// TestExpireProducers: producer.id.expiration.ms forgets an idle producer
// (by its batches' timestamps) but not one with a transaction open here.
func TestExpireProducers(t *testing.T) {
	p := openTxnPartition(t, filepath.Join(t.TempDir(), "t-0"))
	defer func() { must(t, p.Close()) }()
	idem, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: 1000, ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0},
		[]record.Record{{Value: []byte("v")}})
	must(t, err)
	appendVisible(t, p, idem)
	appendVisible(t, p, txnBatch(t, 1, 8, 0, 0, "open")) // timestamp 1000 too
	p.ExpireProducers(time.UnixMilli(1500), time.Second)
	if n := len(p.Producers()); n != 2 {
		t.Fatalf("%d producers after 0.5s idle, want 2", n)
	}
	p.ExpireProducers(time.UnixMilli(2000), time.Second)
	ps := p.Producers()
	if len(ps) != 1 || ps[0].ProducerID != 8 {
		t.Fatalf("after 1s idle: %+v, want only producer 8 (transaction open)", ps)
	}
	marker(t, p, 8, 0, record.ControlCommit)
	p.ExpireProducers(time.Now().Add(time.Second), time.Second)
	if ps := p.Producers(); len(ps) != 0 {
		t.Fatalf("after the commit: %+v, want none", ps)
	}
	// The forgotten producer writes on at its next sequence.
	next, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: 3000, ProducerID: 7, ProducerEpoch: 0, BaseSequence: 1},
		[]record.Record{{Value: []byte("w")}})
	must(t, err)
	appendVisible(t, p, next)
}

// TestTxnFirstSequenceAfterBumpedMarker: a transactions-v2 marker moves
// the producer to the new epoch with no batch yet; the epoch's first
// batch must start at sequence 0 (Kafka's checkSequence), so a pipelined
// later batch cannot be appended ahead of a first one that failed.
func TestTxnFirstSequenceAfterBumpedMarker(t *testing.T) {
	p := openTxnPartition(t, filepath.Join(t.TempDir(), "t-0"))
	defer func() { must(t, p.Close()) }()
	appendVisible(t, p, txnBatch(t, 3, 5, 0, 0, "first"))
	marker(t, p, 5, 1, record.ControlCommit)
	if _, err := p.Append(txnBatch(t, 2, 5, 1, 3, "ahead"), FromClient); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence 3 as the epoch's first batch: %v, want ErrOutOfOrderSequence", err)
	}
	appendVisible(t, p, txnBatch(t, 3, 5, 1, 0, "next"))
	appendVisible(t, p, txnBatch(t, 2, 5, 1, 3, "ahead"))
}
