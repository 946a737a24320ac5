package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestNodeJoins adds a fourth strom process to a running 3-node cluster:
// its config lists the three nodes and itself, theirs are left alone. Every
// node's Metadata then lists four brokers (rule 2, checked by AddNode), a
// client bootstrapped through the new node alone reads a topic written
// before it joined, a replication-factor-4
// topic created through it takes it into every ISR, and franz-go producing
// through it with acks=all reads everything back after the new node is
// killed with SIGKILL and restarted.
func TestNodeJoins(t *testing.T) {
	c := testkit.StartCluster(t, nodes)
	before := testkit.TopicName(t, "before")
	c.CreateTopic(t, before, partitions, rf, nil)
	early := testkit.MakeRecords(before, "early", 90, partitions)
	testkit.ProduceSync(t, testkit.NewClient(t, c.Node(1).KafkaAddr(), testkit.Seeds(c.Bootstrap()), testkit.ManualPartitioner()), early)

	n4 := c.AddNode(t)
	logf(t, "node %d joined at %s", n4.ID(), n4.KafkaAddr())
	c.WaitTopic(t, before, partitions)
	// Read through the new node alone: it routes the client to the
	// topic's leaders, which it knows from the metadata it caught up on.
	testkit.RequireSameRecords(t, early, testkit.ConsumePartitions(t, n4.KafkaAddr(), before, partitions))

	after := testkit.TopicName(t, "after")
	testkit.CreateTopicRF(t, n4.KafkaAddr(), after, partitions, 4, nil)
	c.WaitTopic(t, after, partitions)
	allInSync(t, c, after, n4.ID())

	cl := testkit.NewClient(t, n4.KafkaAddr(), kgo.RequiredAcks(kgo.AllISRAcks()), testkit.ManualPartitioner())
	chk := testkit.NewChecker()
	produce := func(from, n int) {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: after, Partition: int32((from + i) % partitions), Value: value100("join", from+i)}
			chk.Attempt(recs[i])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res := cl.ProduceSync(ctx, recs...)
		for _, r := range res {
			chk.Done(r.Record, r.Err)
		}
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce through the joined node: %v", err)
		}
	}
	produce(0, 600)

	n4.Kill(t)
	produce(600, 300) // the other three carry on without it
	n4.Restart(t)
	allInSync(t, c, after, n4.ID())
	produce(900, 300)

	read := testkit.ConsumePartitions(t, n4.KafkaAddr(), after, partitions)
	chk.Verify(t, read)
	if _, acked, _ := chk.Counts(); len(read) != acked {
		t.Errorf("read %d records, acknowledged %d", len(read), acked)
	}
}

// allInSync waits until a node other than id reports every partition of
// topic with all four replicas in sync, whichever of them leads (node id
// may lead: it is every partition's replica, and the preferred leader of
// some). Node id is not asked, as in WaitInSync.
func allInSync(t *testing.T, c *testkit.Cluster, topic string, id int32) {
	t.Helper()
	for p := range int32(partitions) {
		c.WaitPartition(t, topic, p, 30*time.Second, func(st testkit.PartitionState) bool {
			return len(st.ISR) == 4 && slices.Contains(st.ISR, id) && st.Leader >= 1
		}, id)
	}
}
