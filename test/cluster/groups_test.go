package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// groupCoordinator asks node id which node coordinates group.
func groupCoordinator(t *testing.T, c *testkit.Cluster, id int32, group string) (int32, int16) {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 4
	req.CoordinatorKeys = []string{group}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Request(ctx, id, req)
	if err != nil {
		return -1, -1
	}
	node, _, _, code := coordinatorOf(resp.(*kmsg.FindCoordinatorResponse))
	return node, code
}

// consumeGroup reads n records as a member of group and commits them.
func consumeGroup(t *testing.T, boot, seeds, topic, group string, n int) {
	t.Helper()
	cl := testkit.NewClient(t, boot, testkit.Seeds(seeds), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("group %s read %d of %d records: %v", group, got, n, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		got += fs.NumRecords()
	}
	if got != n {
		t.Fatalf("group %s read %d records, want exactly %d (resume from the commit)", group, got, n)
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// TestGroupCoordinatorFailover: committed offsets live in the replicated
// __consumer_offsets topic and the coordinator is the leader of the
// group's partition, so killing the coordinator's node moves the group to
// another node with its commits intact, and a consumer resumes there.
func TestGroupCoordinatorFailover(t *testing.T) {
	c := testkit.StartCluster(t, nodes, testkit.WithNodeTOML("offsets_topic_partitions = 3\ngroup_initial_rebalance_delay = \"0s\""))
	boot := c.Node(1).KafkaAddr()
	topic := testkit.TopicName(t, "")
	testkit.CreateTopicRF(t, c.Node(1).KafkaAddr(), topic, partitions, rf, nil)
	c.WaitTopic(t, topic, partitions)
	prod := testkit.NewClient(t, boot, testkit.Seeds(c.Bootstrap()), kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(n int, tag string) {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Value: value100(tag, i)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	const group = "failover-group"
	produce(300, "before")
	consumeGroup(t, boot, c.Bootstrap(), topic, group, 300)

	coord, code := groupCoordinator(t, c, 1, group)
	if code != 0 || coord < 1 {
		t.Fatalf("FindCoordinator: node %d, error %d", coord, code)
	}
	t.Logf("coordinator of %s is node %d; killing it", group, coord)
	c.Node(coord).Kill(t)

	var other int32 = 1
	if coord == 1 {
		other = 2
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// A fresh client each time: kgo keeps a coordinator it has found
		// until the broker says otherwise, and a dead one says nothing.
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(other).KafkaAddr()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		cancel()
		cl.Close()
		if err == nil && offs.Error() == nil {
			total := int64(0)
			offs.Each(func(o kadm.OffsetResponse) { total += o.At })
			if total != 300 {
				t.Fatalf("committed offsets after coordinator failover sum to %d, want 300: %v", total, offs)
			}
			break
		}
		if time.Now().After(deadline) {
			now, code := groupCoordinator(t, c, other, group)
			t.Logf("node %d names coordinator %d (error %d)", other, now, code)
			t.Fatalf("committed offsets not readable after coordinator failover: %v / %v", err, offs.Error())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if now, code := groupCoordinator(t, c, other, group); code != 0 || now == coord {
		t.Fatalf("after the kill the coordinator is node %d (error %d); want a live node other than %d", now, code, coord)
	}
	produce(30, "after")
	consumeGroup(t, c.Node(other).KafkaAddr(), c.Bootstrap(), topic, group, 30)
}
