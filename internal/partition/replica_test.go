package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// batch builds one batch of n records; pid < 0 means not idempotent.
func batch(t testing.TB, n int, pid int64, seq int32, tag string) []byte {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Value: []byte(fmt.Sprintf("%s-%d", tag, i))}
	}
	o := record.BatchOptions{FirstTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if pid >= 0 {
		o.ProducerID, o.ProducerEpoch, o.BaseSequence = pid, 0, seq
	}
	b, err := record.AppendBatch(nil, o, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isrController is a fake controller for one partition: it applies ISR
// changes to an image and hands it to the registry, as the real one does.
type isrController struct {
	mu    sync.Mutex
	reg   *Registry
	im    *metadata.Image
	calls int
	fail  error // returned instead of applying, when set
}

func (c *isrController) alterISR(_ context.Context, topic string, part int32, epoch ids.LeaderEpoch, isr []ids.NodeID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.fail != nil {
		return c.fail
	}
	next := c.im.Clone()
	pm := &next.Topics[topic].Partitions[part]
	if pm.LeaderEpoch != epoch {
		return errors.New("stale leader epoch")
	}
	pm.ISR = slices.Clone(isr)
	c.im = next
	return c.reg.Apply(next)
}

func (c *isrController) image() *metadata.Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.im
}

func (c *isrController) isr() []ids.NodeID {
	return c.image().Topics["t"].Partitions[0].ISR
}

func (c *isrController) setLeader(t *testing.T, leader ids.NodeID, isr []ids.NodeID) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.im.Clone()
	pm := &next.Topics["t"].Partitions[0]
	pm.Leader, pm.LeaderEpoch, pm.ISR = leader, pm.LeaderEpoch+1, isr
	c.im = next
	if err := c.reg.Apply(next); err != nil {
		t.Fatal(err)
	}
}

// testTopicID is topic t's id in every image of these tests: one topic,
// whatever its leadership.
var testTopicID = metadata.TopicID{15: 7}

func image(leader ids.NodeID, replicas, isr []ids.NodeID) *metadata.Image {
	tp := &metadata.Topic{Name: "t", ID: testTopicID, Partitions: []metadata.Partition{
		{Index: 0, Leader: leader, LeaderEpoch: 3, Replicas: replicas, ISR: isr},
	}}
	im := &metadata.Image{Topics: map[string]*metadata.Topic{"t": tp}, TopicsByID: map[metadata.TopicID]*metadata.Topic{tp.ID: tp}}
	for _, id := range replicas {
		im.Brokers = append(im.Brokers, metadata.Broker{ID: id, Host: "127.0.0.1", Port: 9000 + int32(id)})
	}
	return im
}

// newNode opens node self's registry on im with the fake controller.
func newNode(t *testing.T, self ids.NodeID, im *metadata.Image, lag time.Duration) (*Registry, *isrController) {
	t.Helper()
	reg := NewRegistry(t.TempDir(), self, config.Default().Log, slog.New(slog.DiscardHandler))
	c := &isrController{reg: reg, im: im}
	reg.SetAlterISR(c.alterISR)
	reg.SetReplicaLagTimeMax(lag)
	if err := reg.Apply(im); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Error(err)
		}
	})
	return reg, c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRolesFromImage(t *testing.T) {
	reg, c := newNode(t, 1, image(2, []ids.NodeID{1, 2, 3}, []ids.NodeID{1, 2, 3}), time.Minute)
	p := reg.Get("t", 0)
	if role, leader, epoch := p.Role(); role != RoleFollower || leader != 2 || epoch != 3 {
		t.Fatalf("role %v leader %d epoch %d, want follower of 2 at 3", role, leader, epoch)
	}
	b := batch(t, 1, -1, -1, "x")
	if _, err := p.Append(b, FromClient); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower append: %v, want ErrNotLeader", err)
	}
	c.setLeader(t, 1, []ids.NodeID{1, 2, 3})
	if role, _, epoch := p.Role(); role != RoleLeader || epoch != 4 {
		t.Fatalf("role %v epoch %d, want leader at 4", role, epoch)
	}
	if _, err := p.Append(b, FromClient); err != nil {
		t.Fatal(err)
	}
	if got := p.LatestEpoch(); got != 4 {
		t.Fatalf("log epoch %d, want 4", got)
	}
	c.setLeader(t, -1, []ids.NodeID{1})
	if role, leader, _ := p.Role(); role != RoleFollower || leader != -1 {
		t.Fatalf("role %v leader %d, want idle follower", role, leader)
	}
}

// TestHighWatermarkIsMinISRLogEnd drives the leader with follower fetches.
func TestHighWatermarkIsMinISRLogEnd(t *testing.T) {
	reg, _ := newNode(t, 1, image(1, []ids.NodeID{1, 2, 3}, []ids.NodeID{1, 2, 3}), time.Minute)
	p := reg.Get("t", 0)
	for i := 0; i < 3; i++ {
		b := batch(t, 2, -1, -1, "a")
		if _, err := p.Append(b, FromClient); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "leader flush", func() bool { return p.FlushedOffset() == 6 })
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before any follower fetched, want 0", hw)
	}
	now := time.Now()
	must(t, p.FollowerFetch(2, 6, now))
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d with follower 3 unknown, want 0", hw)
	}
	must(t, p.FollowerFetch(3, 4, now))
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("HW %d, want min ISR log end 4", hw)
	}
	must(t, p.FollowerFetch(3, 6, now))
	if hw := p.HighWatermark(); hw != 6 {
		t.Fatalf("HW %d, want 6", hw)
	}
	// acks=all waits for the followers' next fetches.
	b := batch(t, 1, -1, -1, "b")
	res, err := p.Append(b, FromClient)
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- p.WaitVisible(context.Background(), res.LastOffset) }()
	must(t, p.FollowerFetch(2, 7, time.Now()))
	select {
	case err := <-done:
		t.Fatalf("acks=all returned (%v) before follower 3 had the write", err)
	default:
	}
	must(t, p.FollowerFetch(3, 7, time.Now()))
	must(t, <-done)
	if hw := p.HighWatermark(); hw != 7 {
		t.Fatalf("HW %d, want 7", hw)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestISRShrinkAndExpand(t *testing.T) {
	const lag = 50 * time.Millisecond
	reg, c := newNode(t, 1, image(1, []ids.NodeID{1, 2, 3}, []ids.NodeID{1, 2, 3}), lag)
	p := reg.Get("t", 0)
	b := batch(t, 3, -1, -1, "a")
	_, err := p.Append(b, FromClient)
	must(t, err)
	now := time.Now()
	must(t, p.FollowerFetch(2, 3, now))
	must(t, p.FollowerFetch(3, 0, now))
	// Follower 3 stays behind: after the lag time it leaves the ISR.
	p.MaybeShrinkISR(now.Add(lag / 2))
	if isr := c.isr(); len(isr) != 3 {
		t.Fatalf("ISR %v shrank before the lag time", isr)
	}
	must(t, p.FollowerFetch(2, 3, now.Add(2*lag)))
	p.MaybeShrinkISR(now.Add(2 * lag))
	waitFor(t, "ISR shrink", func() bool { return slices.Equal(c.isr(), []ids.NodeID{1, 2}) })
	waitFor(t, "HW past the removed follower", func() bool { return p.HighWatermark() == 3 })
	if got := p.ISR(); !slices.Equal(got, []ids.NodeID{1, 2}) {
		t.Fatalf("partition ISR %v, want [1 2]", got)
	}
	// Catching up to the HW brings it back.
	must(t, p.FollowerFetch(3, 2, time.Now()))
	if isr := c.isr(); len(isr) != 2 {
		t.Fatalf("ISR %v expanded below the HW", isr)
	}
	must(t, p.FollowerFetch(3, 3, time.Now()))
	waitFor(t, "ISR expand", func() bool { return slices.Equal(c.isr(), []ids.NodeID{1, 2, 3}) })
	// An idle follower at the log end is never removed.
	must(t, p.FollowerFetch(2, 3, time.Now()))
	must(t, p.FollowerFetch(3, 3, time.Now()))
	p.MaybeShrinkISR(time.Now().Add(time.Hour))
	reg.bg.Wait()
	if isr := c.isr(); len(isr) != 3 {
		t.Fatalf("ISR %v shrank with every follower caught up", isr)
	}
}

func TestISRChangeRefusedIsRetried(t *testing.T) {
	const lag = 10 * time.Millisecond
	reg, c := newNode(t, 1, image(1, []ids.NodeID{1, 2}, []ids.NodeID{1, 2}), lag)
	p := reg.Get("t", 0)
	b := batch(t, 1, -1, -1, "a")
	_, err := p.Append(b, FromClient)
	must(t, err)
	c.mu.Lock()
	c.fail = errors.New("stale leader epoch")
	c.mu.Unlock()
	p.MaybeShrinkISR(time.Now().Add(time.Second))
	reg.bg.Wait()
	c.mu.Lock()
	c.fail = nil
	c.mu.Unlock()
	p.MaybeShrinkISR(time.Now().Add(time.Second))
	waitFor(t, "ISR shrink after a refusal", func() bool { return slices.Equal(c.isr(), []ids.NodeID{1}) })
	c.mu.Lock()
	calls := c.calls
	c.mu.Unlock()
	if calls != 2 {
		t.Fatalf("%d AlterISR calls, want 2", calls)
	}
}

func TestFollowerTruncationRebuildsProducerState(t *testing.T) {
	reg, c := newNode(t, 2, image(1, []ids.NodeID{1, 2}, []ids.NodeID{1, 2}), time.Minute)
	p := reg.Get("t", 0)
	// A leader's log: epoch 3 batches from producer 7.
	var leaderLog [][]byte
	var next int64
	for i := int32(0); i < 3; i++ {
		b := batch(t, 2, 7, i*2, "a")
		record.SetBaseOffset(b, next)
		record.SetPartitionLeaderEpoch(b, 3)
		next += 2
		leaderLog = append(leaderLog, b)
	}
	for _, b := range leaderLog {
		if _, err := p.AppendAsFollower(b, 3); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.AppendAsFollower(leaderLog[0], 2); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("append at a stale epoch: %v, want ErrNotFollower", err)
	}
	must(t, p.Persist())
	p.UpdateFollowerHW(4)
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("follower HW %d, want 4", hw)
	}
	must(t, p.TruncateTo(4, 3))
	if leo, hw := p.LogEndOffset(), p.HighWatermark(); leo != 4 || hw != 4 {
		t.Fatalf("after truncation LEO %d HW %d, want 4 4", leo, hw)
	}
	must(t, p.TruncateTo(2, 3))
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d above the log end after truncation", hw)
	}
	// As leader, the retry of the batch at sequence 0 is a duplicate and
	// the truncated one at sequence 2 is new.
	c.setLeader(t, 2, []ids.NodeID{2})
	b0 := batch(t, 2, 7, 0, "a")
	res, err := p.Append(b0, FromClient)
	must(t, err)
	if !res.Duplicate || res.BaseOffset != 0 {
		t.Fatalf("retry after failover: %+v, want duplicate at 0", res)
	}
	b1 := batch(t, 2, 7, 2, "a")
	res, err = p.Append(b1, FromClient)
	must(t, err)
	if res.Duplicate || res.BaseOffset != 2 {
		t.Fatalf("truncated batch re-sent: %+v, want new at 2", res)
	}
}

func TestLeaderEndOffsetForEpoch(t *testing.T) {
	reg, c := newNode(t, 1, image(1, []ids.NodeID{1, 2}, []ids.NodeID{1, 2}), time.Minute)
	p := reg.Get("t", 0)
	b := batch(t, 3, -1, -1, "a")
	_, err := p.Append(b, FromClient) // epoch 3: [0, 3)
	must(t, err)
	c.setLeader(t, 1, []ids.NodeID{1, 2}) // epoch 4, nothing written yet
	if e, end := p.EndOffsetForEpoch(3); e != 3 || end != 3 {
		t.Fatalf("epoch 3 ends at (%d, %d), want (3, 3)", e, end)
	}
	if e, end := p.EndOffsetForEpoch(4); e != 4 || end != 3 {
		t.Fatalf("epoch 4 ends at (%d, %d), want (4, 3)", e, end)
	}
	if e, end := p.EndOffsetForEpoch(5); e != -1 || end != -1 {
		t.Fatalf("epoch 5 ends at (%d, %d), want unknown", e, end)
	}
	b = batch(t, 1, -1, -1, "b")
	_, err = p.Append(b, FromClient)
	must(t, err)
	if e, end := p.EndOffsetForEpoch(3); e != 3 || end != 3 {
		t.Fatalf("epoch 3 ends at (%d, %d) after an epoch-4 append, want (3, 3)", e, end)
	}
	if e, end := p.EndOffsetForEpoch(4); e != 4 || end != 4 {
		t.Fatalf("epoch 4 ends at (%d, %d), want (4, 4)", e, end)
	}
}

func TestFollowerRestartsAtLeaderLogStart(t *testing.T) {
	reg, _ := newNode(t, 2, image(1, []ids.NodeID{1, 2}, []ids.NodeID{1, 2}), time.Minute)
	p := reg.Get("t", 0)
	var next int64
	for i := int32(0); i < 3; i++ {
		b := batch(t, 2, 7, i*2, "a")
		record.SetBaseOffset(b, next)
		record.SetPartitionLeaderEpoch(b, 3)
		next += 2
		if _, err := p.AppendAsFollower(b, 3); err != nil {
			t.Fatal(err)
		}
	}
	p.UpdateFollowerHW(6)
	// The leader's log now starts at 4: everything below goes, and the
	// log continues at 4 with what the leader sends.
	must(t, p.TruncateFullyAndStartAt(4, 3))
	if lso, leo, hw := p.LogStartOffset(), p.LogEndOffset(), p.HighWatermark(); lso != 4 || leo != 4 || hw != 4 {
		t.Fatalf("after restart at 4: log start %d, end %d, HW %d; want 4 4 4", lso, leo, hw)
	}
	b := batch(t, 2, 7, 4, "b")
	record.SetBaseOffset(b, 4)
	record.SetPartitionLeaderEpoch(b, 3)
	if _, err := p.AppendAsFollower(b, 3); err != nil {
		t.Fatalf("append at the new start: %v", err)
	}
	if leo := p.LogEndOffset(); leo != 6 {
		t.Fatalf("log end %d, want 6", leo)
	}
}

func TestHighWatermarkCheckpointSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *Registry {
		reg := NewRegistry(dir, 1, config.Default().Log, slog.New(slog.DiscardHandler))
		must(t, reg.Apply(image(1, []ids.NodeID{1, 2}, []ids.NodeID{1})))
		return reg
	}
	reg := open()
	p := reg.Get("t", 0)
	b := batch(t, 4, -1, -1, "a")
	res, err := p.Append(b, FromClient)
	must(t, err)
	must(t, p.WaitVisible(context.Background(), res.LastOffset))
	must(t, reg.Close())

	reg = open()
	if hw := reg.Get("t", 0).HighWatermark(); hw != 4 {
		t.Fatalf("HW %d after a restart, want the checkpointed 4", hw)
	}
	must(t, reg.Close())

	// Without a checkpoint nothing recovered is known to be committed.
	must(t, os.Remove(filepath.Join(reg.Dir("t", 0), storage.HighWatermarkFile)))
	reg = NewRegistry(dir, 1, config.Default().Log, slog.New(slog.DiscardHandler))
	must(t, reg.Apply(image(1, []ids.NodeID{1, 2}, []ids.NodeID{1, 2})))
	defer func() { must(t, reg.Close()) }()
	if hw := reg.Get("t", 0).HighWatermark(); hw != 0 {
		t.Fatalf("HW %d after a restart without a checkpoint, want 0", hw)
	}
}
