package cluster_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestKIP848CoordinatorKill: two franz-go members of a consumer-protocol
// (KIP-848) group keep running while the node coordinating the group is
// killed. The leadership of the group's __consumer_offsets partition moves,
// the new coordinator replays the group's records (members, epochs, target
// and current assignments), and the members carry on: the group keeps its
// epoch, every member its id, epoch and partitions, and every record is
// read exactly once. It takes half a minute, so it runs with
// STROM_CLUSTER=full (make cluster-full); the default run has the same
// replay across a standalone restart (test/groups).
func TestKIP848CoordinatorKill(t *testing.T) {
	if os.Getenv("STROM_CLUSTER") != "full" {
		t.Skip("STROM_CLUSTER=full runs it (make cluster-full)")
	}
	c := testkit.StartCluster(t, nodes, testkit.WithNodeTOML("offsets_topic_partitions = 3"))
	topic := testkit.TopicName(t, "")
	const parts = 4
	testkit.CreateTopicRF(t, c.Node(1).KafkaAddr(), topic, parts, rf, nil)
	c.WaitStable(t, topic, parts)
	const group = "kip848-failover"

	type member struct {
		mu   sync.Mutex
		got  map[string]int
		stop func()
	}
	read := func(ms []*member) (map[string]int, []string) {
		all, dups := map[string]int{}, []string(nil)
		for _, m := range ms {
			m.mu.Lock()
			for k, n := range m.got {
				all[k] += n
			}
			m.mu.Unlock()
		}
		for k, n := range all {
			if n > 1 {
				dups = append(dups, k)
			}
		}
		return all, dups
	}
	start := func(name string) *member {
		m := &member{got: map[string]int{}}
		cl := testkit.NewClient(t, c.Node(1).KafkaAddr(), testkit.Seeds(c.Bootstrap()), kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID(name))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachRecord(func(r *kgo.Record) {
					m.mu.Lock()
					m.got[string(r.Value)]++
					m.mu.Unlock()
				})
				if fs.NumRecords() > 0 {
					cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
					if err := cl.CommitUncommittedOffsets(cctx); err != nil {
						t.Logf("%s: commit: %v", name, err)
					}
					ccancel()
				}
			}
		}()
		var once sync.Once
		m.stop = func() { once.Do(func() { cancel(); <-done; cl.Close() }) }
		t.Cleanup(m.stop)
		return m
	}
	prod := testkit.NewClient(t, c.Node(1).KafkaAddr(), testkit.Seeds(c.Bootstrap()), kgo.RequiredAcks(kgo.AllISRAcks()))
	var want []string
	produce := func(n int, tag string) {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: value100(tag, i)}
			want = append(want, string(recs[i].Value))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	readAll := func(ms []*member, what string) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			all, _ := read(ms)
			missing := 0
			for _, v := range want {
				if all[v] == 0 {
					missing++
				}
			}
			if missing == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d records never read", what, missing, len(want))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	ms := []*member{start("m1"), start("m2")}
	produce(200, "before")
	readAll(ms, "before the kill")
	coord, code := groupCoordinator(t, c, 1, group)
	if code != 0 || coord < 1 {
		t.Fatalf("FindCoordinator: node %d, error %d", coord, code)
	}
	var other int32 = 1
	if coord == 1 {
		other = 2
	}
	before := describeStable848(t, c, coord, group, 2)
	t.Logf("coordinator of %s is node %d; killing it", group, coord)
	c.Node(coord).Kill(t)

	after := describeStable848(t, c, other, group, 2)
	if b, a := view848(before), view848(after); b != a {
		t.Fatalf("group changed across the coordinator kill:\n before: %s\n after:  %s", b, a)
	}
	produce(200, "after")
	readAll(ms, "after the kill")
	if final := describeStable848(t, c, other, group, 2); view848(final) != view848(before) {
		t.Fatalf("group changed after the coordinator kill:\n before: %s\n now:    %s", view848(before), view848(final))
	}
	for _, m := range ms {
		m.stop()
	}
	if _, dups := read(ms); len(dups) > 0 {
		t.Fatalf("%d records read twice (a partition moved or was re-read), e.g. %q", len(dups), dups[0])
	}
}

// describeStable848 asks (through node via) until the group is Stable with
// n members, and returns its description.
func describeStable848(t *testing.T, c *testkit.Cluster, via int32, group string, n int) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(via).KafkaAddr()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		cl.Close()
		if err == nil && len(resp.Groups) == 1 {
			g := resp.Groups[0]
			if g.ErrorCode == 0 && g.State == "Stable" && len(g.Members) == n {
				return g
			}
			last = fmt.Sprintf("%v state %s, %d members", kerr.ErrorForCode(g.ErrorCode), g.State, len(g.Members))
		} else if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not Stable with %d members through node %d: %s", group, n, via, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// view848 is a group's epoch and each member's id, epoch and partitions.
func view848(g kmsg.ConsumerGroupDescribeResponseGroup) string {
	var ms []string
	for _, m := range g.Members {
		var ps []string
		for _, tp := range m.Assignment.TopicPartitions {
			for _, p := range tp.Partitions {
				ps = append(ps, fmt.Sprintf("%x/%d", tp.TopicID[:4], p))
			}
		}
		slices.Sort(ps)
		ms = append(ms, fmt.Sprintf("%s@%d[%s]", m.MemberID, m.MemberEpoch, strings.Join(ps, ",")))
	}
	slices.Sort(ms)
	return fmt.Sprintf("epoch %d %s", g.Epoch, strings.Join(ms, " "))
}
