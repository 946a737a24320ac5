package cluster_test

import (
	"context"
	"fmt"
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
	p.WaitMore(t, -1, 600, 30*time.Second, "before the cut")

	old := c.WaitPartition(t, topic, 0, 10*time.Second, func(st testkit.PartitionState) bool { return st.Leader >= 1 })
	victim := c.Node(old.Leader)
	logf(t, "cutting node %d off, leader of %s/0 at epoch %d (isr %v)", victim.ID(), topic, old.LeaderEpoch, old.ISR)
	c.Cut(t, victim.ID())
	// Violations found while cut are reported at the end: testkit's
	// consume helper stops at once in a test already marked failed, and the
	// check for lost writes must still run.
	var problems []string
	defer func() {
		for _, p := range problems {
			t.Error(p)
		}
	}()

	// Straight to the cut-off node, bypassing client metadata: an acks=all
	// write there cannot reach the ISR, so it must fail or time out.
	problems = append(problems, directProduceMustNotAck(t, victim, topic, chk)...)

	now := c.WaitNewLeader(t, topic, 0, victim.ID(), failoverTimeout)
	logf(t, "new leader of %s/0 while node %d is cut off: %v", topic, victim.ID(), now)
	if now.LeaderEpoch <= old.LeaderEpoch {
		t.Errorf("leader moved from %d to %d but its epoch went from %d to %d", old.Leader, now.Leader, old.LeaderEpoch, now.LeaderEpoch)
	}
	p.WaitMore(t, 0, 200, failoverTimeout, "partition 0 while its old leader is cut off")
	problems = append(problems, directProduceMustNotAck(t, victim, topic, chk)...)
	problems = append(problems, checkNoStaleLeadership(t, c, victim, topic, now)...)

	c.Heal(t, victim.ID())
	logf(t, "healed node %d", victim.ID())
	c.WaitFormed(t)
	c.WaitInSync(t, topic, 0, victim.ID(), 30*time.Second)
	logf(t, "node %d back in the ISR of %s/0", victim.ID(), topic)
	p.WaitMore(t, -1, 300, failoverTimeout, "after the heal")
	p.Finish(t, producerFinish)
	verify(t, c, topic, chk)
}

// directProduceMustNotAck sends one acks=all produce request for partition 0
// to node n only, and returns a problem if n acknowledges it. An
// acknowledged record is also given to the checker, so its loss is reported
// too.
func directProduceMustNotAck(t *testing.T, n *testkit.ClusterNode, topic string, chk *testkit.Checker) []string {
	t.Helper()
	val := value100("direct-"+time.Now().Format("150405.000000"), 0)
	batch, err := record.AppendBatch(nil, record.BatchOptions{
		Codec: record.CodecNone, FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, []record.Record{{Value: val}})
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	// Produce v13+ names topics by id only; give both.
	md, err := testkit.RequestTo(context.Background(), n.KafkaAddr(), topicMetadataRequest(topic))
	if err != nil {
		t.Fatalf("metadata from cut-off node %d: %v", n.ID(), err)
	}
	var topicID [16]byte
	for _, tp := range md.(*kmsg.MetadataResponse).Topics {
		if tp.Topic != nil && *tp.Topic == topic {
			topicID = tp.TopicID
		}
	}
	if topicID == ([16]byte{}) {
		t.Fatalf("cut-off node %d gives no topic id for %s", n.ID(), topic)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 3000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = topicID
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
		return nil
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response to node %d has %d topics; want one topic with one partition", n.ID(), len(pr.Topics))
	}
	part := pr.Topics[0].Partitions[0]
	if code := part.ErrorCode; code != 0 {
		chk.Done(rec, kerr.ErrorForCode(code))
		logf(t, "acks=all produce to cut-off node %d: %v", n.ID(), kerr.ErrorForCode(code))
		return nil
	}
	rec.Offset = part.BaseOffset
	chk.Done(rec, nil)
	return []string{fmt.Sprintf("node %d, cut off from every other node, acknowledged an acks=all write at %s/0 offset %d: "+
		"it cannot have reached any other in-sync replica", n.ID(), topic, part.BaseOffset)}
}

// checkNoStaleLeadership is DESIGN.md §2 rule 4 for a node cut off from the
// metadata quorum well past its session: it must not keep telling clients
// that it leads a partition at an epoch that has since been superseded. It
// may answer with retryable errors, or not at all. It returns the problem
// found, if any.
func checkNoStaleLeadership(t *testing.T, c *testkit.Cluster, n *testkit.ClusterNode, topic string, now testkit.PartitionState) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Metadata(ctx, n.ID(), topic)
	if err != nil {
		logf(t, "metadata from cut-off node %d: %v", n.ID(), err)
		return nil
	}
	st, ok := testkit.Partitions(resp, topic)[0]
	if !ok {
		logf(t, "cut-off node %d does not list %s/0", n.ID(), topic)
		return nil
	}
	logf(t, "cut-off node %d says %s/0: %v", n.ID(), topic, st)
	if st.ErrorCode == 0 && st.LeaderEpoch < now.LeaderEpoch {
		return []string{fmt.Sprintf("rule 4: node %d, cut off from the metadata quorum, still serves a stale image for %s/0 without error: %v; "+
			"the quorum has moved on to leader %d epoch %d", n.ID(), topic, st, now.Leader, now.LeaderEpoch)}
	}
	return nil
}
