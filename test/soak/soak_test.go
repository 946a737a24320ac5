// Package soak_test runs a 3-node Strom cluster (each node its own OS
// process) under idempotent acks=all producers and a consumer group for a
// long time, while a fault loop rotates kill -9 and restart of one node,
// SIGSTOP/SIGCONT of a partition leader, a network cut of one node from the
// others, and a restart of every node. At the end every acknowledged record
// must be readable exactly once, at its offset, in its producer's order per
// partition, and must have been consumed by the group; it prints (and
// writes to $SOAK_REPORT, when set) the figures: records acknowledged, lost,
// duplicated, and the longest unavailability per fault kind.
//
// It runs only with STROM_SOAK=1 (make soak; SOAK_DURATION, default 10m).
package soak_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const (
	nodes      = 3
	partitions = 3
	rf         = 3
	producers  = 2
	members    = 2 // consumer-group members
)

// Fault kinds, in the order the loop rotates through them.
const (
	faultKill       = "kill -9 + restart of one node"
	faultPause      = "SIGSTOP/SIGCONT of a leader (8s)"
	faultCut        = "network cut of one node (8s)"
	faultRestartAll = "restart of every node (SIGTERM)"
)

var faultKinds = []string{faultKill, faultPause, faultCut, faultRestartAll}

// fault is one injected fault: from its start to the moment the cluster was
// whole again (every node in every ISR).
type fault struct {
	kind       string
	victim     int32
	start, end time.Time
}

// timeline attributes gaps between acknowledgements to the faults they
// overlap.
type timeline struct {
	mu      sync.Mutex
	faults  []*fault
	lastAck [partitions]time.Time
	longest map[string]time.Duration // per fault kind; "" = no fault
	// uncleanStops counts nodes that exited with an error after SIGTERM.
	uncleanStops int
}

func (tl *timeline) ack(p int32, now time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	last := tl.lastAck[p]
	tl.lastAck[p] = now
	if last.IsZero() {
		return
	}
	gap := now.Sub(last)
	if gap < 50*time.Millisecond {
		return
	}
	hit := false
	for _, f := range tl.faults {
		end := f.end
		if end.IsZero() {
			end = now
		}
		if f.start.Before(now) && end.After(last) {
			hit = true
			tl.longest[f.kind] = max(tl.longest[f.kind], gap)
		}
	}
	if !hit {
		tl.longest[""] = max(tl.longest[""], gap)
	}
}

func (tl *timeline) begin(kind string, victim int32) *fault {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	f := &fault{kind: kind, victim: victim, start: time.Now()}
	tl.faults = append(tl.faults, f)
	return f
}

func (tl *timeline) finish(f *fault) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	f.end = time.Now()
}

// consumed counts, per partition and offset, how often the group delivered
// a record.
type consumed struct {
	mu        sync.Mutex
	counts    [partitions]map[int64]int
	rewinds   int // a member read an offset at or below one it read before
	errors    int // fetch errors seen by members
	lastError string
}

func (c *consumed) add(r *kgo.Record, prev map[int32]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[r.Partition] == nil {
		c.counts[r.Partition] = map[int64]int{}
	}
	c.counts[r.Partition][r.Offset]++
	if last, ok := prev[r.Partition]; ok && r.Offset <= last {
		c.rewinds++
	}
	prev[r.Partition] = r.Offset
}

func (c *consumed) covers(ends map[int32]int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, end := range ends {
		for o := int64(0); o < end; o++ {
			if c.counts[p][o] == 0 {
				return false
			}
		}
	}
	return true
}

func TestSoak(t *testing.T) {
	if os.Getenv("STROM_SOAK") != "1" {
		t.Skip("long fault soak; set STROM_SOAK=1 (make soak)")
	}
	dur := 10 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SOAK_DURATION=%q: %v", s, err)
		}
		dur = d
	}
	// SOAK_NETWORK=netns cuts in network namespaces (root only) instead of
	// with the in-process proxies.
	network := testkit.WithProxies()
	if os.Getenv("SOAK_NETWORK") == "netns" {
		network = testkit.WithNetns()
	}
	began := time.Now()
	c := testkit.StartCluster(t, nodes, network, testkit.WithReadyTimeout(60*time.Second))
	topic := testkit.TopicName(t, "")
	minISR := "2"
	c.CreateTopic(t, topic, partitions, rf, map[string]*string{"min.insync.replicas": &minISR})

	chk := testkit.NewChecker()
	ledger := testkit.NewAckLedger(c)
	tl := &timeline{longest: map[string]time.Duration{}}
	var prods []*testkit.Producer
	for k := range producers {
		prods = append(prods, testkit.StartProducer(t, c.Bootstrap(), chk, testkit.ProducerOptions{
			Record: func(i int) *kgo.Record {
				return &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: soakValue(k, i)}
			},
			// 150 records a second each: the checker keeps every record.
			PerTick: 3,
			Tick:    20 * time.Millisecond,
			Opts: []kgo.Opt{
				testkit.Seeds(c.Bootstrap()),
				testkit.ManualPartitioner(),
				ledger.Opt(),
				kgo.ProducerLinger(2 * time.Millisecond),
				kgo.MaxBufferedRecords(500),
				kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
				kgo.MetadataMinAge(250 * time.Millisecond),
				kgo.ProduceRequestTimeout(4 * time.Second),
				kgo.RequestTimeoutOverhead(2 * time.Second),
			},
			OnDone: func(r *kgo.Record, err error) {
				if err == nil {
					tl.ack(r.Partition, time.Now())
				}
			},
		}))
	}

	cons := &consumed{}
	ctx, stopConsumers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range members {
		cl := testkit.NewClient(t, c.Bootstrap(),
			testkit.Seeds(c.Bootstrap()),
			kgo.ConsumerGroup(topic+"-group"),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(10*time.Second),
			kgo.HeartbeatInterval(time.Second),
			kgo.RequestTimeoutOverhead(2*time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 200 * time.Millisecond }),
			kgo.MetadataMinAge(250*time.Millisecond),
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := map[int32]int64{}
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachError(func(_ string, _ int32, err error) {
					if ctx.Err() != nil {
						return
					}
					cons.mu.Lock()
					cons.errors++
					cons.lastError = err.Error()
					cons.mu.Unlock()
				})
				fs.EachRecord(func(r *kgo.Record) { cons.add(r, prev) })
			}
		}()
	}
	// Registered after the clients' cleanups, so it runs before them.
	t.Cleanup(func() { stopConsumers(); wg.Wait() })

	logf(t, "soak for %v: %d producers, %d group members, faults %q, cuts by %s", dur, producers, members, faultKinds, cutBy())
	prods[0].WaitMore(t, -1, 500, 60*time.Second, "before the first fault")

	rng := rand.New(rand.NewPCG(uint64(began.UnixNano()), 1))
	counts := map[string]int{}
	for i := 0; time.Since(began) < dur; i++ {
		kind := faultKinds[i%len(faultKinds)]
		counts[kind]++
		inject(t, c, tl, rng, topic, kind)
		// Calm production between faults.
		prods[0].WaitMore(t, -1, 300, 60*time.Second, "after "+kind)
		time.Sleep(3 * time.Second) // the calm period's length, not a wait for a condition
	}
	logf(t, "faults done after %v: %v", time.Since(began).Round(time.Second), counts)

	for _, p := range prods {
		p.Finish(t, 2*time.Minute)
	}
	st := c.WaitStable(t, topic, partitions)
	addr := c.Node(st[0].Leader).KafkaAddr()
	ends := testkit.HighWatermarks(t, addr, topic)
	deadline := time.Now().Add(3 * time.Minute)
	for !cons.covers(ends) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	stopConsumers()
	wg.Wait()

	read := testkit.ConsumePartitions(t, addr, topic, partitions, testkit.Seeds(c.Bootstrap()))
	res := chk.Check(read)
	orderProblems := checkProducerOrder(read)
	leaderProblems := ledger.Check(topic, read, chk)
	notConsumed, redelivered := consumerFigures(cons, read, chk)

	report := renderReport(dur, time.Since(began), counts, res, orderProblems, leaderProblems, ledger, notConsumed, redelivered, cons, tl)
	t.Log("\n" + report)
	if path := os.Getenv("SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Errorf("write %s: %v", path, err)
		}
	}
	for i, v := range append(append(res.Violations, orderProblems...), leaderProblems...) {
		if i == 30 {
			t.Errorf("... and more")
			break
		}
		t.Error(v)
	}
	if notConsumed > 0 {
		t.Errorf("%d acknowledged records were never delivered to the consumer group", notConsumed)
	}
	if res.Acked == 0 {
		t.Errorf("nothing was acknowledged; the soak proves nothing")
	}
}

// inject runs one fault of kind and returns when it has been undone.
func inject(t *testing.T, c *testkit.Cluster, tl *timeline, rng *rand.Rand, topic, kind string) {
	t.Helper()
	st := c.WaitStable(t, topic, partitions)
	leader := st[int32(rng.IntN(partitions))].Leader
	if leader < 1 {
		leader = int32(1 + rng.IntN(nodes))
	}
	switch kind {
	case faultKill:
		n := c.Node(int32(1 + rng.IntN(nodes)))
		f := tl.begin(kind, n.ID())
		logf(t, "fault: kill -9 node %d", n.ID())
		n.Kill(t)
		time.Sleep(5 * time.Second) // how long it stays down
		n.Restart(t)
		settle(t, c, topic, n.ID())
		tl.finish(f)
	case faultPause:
		n := c.Node(leader)
		f := tl.begin(kind, n.ID())
		logf(t, "fault: SIGSTOP node %d (a partition leader)", n.ID())
		n.Pause(t)
		time.Sleep(8 * time.Second) // past the 3s broker session
		n.Resume(t)
		settle(t, c, topic, n.ID())
		tl.finish(f)
	case faultCut:
		id := int32(1 + rng.IntN(nodes))
		f := tl.begin(kind, id)
		logf(t, "fault: cut node %d off", id)
		c.Cut(t, id)
		time.Sleep(8 * time.Second)
		c.Heal(t, id)
		settle(t, c, topic, id)
		tl.finish(f)
	case faultRestartAll:
		f := tl.begin(kind, 0)
		logf(t, "fault: restart every node")
		for _, n := range c.Nodes() {
			if err := n.Terminate(t); err != nil {
				// Reported in the figures: the restart goes on (the
				// node's data is synced as acknowledged, so an unclean
				// stop must lose nothing either).
				logf(t, "node %d exited uncleanly after SIGTERM: %v", n.ID(), err)
				tl.mu.Lock()
				tl.uncleanStops++
				tl.mu.Unlock()
			}
		}
		c.StartAll(t)
		settle(t, c, topic, 0)
		tl.finish(f)
	}
}

// settle waits until every node serves and is back in every partition's
// ISR, as a node other than victim (which may still hold the image it had
// before the fault) says, and the nodes agree on the leaders.
func settle(t *testing.T, c *testkit.Cluster, topic string, victim int32) {
	t.Helper()
	c.WaitFormed(t)
	for p := int32(0); p < partitions; p++ {
		c.WaitPartition(t, topic, p, 90*time.Second, func(st testkit.PartitionState) bool {
			return st.ErrorCode == 0 && st.Leader >= 1 && len(st.ISR) == nodes
		}, victim)
	}
	c.WaitStable(t, topic, partitions)
}

// soakValue is producer k's i-th record: unique, 100 bytes, carrying k and
// i for the order check.
func soakValue(k, i int) []byte {
	v := []byte(fmt.Sprintf("soak%d-%09d-", k, i))
	for len(v) < 100 {
		v = append(v, 'x')
	}
	return v
}

func parseValue(v []byte) (k, i int, ok bool) {
	s := string(v)
	if !strings.HasPrefix(s, "soak") || len(s) < 16 {
		return 0, 0, false
	}
	k, err1 := strconv.Atoi(s[4:5])
	i, err2 := strconv.Atoi(s[6:15])
	return k, i, err1 == nil && err2 == nil
}

// checkProducerOrder checks that each producer's records appear in the
// order it produced them, per partition.
func checkProducerOrder(read []*kgo.Record) []string {
	type pk struct {
		p int32
		k int
	}
	last := map[pk]int{}
	var out []string
	for _, r := range read {
		k, i, ok := parseValue(r.Value)
		if !ok {
			out = append(out, fmt.Sprintf("partition %d offset %d: unparseable value %.20q", r.Partition, r.Offset, r.Value))
			continue
		}
		key := pk{r.Partition, k}
		if prev, seen := last[key]; seen && i <= prev {
			out = append(out, fmt.Sprintf("partition %d offset %d: producer %d record %d after its record %d", r.Partition, r.Offset, k, i, prev))
		}
		last[key] = i
	}
	return out
}

// consumerFigures counts the acknowledged records the group never
// delivered, and the deliveries beyond the first (the group commits
// offsets every few seconds, so a member taking over a partition re-reads
// from the last commit: at least once, as in Kafka).
func consumerFigures(cons *consumed, read []*kgo.Record, chk *testkit.Checker) (notConsumed, redelivered int) {
	acked := chk.AckedOffsets()
	cons.mu.Lock()
	defer cons.mu.Unlock()
	for _, r := range read {
		n := cons.counts[r.Partition][r.Offset]
		if n == 0 && acked[testkit.PartitionOffset{Partition: r.Partition, Offset: r.Offset}] {
			notConsumed++
		}
		if n > 1 {
			redelivered += n - 1
		}
	}
	return notConsumed, redelivered
}

func renderReport(planned, took time.Duration, counts map[string]int, res testkit.CheckResult, order, leaders []string,
	ledger *testkit.AckLedger, notConsumed, redelivered int, cons *consumed, tl *timeline) string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak: %v planned, %v run, 3 nodes, %d partitions, replication factor %d, min.insync.replicas 2, cuts by %s\n\n",
		planned, took.Round(time.Second), partitions, rf, cutBy())
	fmt.Fprintf(&b, "| figure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| records attempted | %d |\n", res.Attempted)
	fmt.Fprintf(&b, "| records acknowledged (acks=all) | %d |\n", res.Acked)
	fmt.Fprintf(&b, "| records read back | %d |\n", res.Read)
	fmt.Fprintf(&b, "| acknowledged records lost | %d |\n", res.Lost)
	fmt.Fprintf(&b, "| records duplicated in the log | %d |\n", res.Duplicated)
	fmt.Fprintf(&b, "| acknowledged records at another offset | %d |\n", res.Misplaced)
	fmt.Fprintf(&b, "| offsets out of order or gaps | %d |\n", res.Reordered)
	fmt.Fprintf(&b, "| records out of their producer's order | %d |\n", len(order))
	fmt.Fprintf(&b, "| offsets acknowledged for two records | %d |\n", res.DoubleAcked)
	fmt.Fprintf(&b, "| epochs acknowledged by two nodes, offsets by two batches | %d |\n", len(leaders))
	fmt.Fprintf(&b, "| acknowledged records never consumed by the group | %d |\n", notConsumed)
	cons.mu.Lock()
	fmt.Fprintf(&b, "| group redeliveries (at least once) | %d |\n", redelivered)
	fmt.Fprintf(&b, "| consumer fetch errors (retried) | %d |\n", cons.errors)
	cons.mu.Unlock()
	fmt.Fprintf(&b, "| produce batches acknowledged per node | %v |\n", ledger.Acks())
	fmt.Fprintf(&b, "\n| fault | times | longest gap between acknowledgements on a partition |\n|---|---|---|\n")
	tl.mu.Lock()
	unclean := tl.uncleanStops
	for _, k := range faultKinds {
		fmt.Fprintf(&b, "| %s | %d | %v |\n", k, counts[k], tl.longest[k].Round(10*time.Millisecond))
	}
	fmt.Fprintf(&b, "| (no fault) | - | %v |\n", tl.longest[""].Round(10*time.Millisecond))
	tl.mu.Unlock()
	fmt.Fprintf(&b, "\nnodes that exited uncleanly after SIGTERM (shutdown over its bound): %d\n", unclean)
	if ex := ledger.Excused(); len(ex) > 0 {
		fmt.Fprintf(&b, "\nepochs whose last batches were answered by the next leader (retries): %d\n", len(ex))
	}
	return b.String()
}

func cutBy() string {
	if os.Getenv("SOAK_NETWORK") == "netns" {
		return "network namespaces"
	}
	return "proxies"
}

func logf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("%s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
