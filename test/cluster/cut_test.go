package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestCutLeaderOff isolates the leader of partition 0 from the other nodes
// (Raft and replication traffic black-holed both ways) while clients can
// still reach it. The cut-off node must not acknowledge acks=all writes, the
// others must elect a new leader that the producer moves to, and after the
// cut heals nothing acknowledged may be lost and the node must rejoin: listed
// in Metadata and back in the ISR.
func TestCutLeaderOff(t *testing.T) {
	c := testkit.StartCluster(t, nodes, testkit.WithProxies())
	topic := testkit.TopicName(t, "")
	c.CreateTopic(t, topic, partitions, rf, nil)
	chk := testkit.NewChecker()
	p := startProducer(t, c.Bootstrap(), topic, chk)
	p.waitMore(t, -1, 600, 30*time.Second, "before the cut")

	old := c.WaitPartition(t, topic, 0, 10*time.Second, func(st testkit.PartitionState) bool { return st.Leader >= 1 })
	victim := c.Node(old.Leader)
	logf(t, "cutting node %d off, leader of %s/0 at epoch %d (isr %v)", victim.ID(), topic, old.LeaderEpoch, old.ISR)
	c.Cut(t, victim.ID())

	// Straight to the cut-off node, bypassing client metadata: an acks=all
	// write there cannot reach the ISR, so it must fail or time out.
	directProduceMustNotAck(t, victim, topic, chk)

	now := c.WaitNewLeader(t, topic, 0, victim.ID(), failoverTimeout)
	logf(t, "new leader of %s/0 while node %d is cut off: %v", topic, victim.ID(), now)
	if now.LeaderEpoch <= old.LeaderEpoch {
		t.Errorf("leader moved from %d to %d but its epoch went from %d to %d", old.Leader, now.Leader, old.LeaderEpoch, now.LeaderEpoch)
	}
	p.waitMore(t, 0, 200, failoverTimeout, "partition 0 while its old leader is cut off")
	directProduceMustNotAck(t, victim, topic, chk)

	c.Heal(t, victim.ID())
	logf(t, "healed node %d", victim.ID())
	c.WaitFormed(t)
	c.WaitInSync(t, topic, 0, victim.ID(), 30*time.Second)
	logf(t, "node %d back in the ISR of %s/0", victim.ID(), topic)
	p.waitMore(t, -1, 300, failoverTimeout, "after the heal")
	p.finish(t)
	verify(t, c, topic, chk)
}

// directProduceMustNotAck sends one acks=all produce request for partition 0
// to node n only, and fails the test if n acknowledges it. An acknowledged
// record is also given to the checker, so its loss is reported too.
func directProduceMustNotAck(t *testing.T, n *testkit.ClusterNode, topic string, chk *testkit.Checker) {
	t.Helper()
	val := value100("direct-"+time.Now().Format("150405.000000"), 0)
	batch, err := record.AppendBatch(nil, record.BatchOptions{
		Codec: record.CodecNone, FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, []record.Record{{Value: val}})
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 3000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	rec := &kgo.Record{Topic: topic, Partition: 0, Value: val}
	chk.Attempt(rec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := testkit.RequestTo(ctx, n.KafkaAddr(), req)
	if err != nil {
		chk.Done(rec, err)
		logf(t, "acks=all produce to cut-off node %d: no answer (%v)", n.ID(), err)
		return
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response to node %d has %d topics; want one topic with one partition", n.ID(), len(pr.Topics))
	}
	part := pr.Topics[0].Partitions[0]
	if code := part.ErrorCode; code != 0 {
		chk.Done(rec, kerr.ErrorForCode(code))
		logf(t, "acks=all produce to cut-off node %d: %v", n.ID(), kerr.ErrorForCode(code))
		return
	}
	rec.Offset = part.BaseOffset
	chk.Done(rec, nil)
	t.Errorf("node %d, cut off from every other node, acknowledged an acks=all write at %s/0 offset %d: "+
		"it cannot have reached any other in-sync replica", n.ID(), topic, part.BaseOffset)
}

