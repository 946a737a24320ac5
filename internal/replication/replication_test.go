package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/server"
	"github.com/strom-broker/strom/internal/storage"
	"github.com/strom-broker/strom/internal/vfs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is an in-process cluster: every node has a registry, a server
// (its Kafka and replication listener at once) and a fetcher manager;
// one fake controller holds the image and publishes it to every node in
// order, as the Raft controller does.
type cluster struct {
	t       testing.TB
	lag     time.Duration
	maxWait time.Duration // the fetchers' MaxWait; 0: 200ms
	mu      sync.Mutex    // serializes changes, like the controller's change lock
	im      *metadata.Image
	nodes   map[ids.NodeID]*node
	log     *slog.Logger
	fs      map[ids.NodeID]vfs.FS // nodes whose partitions live on a file system of their own
}

type node struct {
	id   ids.NodeID
	reg  *partition.Registry
	srv  *server.Server
	addr string

	mu  sync.Mutex
	mgr *Manager // nil while stalled
}

// fakeController serves the handlers and the leaders' AlterISR calls.
// Other controller methods are not used by these tests.
type fakeController struct {
	controller.Controller
	c *cluster
}

func (f fakeController) Image() *metadata.Image {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.c.im
}

func (f fakeController) Subscribe(func(prev, next *metadata.Image)) {}

// Fresh: the fake is always in touch with its (imaginary) quorum.
func (f fakeController) Fresh() bool { return true }

// AlterISR applies Kafka's AlterPartition checks and publishes the change.
func (f fakeController) AlterISR(_ context.Context, topic string, part int32, epoch ids.LeaderEpoch, isr []ids.NodeID) error {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.im.Clone()
	pm := &next.Topics[topic].Partitions[part]
	if pm.LeaderEpoch != epoch {
		return controller.ErrStaleLeaderEpoch
	}
	if !slices.Contains(isr, pm.Leader) {
		return controller.ErrInvalidISR
	}
	pm.ISR = slices.Clone(isr)
	c.publishLocked(next)
	return nil
}

func (c *cluster) publishLocked(next *metadata.Image) {
	c.im = next
	for _, id := range []ids.NodeID{1, 2, 3} {
		n := c.nodes[id]
		if n == nil {
			continue
		}
		if err := n.reg.Apply(next); err != nil {
			c.t.Errorf("node %d apply: %v", id, err)
		}
		n.mu.Lock()
		if n.mgr != nil {
			n.mgr.Apply(next)
		}
		n.mu.Unlock()
	}
}

// newCluster starts nodes 1..n hosting topic t, one partition replicated
// on all of them, led by node 1.
func newCluster(t testing.TB, n int, lag time.Duration) *cluster {
	t.Helper()
	return newClusterWith(t, n, lag, nil)
}

// newClusterWith is newCluster with topic config overrides.
func newClusterWith(t testing.TB, n int, lag time.Duration, configs map[string]string) *cluster {
	t.Helper()
	return newClusterFS(t, n, lag, configs, nil)
}

// newClusterFS is newClusterWith with the file systems of some nodes.
func newClusterFS(t testing.TB, n int, lag time.Duration, configs map[string]string, fs map[ids.NodeID]vfs.FS) *cluster {
	t.Helper()
	c := &cluster{t: t, lag: lag, nodes: map[ids.NodeID]*node{}, log: slog.New(slog.DiscardHandler), fs: fs}
	ctrl := fakeController{c: c}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	var replicas []ids.NodeID
	var brokers []metadata.Broker
	for i := 1; i <= n; i++ {
		id := ids.NodeID(i)
		nd := &node{id: id}
		nd.reg = partition.NewRegistry(t.TempDir(), id, cfg.Log, c.log.With("node", id))
		if fs[id] != nil {
			nd.reg.SetFS(fs[id])
		}
		nd.reg.SetAlterISR(ctrl.AlterISR)
		nd.reg.SetReplicaLagTimeMax(lag)
		nd.srv = server.New(cfg, nil, c.log)
		if err := nd.srv.Listen(); err != nil {
			t.Fatal(err)
		}
		nd.addr = nd.srv.Addr().String()
		host, port, _ := net.SplitHostPort(nd.addr)
		p, _ := strconv.Atoi(port)
		brokers = append(brokers, metadata.Broker{ID: id, Host: host, Port: int32(p), Replication: nd.addr})
		replicas = append(replicas, id)
		c.nodes[id] = nd
	}
	tp := &metadata.Topic{Name: "t", ID: metadata.NewTopicID(), Configs: configs, Partitions: []metadata.Partition{
		{Index: 0, Leader: 1, LeaderEpoch: 3, Replicas: replicas, ISR: slices.Clone(replicas)},
	}}
	c.im = &metadata.Image{ClusterID: "test", ControllerID: 1, Brokers: brokers,
		Topics: map[string]*metadata.Topic{"t": tp}, TopicsByID: map[metadata.TopicID]*metadata.Topic{tp.ID: tp}}
	for _, nd := range c.nodes {
		if err := nd.reg.Apply(c.im); err != nil {
			t.Fatal(err)
		}
		nd.srv.SetEnv(handler.NewEnv(cfg, ctrl, nd.reg, c.log))
		nd.srv.Serve()
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			c.stall(nd.id)
		}
		for _, nd := range c.nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := nd.srv.Shutdown(ctx); err != nil {
				t.Error(err)
			}
			cancel()
			// A node whose file system failed on purpose closes with the failure.
			if err := nd.reg.Close(); err != nil && (c.fs[nd.id] == nil || !errors.Is(err, storage.ErrFailed)) {
				t.Error(err)
			}
		}
	})
	for _, nd := range c.nodes {
		c.resume(nd.id)
	}
	return c
}

// stall stops a node's fetchers (the node keeps serving).
func (c *cluster) stall(id ids.NodeID) {
	n := c.nodes[id]
	n.mu.Lock()
	mgr := n.mgr
	n.mgr = nil
	n.mu.Unlock()
	if mgr != nil {
		mgr.Close()
	}
}

// resume starts a node's fetchers on the current image.
func (c *cluster) resume(id ids.NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	maxWait := c.maxWait
	if maxWait == 0 {
		maxWait = 200 * time.Millisecond
	}
	n.mgr = NewManager(Config{NodeID: id, MaxWait: maxWait, Backoff: 20 * time.Millisecond}, n.reg, c.log)
	n.mgr.Apply(c.im)
}

// elect makes leader the partition's leader with a new epoch.
func (c *cluster) elect(leader ids.NodeID, isr []ids.NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.im.Clone()
	pm := &next.Topics["t"].Partitions[0]
	pm.Leader, pm.LeaderEpoch, pm.ISR = leader, pm.LeaderEpoch+1, slices.Clone(isr)
	c.publishLocked(next)
}

func (c *cluster) isr() []ids.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.im.Topics["t"].Partitions[0].ISR
}

func (c *cluster) part(id ids.NodeID) *partition.Partition { return c.nodes[id].reg.Get("t", 0) }

// produce appends one batch of n records at the leader and returns its
// last offset.
func (c *cluster) produce(leader ids.NodeID, n int, tag string) ids.Offset {
	c.t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Key: []byte(tag), Value: bytes.Repeat([]byte(tag), 10+i)}
	}
	return appendTo(c.t, c.part(leader), recs)
}

// acksAll waits as an acks=all produce does.
func (c *cluster) acksAll(leader ids.NodeID, last ids.Offset) {
	c.t.Helper()
	waitAcksAll(c.t, c.part(leader), last, fmt.Sprintf("at node %d", leader))
}

// newBatch builds one batch of recs, as a client would.
func newBatch(t testing.TB, recs []record.Record) []byte {
	t.Helper()
	b, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendTo appends one batch of recs to p, which must lead, and returns
// its last offset.
func appendTo(t testing.TB, p *partition.Partition, recs []record.Record) ids.Offset {
	t.Helper()
	b := newBatch(t, recs)
	res, err := p.Append(b, partition.FromClient)
	if err != nil {
		t.Fatalf("append to %s/%d: %v", p.Topic, p.Index, err)
	}
	return res.LastOffset
}

// waitAcksAll waits, as an acks=all produce does, until last is below p's
// high watermark; what says where, for the failure message.
func waitAcksAll(t testing.TB, p *partition.Partition, last ids.Offset, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitVisible(ctx, last); err != nil {
		t.Fatalf("acks=all wait for %s/%d offset %d %s: %v", p.Topic, p.Index, last, what, err)
	}
}

// logBytes reads a node's whole log.
func logBytes(t testing.TB, p *partition.Partition) []byte {
	t.Helper()
	var out []byte
	off, end := p.LogStartOffset(), p.LogEndOffset()
	for off < end {
		rr, _, err := p.Read(off, 1<<20, partition.BoundLogEnd, true)
		if err != nil {
			t.Fatal(err)
		}
		if rr.Size() == 0 {
			rr.Release()
			break
		}
		out, err = rr.AppendTo(out)
		last := rr.LastOffset()
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		off = last + 1
	}
	return out
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// converged waits until every node has the leader's log end and high
// watermark, then checks the logs are byte for byte the same.
func (c *cluster) converged(leader ids.NodeID) {
	c.t.Helper()
	lp := c.part(leader)
	for id := range c.nodes {
		p := c.part(id)
		waitFor(c.t, fmt.Sprintf("node %d to catch up with node %d", id, leader), func() bool {
			return p.LogEndOffset() == lp.LogEndOffset() && p.HighWatermark() == lp.HighWatermark()
		})
	}
	want := logBytes(c.t, lp)
	for id := range c.nodes {
		if got := logBytes(c.t, c.part(id)); !bytes.Equal(got, want) {
			c.t.Fatalf("node %d log (%d bytes) differs from leader %d's (%d bytes)", id, len(got), leader, len(want))
		}
	}
}

func TestFollowersConvergeByteExact(t *testing.T) {
	c := newCluster(t, 3, time.Minute)
	var last ids.Offset
	for i := 0; i < 40; i++ {
		last = c.produce(1, 1+i%7, strconv.Itoa(i))
	}
	c.acksAll(1, last)
	lp := c.part(1)
	if hw := lp.HighWatermark(); hw != last+1 {
		t.Fatalf("leader HW %d, want %d", hw, last+1)
	}
	for _, id := range []ids.NodeID{2, 3} {
		if got := lp.FollowerLEO(id); got < last+1 {
			t.Fatalf("leader knows follower %d at %d, below the HW %d", id, got, last+1)
		}
		if d := c.part(id).FlushedOffset(); d < last+1 {
			t.Fatalf("follower %d has %d on disk, below the acknowledged %d", id, d, last+1)
		}
	}
	c.converged(1)
	if got := c.part(2).LatestEpoch(); got != 3 {
		t.Fatalf("follower epoch %d, want the leader's 3", got)
	}
}

func TestAcksAllWaitsForEveryInSyncFollower(t *testing.T) {
	c := newCluster(t, 3, time.Minute)
	c.acksAll(1, c.produce(1, 5, "a"))
	c.converged(1)
	c.stall(3)
	stalledAt := c.part(3).LogEndOffset()
	last := c.produce(1, 5, "b")
	acked := make(chan error, 1)
	go func() {
		acked <- c.part(1).WaitVisible(context.Background(), last)
	}()
	// Node 2 has the write on disk and told the leader so...
	waitFor(t, "node 2 to report the write", func() bool { return c.part(1).FollowerLEO(2) == last+1 })
	// ...but node 3, in the ISR, does not: the HW stays at its log end.
	if hw := c.part(1).HighWatermark(); hw != stalledAt {
		t.Fatalf("HW %d with an in-sync follower at %d", hw, stalledAt)
	}
	select {
	case err := <-acked:
		t.Fatalf("acks=all answered (%v) before every in-sync replica had the write", err)
	default:
	}
	c.resume(3)
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	c.converged(1)
}

func TestISRShrinksOnStalledFollowerAndExpandsWhenCaughtUp(t *testing.T) {
	c := newCluster(t, 3, 200*time.Millisecond)
	c.acksAll(1, c.produce(1, 3, "a"))
	c.stall(3)
	last := c.produce(1, 3, "b")
	waitFor(t, "ISR shrink", func() bool { return slices.Equal(c.isr(), []ids.NodeID{1, 2}) })
	for id := range c.nodes {
		if got := c.part(id).ISR(); !slices.Equal(got, []ids.NodeID{1, 2}) {
			t.Fatalf("node %d ISR %v, want [1 2]", id, got)
		}
	}
	// With node 3 out of the ISR, acks=all completes without it.
	c.acksAll(1, last)
	if got := c.part(3).LogEndOffset(); got > last {
		t.Fatalf("stalled node 3 has log end %d", got)
	}
	c.resume(3)
	waitFor(t, "ISR expand", func() bool { return slices.Equal(c.isr(), []ids.NodeID{1, 2, 3}) })
	c.converged(1)
}

func TestDivergedFollowerTruncatesAfterLeaderChange(t *testing.T) {
	c := newCluster(t, 3, time.Minute)
	var last ids.Offset
	for i := 0; i < 5; i++ {
		last = c.produce(1, 3, "committed"+strconv.Itoa(i))
	}
	c.acksAll(1, last)
	c.converged(1)
	committed := logBytes(t, c.part(1))
	hw := c.part(1).HighWatermark()

	// Node 1 appends a tail nobody else gets, then loses leadership.
	c.stall(2)
	c.stall(3)
	for i := 0; i < 3; i++ {
		c.produce(1, 2, "lost"+strconv.Itoa(i))
	}
	if c.part(1).LogEndOffset() <= hw || c.part(1).HighWatermark() != hw {
		t.Fatalf("setup: leader LEO %d HW %d, want an uncommitted tail above %d", c.part(1).LogEndOffset(), c.part(1).HighWatermark(), hw)
	}
	c.elect(2, []ids.NodeID{2, 1, 3})
	if _, err := c.part(1).Append(newBatch(t, []record.Record{{Value: []byte("refused")}}), partition.FromClient); !errors.Is(err, partition.ErrNotLeader) {
		t.Fatalf("old leader append: %v, want ErrNotLeader", err)
	}
	c.resume(2)
	c.resume(3)
	last = c.produce(2, 4, "new")
	c.acksAll(2, last)
	c.converged(2)
	got := logBytes(t, c.part(1))
	if !bytes.HasPrefix(got, committed) {
		t.Fatal("node 1 lost committed data")
	}
	if bytes.Contains(got, []byte("lost")) {
		t.Fatal("node 1 kept its uncommitted tail")
	}
	if e := c.part(1).LatestEpoch(); e != 4 {
		t.Fatalf("node 1 latest epoch %d, want 4", e)
	}
}

func TestFollowerRefusesConsumersAndProducers(t *testing.T) {
	c := newCluster(t, 2, time.Minute)
	c.acksAll(1, c.produce(1, 2, "a"))
	c.converged(1)
	conn, err := dialLeader(context.Background(), c.nodes[2].addr, time.Second, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := conn.fetch(req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("consumer fetch at a follower: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(code))
	}
	// A replica fetch from a stale epoch is fenced by the leader.
	conn1, err := dialLeader(context.Background(), c.nodes[1].addr, time.Second, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn1.Close()
	req.ReplicaID = 2
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 2
	resp, err = conn1.fetch(req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("replica fetch at a stale epoch: %v, want FENCED_LEADER_EPOCH", kerr.ErrorForCode(code))
	}
}

// produceRequest sends one acks=all Produce request to a node.
func (c *cluster) produceRequest(id ids.NodeID, tag string) *kmsg.ProduceResponseTopicPartition {
	c.t.Helper()
	b, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]record.Record{{Value: []byte(tag)}})
	if err != nil {
		c.t.Fatal(err)
	}
	conn, err := dialLeader(context.Background(), c.nodes[id].addr, time.Second, "test", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := conn.roundTrip(req, 40*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	return &resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

func TestProduceErrors(t *testing.T) {
	c := newClusterWith(t, 3, 200*time.Millisecond, map[string]string{"min.insync.replicas": "3"})
	if sp := c.produceRequest(1, "ok"); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("acks=all produce: %v at %d, want success at 0", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	if sp := c.produceRequest(2, "follower"); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce at a follower: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(sp.ErrorCode))
	}
	// Node 3 stalls while the write waits for it: the ISR shrinks below
	// min.insync.replicas and the write is answered as Kafka does.
	c.stall(3)
	if sp := c.produceRequest(1, "shrinking"); sp.ErrorCode != kerr.NotEnoughReplicasAfterAppend.Code {
		t.Fatalf("acks=all produce while the ISR shrinks: %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", kerr.ErrorForCode(sp.ErrorCode))
	}
	waitFor(t, "ISR shrink", func() bool { return slices.Equal(c.isr(), []ids.NodeID{1, 2}) })
	if sp := c.produceRequest(1, "too few"); sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all produce with ISR below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(sp.ErrorCode))
	}
	c.resume(3)
	waitFor(t, "ISR expand", func() bool { return slices.Equal(c.isr(), []ids.NodeID{1, 2, 3}) })
	if sp := c.produceRequest(1, "again"); sp.ErrorCode != 0 {
		t.Fatalf("acks=all produce after the ISR grew back: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	c.converged(1)
}

// BenchmarkReplicatedAcksAll measures acks=all appends of 16 KiB batches to
// a partition replicated on three in-process nodes (fdatasync on each).
func BenchmarkReplicatedAcksAll(b *testing.B) {
	c := newCluster(b, 3, time.Minute)
	recs := make([]record.Record, 16)
	for i := range recs {
		recs[i] = record.Record{Value: bytes.Repeat([]byte{'x'}, 1000)}
	}
	batch, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		b.Fatal(err)
	}
	p := c.part(1)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	const inFlight = 8
	offs := make(chan ids.Offset, inFlight)
	done := make(chan error, 1)
	go func() {
		var err error
		for off := range offs {
			if err == nil {
				err = p.WaitVisible(context.Background(), off)
			}
		}
		done <- err
	}()
	for i := 0; i < b.N; i++ {
		res, err := p.Append(slices.Clone(batch), partition.FromClient)
		if err != nil {
			b.Fatal(err)
		}
		offs <- res.LastOffset
	}
	close(offs)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// addTopic publishes topic name with parts partitions replicated on every
// node, partition i led by node 1+i%n.
func (c *cluster) addTopic(name string, parts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.im.Clone()
	var replicas []ids.NodeID
	for _, b := range next.Brokers {
		replicas = append(replicas, b.ID)
	}
	tp := &metadata.Topic{Name: name, ID: metadata.NewTopicID()}
	for i := 0; i < parts; i++ {
		tp.Partitions = append(tp.Partitions, metadata.Partition{Index: int32(i), Leader: replicas[i%len(replicas)], LeaderEpoch: 0,
			Replicas: slices.Clone(replicas), ISR: slices.Clone(replicas)})
	}
	next.Topics[name], next.TopicsByID[tp.ID] = tp, tp
	c.publishLocked(next)
}

// moveLeader makes the next node of the ISR lead partition idx of topic.
func (c *cluster) moveLeader(topic string, idx int32) ids.NodeID {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.im.Clone()
	pm := &next.Topics[topic].Partitions[idx]
	i := slices.Index(pm.ISR, pm.Leader)
	pm.Leader = pm.ISR[(i+1)%len(pm.ISR)]
	pm.LeaderEpoch++
	c.publishLocked(next)
	return pm.Leader
}

// values maps every record offset of a log to its value.
func values(t *testing.T, p *partition.Partition) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	err := record.Split(logBytes(t, p), func(b []byte, h record.BatchHeader) error {
		return record.Records(b, func(r record.Record) error {
			out[h.BaseOffset+int64(r.OffsetDelta)] = string(r.Value)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLeadershipMovesUnderLoad moves the leadership of several partitions
// around the nodes, round after round, with writes both acknowledged and
// left in flight at the old leader. Every node must end with the same log
// per partition, holding every acknowledged record at its offset.
func TestLeadershipMovesUnderLoad(t *testing.T) {
	c := newCluster(t, 3, time.Minute)
	const parts = 4
	c.addTopic("m", parts)
	leaders := make([]ids.NodeID, parts)
	for i := range leaders {
		leaders[i] = ids.NodeID(1 + i%3)
	}
	acked := make([]map[int64]string, parts)
	for i := range acked {
		acked[i] = map[int64]string{}
	}
	for round := 0; round < 6; round++ {
		for i := int32(0); i < parts; i++ {
			p := c.nodes[leaders[i]].reg.Get("m", i)
			for b := 0; b < 3; b++ {
				val := fmt.Sprintf("r%d-p%d-b%d", round, i, b)
				batch, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
					[]record.Record{{Value: []byte(val)}})
				if err != nil {
					t.Fatal(err)
				}
				res, err := p.Append(batch, partition.FromClient)
				if err != nil {
					t.Fatalf("round %d: append to m-%d at node %d: %v", round, i, leaders[i], err)
				}
				if b < 2 { // the last batch of each round is left unacknowledged
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					err = p.WaitVisible(ctx, res.LastOffset)
					cancel()
					if err != nil {
						t.Fatalf("round %d: acks=all on m-%d: %v", round, i, err)
					}
					acked[i][int64(res.BaseOffset)] = val
				}
			}
			leaders[i] = c.moveLeader("m", i)
		}
	}
	for i := int32(0); i < parts; i++ {
		lp := c.nodes[leaders[i]].reg.Get("m", i)
		// One acknowledged write in the final epoch lets every follower
		// learn the final HW.
		batch, _ := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]record.Record{{Value: []byte("final")}})
		res, err := lp.Append(batch, partition.FromClient)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = lp.WaitVisible(ctx, res.LastOffset)
		cancel()
		if err != nil {
			t.Fatalf("final acks=all on m-%d: %v", i, err)
		}
		want := logBytes(t, lp)
		for id, n := range c.nodes {
			p := n.reg.Get("m", i)
			waitFor(t, fmt.Sprintf("node %d to converge on m-%d", id, i), func() bool {
				return p.LogEndOffset() == lp.LogEndOffset() && p.HighWatermark() == lp.HighWatermark()
			})
			if !bytes.Equal(logBytes(t, p), want) {
				t.Fatalf("node %d: m-%d differs from its leader's", id, i)
			}
		}
		got := values(t, lp)
		for off, val := range acked[i] {
			if got[off] != val {
				t.Fatalf("m-%d: acknowledged %q at offset %d, log has %q", i, val, off, got[off])
			}
		}
	}
}

// TestNewPartitionsAreNotHeldBehindParkedFetches: with replica fetches
// allowed to park for an hour, partitions added after the followers parked
// on an idle one still replicate, so acks=all completes on each: assigning
// a partition interrupts the parked fetch, and a partition whose leader
// could not serve it yet (the followers may apply the new image before it)
// is retried after its backoff rather than after the next parked fetch.
func TestNewPartitionsAreNotHeldBehindParkedFetches(t *testing.T) {
	c := newCluster(t, 3, time.Minute)
	c.maxWait = time.Hour
	for id := ids.NodeID(1); id <= 3; id++ {
		c.stall(id)
		c.resume(id)
	}
	c.acksAll(1, c.produce(1, 5, "idle"))
	// The followers have the batch and are now parked on the idle topic.

	c.addTopic("u", 3)
	for i := int32(0); i < 3; i++ {
		leader := c.im.Topics["u"].Partitions[i].Leader
		p := c.nodes[leader].reg.Get("u", i)
		waitAcksAll(t, p, appendTo(t, p, []record.Record{{Value: []byte("new")}}), fmt.Sprintf("(new partition, leader %d)", leader))
	}
}

// TestRefusedPartitionIsRetriedAfterItsBackoff: a follower that applies a
// new partition before its leader does is refused it (unknown partition)
// and leaves it out of its fetches for the backoff. With the fetches to
// that leader allowed to park for an hour on an idle partition, the
// refused one must still be fetched again once the leader knows it: the
// fetcher parks no longer than until the backoff ends.
func TestRefusedPartitionIsRetriedAfterItsBackoff(t *testing.T) {
	c := newCluster(t, 3, time.Minute)
	refusals := &messageCounter{msg: "leader cannot serve partition yet"}
	c.log = slog.New(refusals)
	c.maxWait = time.Hour
	for id := ids.NodeID(1); id <= 3; id++ {
		c.stall(id)
		c.resume(id)
	}
	c.acksAll(1, c.produce(1, 5, "idle"))

	// Topic u, led by node 1, reaches the followers first.
	c.mu.Lock()
	next := c.im.Clone()
	tp := &metadata.Topic{Name: "u", ID: metadata.NewTopicID(), Partitions: []metadata.Partition{
		{Index: 0, Leader: 1, Replicas: []ids.NodeID{1, 2, 3}, ISR: []ids.NodeID{1, 2, 3}},
	}}
	next.Topics["u"], next.TopicsByID[tp.ID] = tp, tp
	c.im = next
	for _, id := range []ids.NodeID{2, 3} {
		if err := c.nodes[id].reg.Apply(next); err != nil {
			t.Fatal(err)
		}
		c.nodes[id].mgr.Apply(next)
	}
	c.mu.Unlock()
	waitFor(t, "both followers to be refused u/0 by node 1", func() bool { return refusals.n.Load() >= 2 })

	c.mu.Lock()
	if err := c.nodes[1].reg.Apply(next); err != nil {
		t.Fatal(err)
	}
	c.nodes[1].mgr.Apply(next)
	c.mu.Unlock()
	p := c.nodes[1].reg.Get("u", 0)
	waitAcksAll(t, p, appendTo(t, p, []record.Record{{Value: []byte("after the refusal")}}), "after the followers were refused it")
}

// messageCounter is a slog handler counting the records whose message is msg.
type messageCounter struct {
	msg string
	n   atomic.Int64
}

func (m *messageCounter) Enabled(context.Context, slog.Level) bool { return true }
func (m *messageCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == m.msg {
		m.n.Add(1)
	}
	return nil
}
func (m *messageCounter) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m *messageCounter) WithGroup(string) slog.Handler      { return m }
