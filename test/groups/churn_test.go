package groups_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
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

// churnPartitions is the partition count of the churn test's topic.
const churnPartitions = 6

// TestGroupChurn runs franz-go group members over a 6-partition topic that a
// producer keeps writing to, while members join, leave cleanly and crash
// (right after processing a poll and before committing it: connections cut
// and the client closed without a LeaveGroup), and the strom process itself
// is SIGKILLed and restarted once. Members process at least once: poll,
// process, commit, and commit again when partitions are revoked. It checks
// that
//
//   - every offset below the final high watermark was processed at least
//     once, and the final commit of every partition is its high watermark;
//   - what a crashed member processed but did not commit was processed again;
//   - committed offsets, polled with OffsetFetch throughout, never move
//     backwards and never vanish;
//   - no two members hold the same partition in the same generation (from
//     the assignment callbacks and the generation each member was in when
//     it processed a record);
//   - after the SIGKILL and restart, every commit acknowledged before the
//     kill is still there.
//
// The default run churns for 10 seconds per balancer; STROM_CHURN=long
// churns for 35.
func TestGroupChurn(t *testing.T) {
	churn := 10 * time.Second
	if os.Getenv("STROM_CHURN") == "long" {
		churn = 35 * time.Second
	}
	for _, v := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(v.name, func(t *testing.T) { runChurn(t, v.balancer, churn) })
	}
}

func runChurn(t *testing.T, balancer kgo.GroupBalancer, churn time.Duration) {
	p := testkit.StartProcess(t, testkit.ProcessOptions{Env: []string{
		"STROM_GROUP_INITIAL_REBALANCE_DELAY=100ms",
		"STROM_GROUP_MIN_SESSION_TIMEOUT=1s",
		"STROM_OFFSETS_TOPIC_PARTITIONS=5",
	}})
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, p.Addr(), topic, churnPartitions, nil)
	h := newChurnHarness(t, p.Addr(), topic, groupName(t), balancer)
	defer h.stopAll()

	stopProduce := h.startProducer()
	defer stopProduce()
	stopMonitor := h.startMonitor()
	defer stopMonitor()

	for range 3 {
		h.join()
	}

	// The churn: a cycle of crash, join, leave, join at even intervals,
	// with the broker killed and restarted half way through.
	actions := []string{"crash", "join", "leave", "join"}
	const interval = 1250 * time.Millisecond
	steps := int(churn / interval)
	killed := false
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range steps {
		<-tick.C
		if !killed && i >= steps/2 {
			killed = true
			h.killAndRestart(p)
		}
		switch a := actions[i%len(actions)]; a {
		case "join":
			h.join()
		case "crash", "leave":
			if h.liveCount() < 2 {
				break
			}
			if m := h.takeOldestLive(); m != nil {
				if a == "crash" {
					m.crash()
				} else {
					m.leave()
				}
			}
		}
	}

	// Drain: stop producing, keep (or bring back) two members, and wait
	// until the group has committed the high watermark of every partition.
	stopProduce()
	for h.liveCount() < 2 {
		h.join()
	}
	var hwm map[int32]int64
	pollUntil(t, "the group to commit every partition's high watermark", 90*time.Second, func() bool {
		var err error
		if hwm, err = h.endOffsets(5 * time.Second); err != nil {
			return false
		}
		got, err := h.fetchCommitted(5 * time.Second)
		if err != nil {
			return false
		}
		for part, end := range hwm {
			if got[part] != end {
				return false
			}
		}
		return true
	})
	h.stopAll()
	stopMonitor()

	// The members' final commits on leaving must not have moved anything.
	final, err := h.fetchCommitted(30 * time.Second)
	if err != nil {
		t.Fatalf("final OffsetFetch: %v", err)
	}
	for part := int32(0); part < churnPartitions; part++ {
		if final[part] != hwm[part] {
			t.Errorf("partition %d: final committed offset %d, high watermark %d", part, final[part], hwm[part])
		}
	}
	h.verify(hwm)
}

// churnHarness owns the members, the producer and the offset monitor of one
// churn run, and the records of what they saw.
type churnHarness struct {
	t        *testing.T
	addr     string
	topic    string
	group    string
	balancer kgo.GroupBalancer
	admin    *kgo.Client // for OffsetFetch and ListOffsets; closed by t.Cleanup

	membersMu sync.Mutex
	members   []*churnMember
	nextID    int

	mu sync.Mutex // guards everything below
	// processed counts how often each offset of each partition was
	// processed.
	processed map[int32]map[int64]int
	// holders lists, per generation and partition, the members that held
	// the partition in that generation (member name -> member id).
	holders map[genPartition]map[string]string
	// ackedCommit is the highest commit per partition the broker
	// acknowledged.
	ackedCommit map[int32]int64
	// producedAcked lists, per partition, the highest offset the broker
	// acknowledged to the producer.
	producedAcked map[int32]int64
	// lostAtCrash lists records a member processed and died before
	// committing: they must be processed again.
	lostAtCrash []recordID
	// seenCommit is the highest committed offset OffsetFetch returned.
	seenCommit map[int32]int64
	// violations of commit monotonicity seen by the monitor.
	violations []string
	maxGen     int32
	events     []string
}

type genPartition struct {
	gen       int32
	partition int32
}

func newChurnHarness(t *testing.T, addr, topic, group string, balancer kgo.GroupBalancer) *churnHarness {
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("churn-monitor"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	return &churnHarness{
		t: t, addr: addr, topic: topic, group: group, balancer: balancer, admin: admin,
		processed:     map[int32]map[int64]int{},
		holders:       map[genPartition]map[string]string{},
		ackedCommit:   map[int32]int64{},
		producedAcked: map[int32]int64{},
		seenCommit:    map[int32]int64{},
	}
}

func (h *churnHarness) event(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

// hold notes that member m held partition p in generation gen.
func (h *churnHarness) hold(m *churnMember, memberID string, gen int32, parts ...int32) {
	if gen < 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maxGen = max(h.maxGen, gen)
	for _, p := range parts {
		k := genPartition{gen, p}
		if h.holders[k] == nil {
			h.holders[k] = map[string]string{}
		}
		h.holders[k][m.name] = memberID
	}
}

func (h *churnHarness) processedRecord(r *kgo.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.processed[r.Partition] == nil {
		h.processed[r.Partition] = map[int64]int{}
	}
	h.processed[r.Partition][r.Offset]++
}

// uncommittedAtCrash notes the records of fs, processed by a member that
// died before committing them.
func (h *churnHarness) uncommittedAtCrash(fs kgo.Fetches) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fs.EachRecord(func(r *kgo.Record) {
		h.lostAtCrash = append(h.lostAtCrash, recordID{r.Partition, r.Offset})
	})
}

// commitAcked notes commits the broker acknowledged.
func (h *churnHarness) commitAcked(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse) {
	sent := map[int32]int64{}
	for _, tp := range req.Topics {
		if tp.Topic != h.topic {
			continue
		}
		for _, p := range tp.Partitions {
			sent[p.Partition] = p.Offset
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tp := range resp.Topics {
		if tp.Topic != h.topic {
			continue
		}
		for _, p := range tp.Partitions {
			if o, ok := sent[p.Partition]; ok && p.ErrorCode == 0 {
				h.ackedCommit[p.Partition] = max(h.ackedCommit[p.Partition], o)
			}
		}
	}
}

// startProducer produces to every partition in turn, about 300 records a
// second, until the returned function is called; that function flushes
// what is buffered and is idempotent.
func (h *churnHarness) startProducer() (stop func()) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.addr), kgo.ClientID("churn-producer"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var failed atomic.Int64
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ctx.Err() == nil; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range 3 {
				r := &kgo.Record{Topic: h.topic, Partition: int32(i % churnPartitions),
					Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
				i++
				// Not ctx: stopping must not fail records already handed over.
				cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
					if err != nil {
						failed.Add(1)
						return
					}
					h.mu.Lock()
					if o, ok := h.producedAcked[r.Partition]; !ok || r.Offset > o {
						h.producedAcked[r.Partition] = r.Offset
					}
					h.mu.Unlock()
				})
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer fcancel()
			if err := cl.Flush(fctx); err != nil {
				h.t.Errorf("producer flush: %v", err)
			}
			cl.Close()
			if n := failed.Load(); n > 0 {
				h.t.Logf("producer: %d records failed (not acknowledged)", n)
			}
		})
	}
}

// fetchCommitted returns the group's committed offsets for the topic, or an
// error if OffsetFetch failed as a whole or for any partition.
func (h *churnHarness) fetchCommitted(timeout time.Duration) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := kadm.NewClient(h.admin).FetchOffsets(ctx, h.group)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var perr error
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			perr = fmt.Errorf("partition %d: %w", o.Partition, o.Err)
		}
		if o.Topic == h.topic {
			out[o.Partition] = o.At
		}
	})
	return out, perr
}

// endOffsets returns the high watermark of every partition of the topic.
func (h *churnHarness) endOffsets(timeout time.Duration) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := kadm.NewClient(h.admin).ListEndOffsets(ctx, h.topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var perr error
	resp.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			perr = fmt.Errorf("partition %d: %w", o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	if perr == nil && len(out) != churnPartitions {
		perr = fmt.Errorf("ListOffsets gave %d partitions, want %d", len(out), churnPartitions)
	}
	return out, perr
}

// startMonitor polls OffsetFetch until stopped and notes every committed
// offset that is lower than one seen before, or that disappeared.
func (h *churnHarness) startMonitor() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			got, err := h.fetchCommitted(2 * time.Second)
			if err == nil {
				h.checkMonotonic(got)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

func (h *churnHarness) checkMonotonic(got map[int32]int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, seen := range h.seenCommit {
		o, ok := got[p]
		switch {
		case !ok:
			h.violations = append(h.violations, fmt.Sprintf("partition %d: committed offset %d vanished from OffsetFetch", p, seen))
		case o < seen:
			h.violations = append(h.violations, fmt.Sprintf("partition %d: committed offset went back from %d to %d", p, seen, o))
		}
	}
	for p, o := range got {
		h.seenCommit[p] = max(h.seenCommit[p], o)
	}
}

// killAndRestart SIGKILLs the strom process and restarts it, then checks
// that every commit acknowledged before the kill survived.
func (h *churnHarness) killAndRestart(p *testkit.Process) {
	h.t.Helper()
	p.Kill(h.t)
	h.mu.Lock()
	acked := make(map[int32]int64, len(h.ackedCommit))
	for k, v := range h.ackedCommit {
		acked[k] = v
	}
	h.mu.Unlock()
	h.event("broker killed; acknowledged commits %v", acked)
	p.Restart(h.t)
	h.event("broker restarted")
	var got map[int32]int64
	pollUntil(h.t, "OffsetFetch after the restart", 30*time.Second, func() bool {
		var err error
		got, err = h.fetchCommitted(5 * time.Second)
		return err == nil
	})
	for part, o := range acked {
		if got[part] < o {
			h.t.Errorf("after SIGKILL and restart: partition %d committed offset %d, but %d was acknowledged before the kill (OffsetCommit acknowledged, OffsetFetch after restart lower)", part, got[part], o)
		}
	}
}

func (h *churnHarness) liveCount() int {
	h.membersMu.Lock()
	defer h.membersMu.Unlock()
	n := 0
	for _, m := range h.members {
		if !m.gone {
			n++
		}
	}
	return n
}

// takeOldestLive returns the longest-running live member, marked gone, or
// nil when none is live.
func (h *churnHarness) takeOldestLive() *churnMember {
	h.membersMu.Lock()
	defer h.membersMu.Unlock()
	for _, m := range h.members {
		if !m.gone {
			m.gone = true
			return m
		}
	}
	return nil
}

// stopAll makes every live member leave cleanly. It is idempotent.
func (h *churnHarness) stopAll() {
	for {
		m := h.takeOldestLive()
		if m == nil {
			return
		}
		m.leave()
	}
}

// churnMember is one group member: a franz-go client of its own, with a
// dialer that can cut its connections to simulate a crash.
type churnMember struct {
	h    *churnHarness
	name string
	cl   *kgo.Client
	gate *connGate
	gone bool // guarded by h.membersMu; set once crash or leave is chosen

	cancelClient context.CancelFunc // the client's own context: cancelled by crash
	stopPoll     context.CancelFunc
	done         chan struct{} // closed when the poll loop returned
	crashReq     chan struct{} // closed by crash: die after processing, before committing
	dieOnce      sync.Once
	crashed      atomic.Bool

	mu    sync.Mutex // guards owned
	owned map[int32]bool
}

func (h *churnHarness) join() *churnMember {
	h.membersMu.Lock()
	h.nextID++
	m := &churnMember{h: h, name: fmt.Sprintf("m%d", h.nextID), gate: &connGate{}, owned: map[int32]bool{},
		done: make(chan struct{}), crashReq: make(chan struct{})}
	h.members = append(h.members, m)
	h.membersMu.Unlock()

	clientCtx, cancelClient := context.WithCancel(context.Background())
	m.cancelClient = cancelClient
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(h.addr), kgo.ClientID(m.name), kgo.WithContext(clientCtx),
		kgo.Dialer(m.gate.dial),
		kgo.ConsumerGroup(h.group), kgo.ConsumeTopics(h.topic), kgo.Balancers(h.balancer),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(4*time.Second), kgo.HeartbeatInterval(400*time.Millisecond),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
	)
	if err != nil {
		cancelClient()
		h.t.Fatalf("member %s: %v", m.name, err)
	}
	m.cl = cl
	pollCtx, stopPoll := context.WithCancel(clientCtx)
	m.stopPoll = stopPoll
	go m.run(pollCtx)
	h.event("%s joins", m.name)
	return m
}

// run is the member's poll, process, commit loop.
func (m *churnMember) run(ctx context.Context) {
	defer close(m.done)
	// Closing the client waits for a rebalance BlockRebalanceOnPoll holds.
	defer m.cl.AllowRebalance()
	for {
		fs := m.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		memberID, gen := m.cl.GroupMetadata()
		var parts []int32
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				parts = append(parts, p.Partition)
			}
		})
		m.h.hold(m, memberID, gen, parts...)
		fs.EachRecord(m.h.processedRecord)
		select {
		case <-m.crashReq:
			if len(parts) > 0 {
				// The worst moment to die: processed, not committed.
				m.die()
				m.h.uncommittedAtCrash(fs)
				return
			}
		default:
		}
		m.commit(ctx)
		m.cl.AllowRebalance()
	}
}

// commit commits what the member processed and notes what the broker
// acknowledged.
func (m *churnMember) commit(ctx context.Context) {
	if m.crashed.Load() {
		return
	}
	offsets := m.cl.UncommittedOffsets()
	if len(offsets) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m.cl.CommitOffsetsSync(cctx, offsets, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err == nil {
			m.h.commitAcked(req, resp)
		}
	})
}

func (m *churnMember) observe(event string, ps map[string][]int32, apply func(owned map[int32]bool, p int32)) {
	memberID, gen := m.cl.GroupMetadata()
	m.mu.Lock()
	for _, p := range ps[m.h.topic] {
		apply(m.owned, p)
	}
	var owned []int32
	for p := range m.owned {
		owned = append(owned, p)
	}
	m.mu.Unlock()
	sort.Slice(owned, func(i, j int) bool { return owned[i] < owned[j] })
	m.h.hold(m, memberID, gen, owned...)
	m.h.event("%s %s gen %d %v: owns %v", m.name, event, gen, ps[m.h.topic], owned)
}

func (m *churnMember) onAssigned(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	m.observe("assigned", ps, func(owned map[int32]bool, p int32) { owned[p] = true })
}

func (m *churnMember) onRevoked(ctx context.Context, _ *kgo.Client, ps map[string][]int32) {
	// Hold the partitions up to the commit, as a real consumer does.
	m.observe("revoking", nil, nil)
	m.commit(ctx)
	m.observe("revoked", ps, func(owned map[int32]bool, p int32) { delete(owned, p) })
}

func (m *churnMember) onLost(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
	m.observe("lost", ps, func(owned map[int32]bool, p int32) { delete(owned, p) })
}

// crash cuts the member's connections and closes its client: no
// LeaveGroup or commit reaches the broker, so the group learns of the
// crash only when the member's session times out.
//
// The member dies right after processing a poll's records, before it
// commits them, so those records must be processed again by the member
// that takes the partitions over. A member that has nothing to process
// within a few seconds dies wherever it is.
func (m *churnMember) crash() {
	close(m.crashReq)
	select {
	case <-m.done:
	case <-time.After(3 * time.Second): // an idle member: no records to die after
		m.die()
		<-m.done
	}
	m.cl.Close()
	m.h.event("%s crashed", m.name)
}

func (m *churnMember) die() {
	m.dieOnce.Do(func() {
		m.crashed.Store(true)
		m.gate.cut()
		m.cancelClient()
	})
}

// leave stops polling, commits what was processed and leaves the group.
func (m *churnMember) leave() {
	m.stopPoll()
	<-m.done
	m.commit(context.Background())
	m.cl.Close() // revokes (committing again) and sends LeaveGroup
	m.cancelClient()
	m.h.event("%s left", m.name)
}

// verify checks what the run recorded; hwm is the final high watermark of
// every partition.
func (h *churnHarness) verify(hwm map[int32]int64) {
	t := h.t
	h.mu.Lock()
	defer h.mu.Unlock()
	defer func() {
		if t.Failed() || os.Getenv("STROM_TEST_VERBOSE") != "" {
			t.Logf("events:\n%s", strings.Join(h.events, "\n"))
		}
	}()
	var records, dups int
	for part := int32(0); part < churnPartitions; part++ {
		missing := 0
		for o := int64(0); o < hwm[part]; o++ {
			switch n := h.processed[part][o]; {
			case n == 0:
				missing++
				if missing <= 5 {
					t.Errorf("partition %d offset %d (below the high watermark %d) never processed", part, o, hwm[part])
				}
			case n > 1:
				dups += n - 1
			}
		}
		if missing > 5 {
			t.Errorf("partition %d: %d offsets never processed in all", part, missing)
		}
		records += int(hwm[part])
		if a, ok := h.producedAcked[part]; ok && a >= hwm[part] {
			t.Errorf("partition %d: offset %d was acknowledged to the producer but the high watermark is %d", part, a, hwm[part])
		}
	}
	// What a member processed and died before committing was not covered
	// by any commit, so whoever took the partition over read it again.
	again := 0
	for _, r := range h.lostAtCrash {
		if n := h.processed[r.partition][r.offset]; n < 2 {
			again++
			if again <= 5 {
				t.Errorf("partition %d offset %d: processed by a member that crashed before committing it, and not again after (processed %d times)", r.partition, r.offset, n)
			}
		}
	}
	for i, v := range h.violations {
		if i == 10 {
			t.Errorf("... %d more commit monotonicity violations", len(h.violations)-10)
			break
		}
		t.Errorf("OffsetFetch: %s", v)
	}
	var conflicts []string
	for k, ms := range h.holders {
		if len(ms) > 1 {
			conflicts = append(conflicts, fmt.Sprintf("generation %d partition %d held by %v", k.gen, k.partition, ms))
		}
	}
	sort.Strings(conflicts)
	for _, c := range conflicts {
		t.Errorf("two members in one generation: %s", c)
	}
	if records == 0 {
		t.Errorf("nothing was produced")
	}
	// The first generation, and at least one rebalance in each half of
	// the churn (rebalances close together may merge).
	if h.maxGen < 3 {
		t.Errorf("the group reached generation %d only: the churn did not rebalance it", h.maxGen)
	}
	t.Logf("%d records over %d partitions, %d reprocessed (%d left uncommitted by crashes), %d members, last generation %d",
		records, churnPartitions, dups, len(h.lostAtCrash), h.nextID, h.maxGen)
}

// connGate dials for one member and can cut every connection it made and
// refuse new ones, as the death of the member's process would.
type connGate struct {
	mu    sync.Mutex
	cutOK bool
	conns []net.Conn
}

var errMemberCrashed = errors.New("member crashed")

func (g *connGate) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cutOK {
		c.Close()
		return nil, errMemberCrashed
	}
	g.conns = append(g.conns, c)
	return c, nil
}

func (g *connGate) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cutOK = true
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}
