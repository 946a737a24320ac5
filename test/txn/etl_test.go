package txn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestGroupTransactSessionETL is the consume-transform-produce loop of
// franz-go's TestTxnEtl on a small scale: members of one group read an
// input topic with kgo.GroupTransactSession and, per poll, write each
// record to an output topic and commit the input offsets in the same
// transaction. A second member joins mid-run and the first leaves
// (rebalances revoke partitions in the middle of transactions, whose
// ends then abort). Every input record must be in the read_committed
// output exactly once, and the group's committed offsets must equal the
// input's end.
func TestGroupTransactSessionETL(t *testing.T) {
	b := startBroker(t)
	groupTransactETL(t, b.Addr(), 1, 3000, nil)
}

// seeds is a client option for a comma-separated list of brokers.
func seeds(addr string) kgo.Opt { return kgo.SeedBrokers(strings.Split(addr, ",")...) }

// groupTransactETL runs the consume-transform-produce of
// TestGroupTransactSessionETL over n records against the brokers of addr
// (comma separated), its topics at replication factor rf; midRun, if not
// nil, runs while both members are in the group.
func groupTransactETL(t *testing.T, addr string, rf int16, n int, midRun func(group string)) {
	const parts = 4
	in, out := testkit.TopicName(t, "in"), testkit.TopicName(t, "out")
	adm := kadm.NewClient(testkit.NewClient(t, addr, seeds(addr)))
	for _, topic := range []string{in, out} {
		if r, err := adm.CreateTopic(context.Background(), parts, rf, nil, topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r.Err)
		}
	}
	group := testkit.TopicName(t, "group")
	p := testkit.NewClient(t, addr, seeds(addr), testkit.ManualPartitioner())
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: in, Partition: int32(i % parts), Value: []byte(fmt.Sprintf("r%05d", i))}
	}
	testkit.ProduceSync(t, p, recs)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	member := func(stop <-chan struct{}, name string) {
		s, err := kgo.NewGroupTransactSession(
			seeds(addr),
			kgo.TransactionalID(group+"-"+name),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(in),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.FetchMaxBytes(4<<10), // small polls: many transactions
			kgo.DefaultProduceTopic(out),
		)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return
		}
		defer s.Close()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := s.PollFetches(pctx)
			pcancel()
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !killedPeer(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: fetch: %w", name, err))
					mu.Unlock()
				}
			})
			if fs.NumRecords() == 0 {
				continue
			}
			if err := s.Begin(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: begin: %w", name, err))
				mu.Unlock()
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				s.Produce(ctx, &kgo.Record{Partition: r.Partition, Value: r.Value}, nil)
			})
			// A failed end is retried by the next poll: the session
			// has aborted and the records are read again.
			if _, err := s.End(ctx, kgo.TryCommit); err != nil {
				t.Logf("%s: end: %v", name, err)
			}
		}
	}
	stop1, stop2 := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); member(stop1, "one") }()
	waitCommitted(t, addr, group, in, n/4)
	go func() { defer wg.Done(); member(stop2, "two") }()
	waitCommitted(t, addr, group, in, n/2)
	if midRun != nil {
		midRun(group)
	}
	close(stop1)
	waitCommitted(t, addr, group, in, n)
	close(stop2)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}

	got := readAllCommitted(t, addr, out, n)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for _, r := range recs {
		if c := seen[string(r.Value)]; c != 1 {
			t.Errorf("input %s is %d times in the read_committed output", r.Value, c)
		}
	}
	if len(got) != n {
		t.Errorf("read_committed output has %d records, want %d", len(got), n)
	}
}

// killedPeer reports a failed dial: franz-go hands a consumer a failed
// join or heartbeat through its fetches, and one that found the group
// coordinator in the moments between a node's kill and the cluster moving
// its leaderships dials the dead node once before it finds the new
// coordinator. The group goes on; only the cluster test kills nodes.
func killedPeer(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// waitCommitted polls the group's committed offsets on topic until they
// sum to at least want. A failed poll replaces the client: franz-go keeps
// the group coordinator it found for a batched OffsetFetch even when that
// node no longer answers (a dial error there does not drop the cached
// coordinator, and an admin-only client refreshes its metadata only every
// few minutes), so a client that looked the coordinator up in the moments
// between a node's kill and the cluster moving its leaderships would ask
// the dead node until the deadline while the group goes on committing.
func waitCommitted(t *testing.T, addr, group, topic string, want int) {
	t.Helper()
	newAdm := func() *kadm.Client {
		cl, err := kgo.NewClient(seeds(addr), kgo.ClientID("strom-testkit"))
		if err != nil {
			t.Fatalf("kgo.NewClient: %v", err)
		}
		return kadm.NewClient(cl)
	}
	adm := newAdm()
	defer func() { adm.Close() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		os, err := adm.FetchOffsets(context.Background(), group)
		if err != nil {
			adm.Close()
			adm = newAdm()
		}
		sum := int64(0)
		if err == nil {
			os.Each(func(o kadm.OffsetResponse) {
				if o.Topic == topic {
					sum += o.At
				}
			})
		}
		if sum >= int64(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s committed %d of %d records of %s (%v)", group, sum, want, topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readAllCommitted reads every partition of topic with isolation_level=1
// until it has n records (or a deadline), then polls once more for
// anything beyond n.
func readAllCommitted(t *testing.T, addr, topic string, n int) []string {
	t.Helper()
	cl := testkit.NewClient(t, addr, seeds(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	return out
}

// TestGroupTransactSessionETLWithKill runs the same consume-transform-
// produce on a 3-node cluster at replication factor 3 (20,000 records) and,
// while both members are in the group, SIGKILLs the node coordinating the
// first member's transactions (also the leader of some of the topics'
// partitions), lets the work go on without it, and restarts it. Every
// input record must still be in the read_committed output exactly once,
// and the committed offsets must reach the input's end.
func TestGroupTransactSessionETLWithKill(t *testing.T) {
	fullTxn(t)
	c := testkit.StartCluster(t, 3)
	addr := c.Bootstrap()
	const n = 20000
	groupTransactETL(t, addr, 3, n, func(group string) {
		adm := kadm.NewClient(testkit.NewClient(t, addr, seeds(addr)))
		id := group + "-one"
		co := adm.FindTxnCoordinators(context.Background(), id)[id]
		if co.Err != nil {
			t.Fatalf("FindCoordinator %s: %v", id, co.Err)
		}
		node := c.Node(co.NodeID)
		t.Logf("killing node %d, the transaction coordinator of %s", node.ID(), id)
		node.Kill(t)
		waitCommitted(t, addr, group, testkit.TopicName(t, "in"), n*3/4)
		node.Restart(t)
	})
}
