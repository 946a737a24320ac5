package txn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestTxnSoak is a consume-transform-produce soak on a 3-node cluster
// (each node its own process, topics at replication factor 3): a paced
// idempotent producer writes numbered input records while two members of
// one group copy them to the output with kgo.GroupTransactSession, each
// poll one transaction that also commits the input offsets. During the
// run the node hosting the transaction coordinator of the first member's
// transactional id (asked with FindCoordinator key type 1) is SIGKILLed
// and restarted, and later the leader of an output partition. Afterwards
// every input record is exactly once in the read_committed output and the
// group's committed offsets are the input's end offsets. STROM_TXN_SOAK=1
// (make txn-soak); TXN_SOAK_RECORDS and TXN_SOAK_RATE (records a second)
// size it; TXN_SOAK_REPORT names a file for the figures.
func TestTxnSoak(t *testing.T) {
	if os.Getenv("STROM_TXN_SOAK") == "" {
		t.Skip("STROM_TXN_SOAK=1 only (make txn-soak)")
	}
	n := envInt(t, "TXN_SOAK_RECORDS", 40000)
	rate := envInt(t, "TXN_SOAK_RATE", 800)
	const parts = 6
	stallLimit := time.Duration(envInt(t, "TXN_SOAK_STALL_SECONDS", 180)) * time.Second
	var copts []testkit.ClusterOption
	if lvl := os.Getenv("TXN_SOAK_LOG_LEVEL"); lvl != "" {
		copts = append(copts, testkit.WithLogLevel(lvl))
	}
	c := testkit.StartCluster(t, 3, append(copts, testkit.WithNodeTOML("transaction_state_partitions = 6\noffsets_topic_partitions = 6\n"))...)
	addr := c.Bootstrap()
	in, out, group := testkit.TopicName(t, "in"), testkit.TopicName(t, "out"), testkit.TopicName(t, "group")
	adm := kadm.NewClient(testkit.NewClient(t, addr, seeds(addr)))
	for _, topic := range []string{in, out} {
		if r, err := adm.CreateTopic(context.Background(), parts, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r.Err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()

	// The input: n numbered records, round-robin, at rate a second.
	produced := make(chan error, 1)
	go func() {
		p := testkit.NewClient(t, addr, seeds(addr), testkit.ManualPartitioner(), kgo.RequiredAcks(kgo.AllISRAcks()))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		per := max(rate/10, 1)
		var (
			firstMu sync.Mutex
			first   error
			wg      sync.WaitGroup
		)
		for i := 0; i < n; {
			select {
			case <-ctx.Done():
				produced <- ctx.Err()
				return
			case <-tick.C:
			}
			for j := 0; j < per && i < n; j, i = j+1, i+1 {
				wg.Add(1)
				p.Produce(ctx, &kgo.Record{Topic: in, Partition: int32(i % parts), Value: []byte(fmt.Sprintf("r%07d", i))},
					func(_ *kgo.Record, err error) {
						firstMu.Lock()
						if err != nil && first == nil {
							first = err
						}
						firstMu.Unlock()
						wg.Done()
					})
			}
		}
		wg.Wait()
		firstMu.Lock()
		defer firstMu.Unlock()
		produced <- first
	}()

	var commits, aborts, endErrors atomic.Int64
	var mu sync.Mutex
	var errs []error
	member := func(stop <-chan struct{}, name string) {
		s, err := kgo.NewGroupTransactSession(seeds(addr),
			kgo.TransactionalID(group+"-"+name),
			kgo.TransactionTimeout(30*time.Second),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(in),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.FetchMaxBytes(64<<10),
			kgo.DefaultProduceTopic(out),
			kgo.RequiredAcks(kgo.AllISRAcks()),
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
			default:
			}
			pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fs := s.PollFetches(pctx)
			pcancel()
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
			// A failed or aborted end makes the session read the
			// records again from the committed offsets.
			committed, err := s.End(ctx, kgo.TryCommit)
			switch {
			case err != nil:
				endErrors.Add(1)
				if !errors.Is(err, context.Canceled) {
					t.Logf("%s: end: %v", name, err)
				}
			case committed:
				commits.Add(1)
			default:
				aborts.Add(1)
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		wg.Add(1)
		go func() { defer wg.Done(); member(stop, name) }()
	}

	type fault struct {
		what      string
		node      int32
		at        time.Duration
		stall     time.Duration // from the kill to the next advance of the committed offsets
		committed int64         // committed input offsets at the kill
	}
	var faults []fault
	// The committed offsets, read with a client made afresh after any
	// error: kadm's sharded group requests keep asking a coordinator
	// that was SIGKILLed (its cached address) rather than looking it up
	// again.
	var offCl *kgo.Client
	defer func() {
		if offCl != nil {
			offCl.Close()
		}
	}()
	committedSum := func() int64 {
		if offCl == nil {
			var err error
			if offCl, err = kgo.NewClient(seeds(addr)); err != nil {
				t.Fatal(err)
			}
		}
		octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
		defer ocancel()
		offsets, err := kadm.NewClient(offCl).FetchOffsets(octx, group)
		if err == nil {
			err = offsets.Error()
		}
		if err != nil {
			offCl.Close()
			offCl = nil
			return -1
		}
		var sum int64
		offsets.Each(func(o kadm.OffsetResponse) {
			if o.Topic == in {
				sum += o.At
			}
		})
		return sum
	}
	waitSum := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(stallLimit); committedSum() < want; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				soakState(t, c, adm, group, in, out)
				t.Fatalf("group %s committed fewer than %d of %d input records", group, want, n)
			}
		}
	}
	kill := func(what string, node int32) {
		t.Helper()
		f := fault{what: what, node: node, at: time.Since(start), committed: committedSum()}
		t.Logf("%s: kill -9 node %d at %s, %d input records committed", what, node, f.at.Round(time.Millisecond), f.committed)
		killed := time.Now()
		c.Node(node).Kill(t)
		for deadline := time.Now().Add(stallLimit); committedSum() <= f.committed; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				soakState(t, c, adm, group, in, out)
				t.Fatalf("%s: no offsets committed for %s after the kill of node %d", what, stallLimit, node)
			}
		}
		f.stall = time.Since(killed)
		faults = append(faults, f)
	}

	waitSum(int64(n / 5))
	coord := txnCoordinator(t, c, group+"-a")
	kill("transaction coordinator of "+group+"-a", coord)
	waitSum(int64(n * 2 / 5))
	c.Node(coord).Restart(t)
	waitSum(int64(n * 3 / 5))
	leader := c.Leader(t, out, 0)
	kill(fmt.Sprintf("leader of %s/0", out), leader)
	waitSum(int64(n * 4 / 5))
	c.Node(leader).Restart(t)
	if err := <-produced; err != nil {
		t.Fatalf("input producer: %v", err)
	}
	waitSum(int64(n))
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		t.Error(err)
	}

	got := readAllCommitted(t, addr, out, n)
	seen := make(map[string]int, n)
	for _, v := range got {
		seen[v]++
	}
	var missing, dup int
	for i := range n {
		switch seen[fmt.Sprintf("r%07d", i)] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing > 0 || dup > 0 || len(got) != n {
		t.Errorf("read_committed output: %d records for %d inputs, %d inputs missing, %d more than once", len(got), n, missing, dup)
	}
	requireCommittedAtEnd(t, addr, group, in)

	var b strings.Builder
	fmt.Fprintf(&b, "txn soak: 3 nodes, topics of %d partitions at replication factor 3, min.insync.replicas 2, 2 GroupTransactSession members\n\n", parts)
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| input records (paced at %d/s) | %d |\n", rate, n)
	fmt.Fprintf(&b, "| run time | %s |\n", elapsed.Round(time.Second))
	fmt.Fprintf(&b, "| transactions committed | %d |\n", commits.Load())
	fmt.Fprintf(&b, "| transactions aborted (rebalance, fencing) | %d |\n", aborts.Load())
	fmt.Fprintf(&b, "| transaction ends that failed (retried from committed offsets) | %d |\n", endErrors.Load())
	fmt.Fprintf(&b, "| read_committed output records | %d |\n", len(got))
	fmt.Fprintf(&b, "| inputs missing from the output | %d |\n", missing)
	fmt.Fprintf(&b, "| inputs more than once in the output | %d |\n", dup)
	fmt.Fprintf(&b, "\n| fault | node | at | committed input at the kill | until offsets were committed again |\n|---|---|---|---|---|\n")
	for _, f := range faults {
		fmt.Fprintf(&b, "| kill -9 of the %s | %d | %s | %d | %s |\n", f.what, f.node, f.at.Round(time.Second), f.committed, f.stall.Round(100*time.Millisecond))
	}
	t.Log("\n" + b.String())
	if path := os.Getenv("TXN_SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
}

// soakState logs what the transactions, the group and the topics look
// like, for a run that stalled.
func soakState(t *testing.T, c *testkit.Cluster, adm *kadm.Client, group string, topics ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, nd := range c.Nodes() {
		if !nd.Running() {
			t.Logf("node %d: down", nd.ID())
			continue
		}
		for _, key := range []struct {
			typ int8
			id  string
		}{{0, group}, {1, group + "-a"}, {1, group + "-b"}} {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version, req.CoordinatorType, req.CoordinatorKeys = 4, key.typ, []string{key.id}
			resp, err := c.Request(ctx, nd.ID(), req)
			if err == nil {
				r := resp.(*kmsg.FindCoordinatorResponse)
				t.Logf("node %d: coordinator of %s (type %d): %+v", nd.ID(), key.id, key.typ, r.Coordinators)
			} else {
				t.Logf("node %d: FindCoordinator %s: %v", nd.ID(), key.id, err)
			}
		}
		md, err := c.Metadata(ctx, nd.ID(), "__consumer_offsets", "__transaction_state")
		if err == nil {
			for _, topic := range []string{"__consumer_offsets", "__transaction_state"} {
				t.Logf("node %d: %s %v", nd.ID(), topic, testkit.Partitions(md, topic))
			}
		}
	}
	txns, err := adm.DescribeTransactions(ctx, group+"-a", group+"-b")
	t.Logf("transactions: %+v (%v)", txns, err)
	groups, err := adm.DescribeGroups(ctx, group)
	t.Logf("group: %+v (%v)", groups, err)
	offsets, err := adm.FetchOffsets(ctx, group)
	t.Logf("committed: %+v (%v)", offsets, err)
	for _, topic := range topics {
		ends, err := adm.ListEndOffsets(ctx, topic)
		t.Logf("%s end offsets: %+v (%v)", topic, ends, err)
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			for _, p := range md.Topics[topic].Partitions {
				t.Logf("%s/%d leader %d epoch %d isr %v err %v", topic, p.Partition, p.Leader, p.LeaderEpoch, p.ISR, p.Err)
			}
		}
	}
}

// txnCoordinator asks a running node with FindCoordinator key type 1
// (transaction) which node coordinates txnID.
func txnCoordinator(t *testing.T, c *testkit.Cluster, txnID string) int32 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version = 4
		req.CoordinatorType = 1
		req.CoordinatorKeys = []string{txnID}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := c.Request(ctx, c.Nodes()[0].ID(), req)
		cancel()
		if err == nil {
			r := resp.(*kmsg.FindCoordinatorResponse)
			if len(r.Coordinators) == 1 && r.Coordinators[0].ErrorCode == 0 {
				return r.Coordinators[0].NodeID
			}
			err = fmt.Errorf("%+v", r.Coordinators)
		}
		if time.Now().After(deadline) {
			t.Fatalf("FindCoordinator (transaction) %s: %v", txnID, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}
