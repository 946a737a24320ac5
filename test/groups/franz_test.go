package groups_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// consumeGroup runs one franz-go group member until it has read want
// records (by key), commits what it read and leaves. It returns what it
// read.
func consumeGroupFranz(t *testing.T, addr, group, topic string, want int, opts ...kgo.Opt) map[string]recordID {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)
	cl := testkit.NewClient(t, addr, opts...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]recordID{}
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group %s read %d of %d records: %v", group, len(got), want, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = recordID{r.Partition, r.Offset} })
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return got
}

func TestFranzResume(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	first := produce(t, b.Addr(), topic, "a", 300)
	g := groupName(t)
	requireExactly(t, first, consumeGroupFranz(t, b.Addr(), g, topic, len(first)))
	if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
		t.Fatalf("committed %v, want the high watermarks %v", got, want)
	}
	second := produce(t, b.Addr(), topic, "b", 90)
	requireExactly(t, second, consumeGroupFranz(t, b.Addr(), g, topic, len(second)))
}

func equalOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestFranzBalancers runs two members of one group at once with each
// balancer: together they read every record, and the group settles with
// both members assigned.
func TestFranzBalancers(t *testing.T) {
	b := startBroker(t)
	for _, bal := range []struct {
		name string
		opt  kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(bal.name, func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
			want := produce(t, b.Addr(), topic, "r", 240)
			g := groupName(t)

			var mu sync.Mutex
			got := map[string]recordID{}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			clients := make([]*kgo.Client, 2)
			for i := range clients {
				clients[i] = testkit.NewClient(t, b.Addr(), kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic),
					kgo.Balancers(bal.opt), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
					kgo.ClientID(fmt.Sprintf("member-%d", i)))
				wg.Add(1)
				go func(cl *kgo.Client) {
					defer wg.Done()
					for ctx.Err() == nil {
						fs := cl.PollFetches(ctx)
						mu.Lock()
						fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = recordID{r.Partition, r.Offset} })
						mu.Unlock()
					}
				}(clients[i])
			}
			defer func() { cancel(); wg.Wait() }()
			adm := testkit.NewAdmin(t, b.Addr())
			pollUntil(t, "both members assigned in a stable group", 60*time.Second, func() bool {
				dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
				defer dcancel()
				ds, err := adm.DescribeGroups(dctx, g)
				if err != nil {
					return false
				}
				d := ds[g]
				if d.State != "Stable" || len(d.Members) != 2 {
					return false
				}
				assigned := 0
				for _, m := range d.Members {
					ca, ok := m.Assigned.AsConsumer()
					if !ok || len(ca.Topics) == 0 || len(ca.Topics[0].Partitions) == 0 {
						return false
					}
					assigned += len(ca.Topics[0].Partitions)
				}
				return assigned == partitions
			})
			pollUntil(t, "every record consumed", 60*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) >= len(want)
			})
			cancel()
			wg.Wait()
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer ccancel()
			for _, cl := range clients {
				if err := cl.CommitUncommittedOffsets(cctx); err != nil {
					t.Errorf("commit: %v", err)
				}
			}
			mu.Lock()
			requireExactly(t, want, got)
			mu.Unlock()
		})
	}
}

// TestFranzStaticMember restarts a static member: it comes back under the
// same instance id without leaving, takes over its old identity, and
// resumes from its commits.
func TestFranzStaticMember(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	g := groupName(t)
	first := produce(t, b.Addr(), topic, "a", 120)
	opt := kgo.InstanceID("static-1")
	requireExactly(t, first, consumeGroupFranz(t, b.Addr(), g, topic, len(first), opt))

	// The closed static member did not leave: it is still in the group.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ds, err := testkit.NewAdmin(t, b.Addr()).DescribeGroups(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if d := ds[g]; len(d.Members) != 1 || d.Members[0].InstanceID == nil || *d.Members[0].InstanceID != "static-1" {
		t.Fatalf("static member after close: %+v", d)
	}
	old := ds[g].Members[0].MemberID

	second := produce(t, b.Addr(), topic, "b", 60)
	requireExactly(t, second, consumeGroupFranz(t, b.Addr(), g, topic, len(second), opt))
	ds, err = testkit.NewAdmin(t, b.Addr()).DescribeGroups(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if d := ds[g]; len(d.Members) != 1 || d.Members[0].MemberID == old {
		t.Fatalf("restarted static member: want one member with a new id (old %s), got %+v", old, d.Members)
	}
}

// TestFranzBrokerRestart checks that committed offsets and group metadata
// survive a clean broker restart (they are replayed from
// __consumer_offsets).
func TestFranzBrokerRestart(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	g := groupName(t)
	first := produce(t, b.Addr(), topic, "a", 150)
	requireExactly(t, first, consumeGroupFranz(t, b.Addr(), g, topic, len(first)))
	want := ends(t, b.Addr(), topic)

	b.Restart(t)
	if got := committed(t, b.Addr(), g, topic); !equalOffsets(got, want) {
		t.Fatalf("committed offsets after restart %v, want %v", got, want)
	}
	second := produce(t, b.Addr(), topic, "b", 60)
	requireExactly(t, second, consumeGroupFranz(t, b.Addr(), g, topic, len(second)))
}

// TestKillKeepsAcknowledgedCommits SIGKILLs a strom process right after
// commits were acknowledged; after a restart every acknowledged commit is
// there.
func TestKillKeepsAcknowledgedCommits(t *testing.T) {
	p := testkit.StartProcess(t, testkit.ProcessOptions{Env: []string{
		"STROM_GROUP_INITIAL_REBALANCE_DELAY=100ms", "STROM_OFFSETS_TOPIC_PARTITIONS=5",
	}})
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, p.Addr(), topic, partitions, nil)
	g := groupName(t)
	first := produce(t, p.Addr(), topic, "a", 150)
	requireExactly(t, first, consumeGroupFranz(t, p.Addr(), g, topic, len(first)))

	// Many more acknowledged commits from a simple (groupless) committer.
	adm := testkit.NewAdmin(t, p.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var last kadm.Offsets
	for i := int64(1); i <= 50; i++ {
		last = kadm.Offsets{}
		for part := int32(0); part < partitions; part++ {
			last.AddOffset(topic, part, i, -1)
		}
		resp, err := adm.CommitOffsets(ctx, "simple-"+g, last)
		if err != nil || resp.Error() != nil {
			t.Fatalf("commit %d: %v %v", i, err, resp.Error())
		}
	}
	want := ends(t, p.Addr(), topic)
	p.Kill(t)
	p.Restart(t)

	if got := committed(t, p.Addr(), g, topic); !equalOffsets(got, want) {
		t.Fatalf("group commits after SIGKILL %v, want %v", got, want)
	}
	if got := committed(t, p.Addr(), "simple-"+g, topic); !equalOffsets(got, map[int32]int64{0: 50, 1: 50, 2: 50}) {
		t.Fatalf("simple commits after SIGKILL %v, want 50 on every partition", got)
	}
	second := produce(t, p.Addr(), topic, "b", 30)
	requireExactly(t, second, consumeGroupFranz(t, p.Addr(), g, topic, len(second)))
}

// TestFranzSessionExpiry closes a static member without leaving: once its
// session runs out the coordinator removes it and the other member takes
// every partition.
func TestFranzSessionExpiry(t *testing.T) {
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.GroupInitialRebalanceDelay = 100 * time.Millisecond
		c.GroupMinSessionTimeout = time.Second
		c.OffsetsTopicPartitions = 5
	}))
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	g := groupName(t)
	opts := func(extra ...kgo.Opt) []kgo.Opt {
		return append([]kgo.Opt{kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic), kgo.SessionTimeout(2 * time.Second),
			kgo.HeartbeatInterval(300 * time.Millisecond)}, extra...)
	}
	static := testkit.NewClient(t, b.Addr(), opts(kgo.InstanceID("goes-away"))...)
	dynamic := testkit.NewClient(t, b.Addr(), opts()...)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, cl := range []*kgo.Client{static, dynamic} {
		wg.Add(1)
		go func(cl *kgo.Client) {
			defer wg.Done()
			for ctx.Err() == nil {
				cl.PollFetches(ctx)
			}
		}(cl)
	}
	defer wg.Wait()
	defer cancel()
	adm := testkit.NewAdmin(t, b.Addr())
	members := func() (n, assigned int, ok bool) {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		ds, err := adm.DescribeGroups(dctx, g)
		if err != nil || ds[g].State != "Stable" {
			return 0, 0, false
		}
		for _, m := range ds[g].Members {
			if ca, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range ca.Topics {
					assigned += len(tp.Partitions)
				}
			}
		}
		return len(ds[g].Members), assigned, true
	}
	pollUntil(t, "two members sharing the partitions", 60*time.Second, func() bool {
		n, a, ok := members()
		return ok && n == 2 && a == partitions
	})
	cancel()
	wg.Wait()
	static.Close() // a static member does not leave on close
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx2.Err() == nil {
			dynamic.PollFetches(ctx2)
		}
	}()
	pollUntil(t, "the closed static member to expire", 60*time.Second, func() bool {
		n, a, ok := members()
		return ok && n == 1 && a == partitions
	})
}
