package groups_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// KIP-848 consumer groups (group.protocol=consumer) with real clients: two
// members share a four-partition topic and read every record exactly once
// between them, commit, one leaves and the other takes over its
// partitions, and a new member resumes from the commits.

const partitions848 = 4

// member848 is one running consumer: records it read, by key, with a count
// to catch a record read twice.
type member848 struct {
	mu   sync.Mutex
	got  map[string]recordID
	dups []string
}

func (m *member848) add(key string, id recordID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.got[key]; ok {
		m.dups = append(m.dups, key)
	}
	m.got[key] = id
}

func (m *member848) snapshot() (map[string]recordID, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]recordID, len(m.got))
	for k, v := range m.got {
		out[k] = v
	}
	return out, append([]string(nil), m.dups...)
}

// describe848 asks ConsumerGroupDescribe about group.
func describe848(t *testing.T, addr, group string) (kmsg.ConsumerGroupDescribeResponseGroup, error) {
	t.Helper()
	cl := testkit.NewClient(t, addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return kmsg.ConsumerGroupDescribeResponseGroup{}, err
	}
	g := resp.Groups[0]
	return g, kerr.ErrorForCode(g.ErrorCode)
}

// waitAssigned polls until the group is Stable with n members that
// together own every partition of the topic.
func waitAssigned(t *testing.T, addr, group string, n int) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	var last kmsg.ConsumerGroupDescribeResponseGroup
	pollUntil(t, fmt.Sprintf("%d members owning all partitions", n), 90*time.Second, func() bool {
		g, err := describe848(t, addr, group)
		if err != nil || g.State != "Stable" || len(g.Members) != n {
			return false
		}
		owned := 0
		for _, m := range g.Members {
			if len(m.Assignment.TopicPartitions) == 0 {
				return false
			}
			for _, tp := range m.Assignment.TopicPartitions {
				owned += len(tp.Partitions)
			}
		}
		last = g
		return owned == partitions848
	})
	return last
}

// runFranz848 starts a franz-go member using the consumer group protocol
// with the given server-side balancer; stop commits what it read and
// leaves the group.
func runFranz848(t *testing.T, addr, group, topic, name string, bal kgo.GroupBalancer) (*member848, func()) {
	m := &member848{got: map[string]recordID{}}
	cl := testkit.NewClient(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
		kgo.Balancers(bal), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ClientID(name))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { m.add(string(r.Key), recordID{r.Partition, r.Offset}) })
			// Commit as we go, so a partition that moves resumes where
			// this member stopped.
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
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			if err := cl.CommitUncommittedOffsets(cctx); err != nil {
				t.Errorf("%s: final commit: %v", name, err)
			}
			cl.Close() // leaves the group (member epoch -1)
		})
	}
	t.Cleanup(stop)
	return m, stop
}

func TestKIP848Franz(t *testing.T) {
	for _, c := range []struct {
		name     string
		bal      kgo.GroupBalancer
		assignor string
	}{
		{"uniform", kgo.CooperativeStickyBalancer(), "uniform"},
		{"range", kgo.RangeBalancer(), "range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(t *testing.T, addr, group, topic, name string) (*member848, func()) {
				return runFranz848(t, addr, group, topic, name, c.bal)
			}
			scenario848(t, run, 400, func(d kmsg.ConsumerGroupDescribeResponseGroup) {
				if d.AssignorName != c.assignor {
					t.Errorf("assignor %q, want %q", d.AssignorName, c.assignor)
				}
				for _, mem := range d.Members {
					if mem.MemberEpoch != d.Epoch || len(mem.TargetAssignment.TopicPartitions) != 1 {
						t.Errorf("member %+v of a stable group at epoch %d", mem, d.Epoch)
					}
				}
			})
		})
	}
}

// memberRunner starts a KIP-848 member called name of group, subscribed to
// topic; the func it returns stops the member (it commits as it leaves).
type memberRunner func(t *testing.T, addr, group, topic, name string) (*member848, func())

// scenario848 is the life cycle every client is put through: two members
// split a four-partition topic and read a first batch of n records exactly
// once between them; one leaves and the other takes over its partitions
// from the commits, reading only the new records; once both have stopped,
// the commits are the high watermarks; a third member resumes from them.
// onStable, when set, checks the group once both members hold their
// assignment.
func scenario848(t *testing.T, run memberRunner, n int, onStable func(kmsg.ConsumerGroupDescribeResponseGroup)) {
	t.Helper()
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions848, nil)
	g := groupName(t)

	m1, stop1 := run(t, b.Addr(), g, topic, "m1")
	m2, stop2 := run(t, b.Addr(), g, topic, "m2")
	d := waitAssigned(t, b.Addr(), g, 2)
	if onStable != nil {
		onStable(d)
	}

	first := produce848(t, b.Addr(), topic, "a", n)
	pollUntil(t, "both members read the first batch", 60*time.Second, func() bool {
		a, _ := m1.snapshot()
		b, _ := m2.snapshot()
		return len(a)+len(b) >= len(first)
	})
	got1, dups1 := m1.snapshot()
	got2, dups2 := m2.snapshot()
	if len(got1) == 0 || len(got2) == 0 || len(dups1)+len(dups2) > 0 {
		t.Fatalf("m1 read %d, m2 %d; read twice: %v %v", len(got1), len(got2), dups1, dups2)
	}
	requireExactly(t, first, mergeDisjoint(t, got1, got2))

	// m1 leaves: m2 owns everything and reads only new records.
	stop1()
	waitAssigned(t, b.Addr(), g, 1)
	second := produce848(t, b.Addr(), topic, "b", n/2)
	pollUntil(t, "m2 read the second batch", 60*time.Second, func() bool {
		a, _ := m2.snapshot()
		return readAllOf(a, second)
	})
	got2, dups := m2.snapshot()
	if len(dups) > 0 {
		t.Fatalf("m2 read records twice after taking over: %v", dups)
	}
	// m1 committed what it read as it left, so m2 starts its partitions
	// after those records.
	for k := range got1 {
		if _, ok := got2[k]; ok {
			t.Fatalf("m2 read %s again after taking over from m1, which had read and committed it", k)
		}
	}
	stop2()
	if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
		t.Fatalf("committed %v, want the high watermarks %v", got, want)
	}

	// A new member resumes from the commits.
	third := produce848(t, b.Addr(), topic, "c", n/4)
	m3, stop3 := run(t, b.Addr(), g, topic, "m3")
	pollUntil(t, "m3 read the third batch", 60*time.Second, func() bool {
		a, _ := m3.snapshot()
		return len(a) >= len(third)
	})
	stop3()
	got3, _ := m3.snapshot()
	requireExactly(t, third, got3)
}

// produce848 writes n records spread over the four partitions.
func produce848(t *testing.T, addr, topic, prefix string, n int) []*kgo.Record {
	t.Helper()
	recs := testkit.MakeRecords(topic, prefix, n, partitions848)
	testkit.ProduceSync(t, testkit.NewClient(t, addr, testkit.ManualPartitioner()), recs)
	return recs
}

// TestKIP848FranzBrokerRestart: commits and the group epoch survive a
// broker restart; the old member id is gone (membership is not
// persisted), and a new member resumes from the commits.
func TestKIP848FranzBrokerRestart(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions848, nil)
	g := groupName(t)
	first := produce848(t, b.Addr(), topic, "a", 120)
	m1, stop1 := runFranz848(t, b.Addr(), g, topic, "m1", kgo.CooperativeStickyBalancer())
	pollUntil(t, "m1 read the first batch", 60*time.Second, func() bool {
		got, _ := m1.snapshot()
		return len(got) >= len(first)
	})
	stop1()
	got1, _ := m1.snapshot()
	requireExactly(t, first, got1)
	before, err := describe848(t, b.Addr(), g)
	if err != nil || before.State != "Empty" || before.Epoch < 2 {
		t.Fatalf("group after its member left: %+v %v", before, err)
	}

	b.Restart(t)
	var after kmsg.ConsumerGroupDescribeResponseGroup
	pollUntil(t, "the group reloaded", 60*time.Second, func() bool {
		after, err = describe848(t, b.Addr(), g)
		return err == nil
	})
	if after.State != "Empty" || after.Epoch != before.Epoch {
		t.Fatalf("reloaded group %+v, want Empty at epoch %d", after, before.Epoch)
	}
	if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
		t.Fatalf("committed after restart %v, want %v", got, want)
	}
	second := produce848(t, b.Addr(), topic, "b", 80)
	m2, stop2 := runFranz848(t, b.Addr(), g, topic, "m2", kgo.CooperativeStickyBalancer())
	pollUntil(t, "m2 read the second batch", 60*time.Second, func() bool {
		got, _ := m2.snapshot()
		return len(got) >= len(second)
	})
	stop2()
	got2, _ := m2.snapshot()
	requireExactly(t, second, got2)
	d, err := describe848(t, b.Addr(), g)
	if err != nil || d.Epoch <= before.Epoch {
		t.Fatalf("group epoch after a new member %+v %v, want above %d", d, err, before.Epoch)
	}
}

// TestKIP848FranzRegex: a member subscribing by regex (ConsumerGroupHeartbeat
// v1) is assigned the partitions of every matching topic and no other.
func TestKIP848FranzRegex(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	for _, name := range []string{topic + "-1", topic + "-2", "other-" + topic} {
		testkit.CreateTopic(t, b.Addr(), name, partitions848, nil)
	}
	var want []*kgo.Record
	for _, name := range []string{topic + "-1", topic + "-2"} {
		want = append(want, produce848(t, b.Addr(), name, name, 40)...)
	}
	produce848(t, b.Addr(), "other-"+topic, "x", 40)
	g := groupName(t)
	cl := testkit.NewClient(t, b.Addr(), kgo.ConsumerGroup(g), kgo.ConsumeRegex(), kgo.ConsumeTopics("^"+topic+"-[0-9]$"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]recordID{}
	for len(got) < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(got), len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == "other-"+topic {
				t.Errorf("read %s from a topic the regex does not match", r.Key)
			}
			got[string(r.Key)] = recordID{r.Partition, r.Offset}
		})
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	d, err := describe848(t, b.Addr(), g)
	if err != nil || len(d.Members) != 1 || d.Members[0].SubscribedTopicRegex == nil {
		t.Fatalf("group %+v %v", d, err)
	}
	n := 0
	for _, tp := range d.Members[0].Assignment.TopicPartitions {
		n += len(tp.Partitions)
	}
	if n != 2*partitions848 {
		t.Fatalf("member owns %d partitions, want %d", n, 2*partitions848)
	}
}

// TestKIP848FranzPartitionsAdded: partitions added to a subscribed topic
// start a new group epoch, and the members are assigned them.
func TestKIP848FranzPartitionsAdded(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions848, nil)
	g := groupName(t)
	m1, _ := runFranz848(t, b.Addr(), g, topic, "m1", kgo.CooperativeStickyBalancer())
	before := waitAssigned(t, b.Addr(), g, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := testkit.NewAdmin(t, b.Addr()).CreatePartitions(ctx, 2, topic); err != nil {
		t.Fatalf("add partitions: %v", err)
	}
	pollUntil(t, "the member to own six partitions", 60*time.Second, func() bool {
		d, err := describe848(t, b.Addr(), g)
		if err != nil || len(d.Members) != 1 || d.Epoch <= before.Epoch {
			return false
		}
		n := 0
		for _, tp := range d.Members[0].Assignment.TopicPartitions {
			n += len(tp.Partitions)
		}
		return n == partitions848+2
	})
	// Records on the new partitions are read too.
	recs := testkit.MakeRecords(topic, "new", 60, partitions848+2)
	testkit.ProduceSync(t, testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner()), recs)
	pollUntil(t, "records of the new partitions read", 60*time.Second, func() bool {
		got, _ := m1.snapshot()
		for k := range keysOf(recs) {
			if _, ok := got[k]; !ok {
				return false
			}
		}
		return true
	})
}
