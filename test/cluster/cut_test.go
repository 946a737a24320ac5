package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
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
// in Metadata and back in the ISR. The followers' lag bound is 1s, below
// the 3s broker session, so the cut-off leader wants to shrink its ISR to
// itself while it still believes it leads: it may act on the shrink only
// once the metadata quorum has committed it, which it cannot reach. The
// producer's ack ledger checks that no two nodes acknowledged writes for one
// partition in one leader epoch.
func TestCutLeaderOff(t *testing.T) {
	testCut(t, cutPartitionLeader, `replica_lag_time_max = "1s"`, testkit.WithProxies())
}

// TestCutLeaderOffNetns is TestCutLeaderOff with every node in its own
// network namespace and the cut made by the kernel: the cut-off node's link
// to its peers goes down, its packets are dropped and its open connections
// hang instead of closing (STROM_CLUSTER=full; needs root).
func TestCutLeaderOffNetns(t *testing.T) {
	fullOnly(t)
	testCut(t, cutPartitionLeader, `replica_lag_time_max = "1s"`, testkit.WithNetns())
}

// TestCutControllerOff cuts off the metadata controller, chosen to also lead
// a partition: the quorum's leader loses its majority at the same time as
// the partition's leader its followers (STROM_CLUSTER=full).
func TestCutControllerOff(t *testing.T) {
	fullOnly(t)
	testCut(t, cutController, `replica_lag_time_max = "1s"`, testkit.WithProxies())
}

// TestCutLeaderOffDefaultLag is TestCutLeaderOff with Kafka's 10s lag bound:
// the session expires, and leadership moves, before the cut-off leader
// even considers shrinking (STROM_CLUSTER=full).
func TestCutLeaderOffDefaultLag(t *testing.T) {
	fullOnly(t)
	testCut(t, cutPartitionLeader, "", testkit.WithProxies())
}

// fullOnly skips the variants of the fault matrix kept out of the default
// run (make cluster-full).
func fullOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("STROM_CLUSTER") != "full" {
		t.Skip("variant of the fault matrix; set STROM_CLUSTER=full (make cluster-full)")
	}
}

type cutWhom int

const (
	cutPartitionLeader cutWhom = iota // the leader of partition 0
	cutController                     // the metadata controller, leading some partition
)

// others are the ids of every node but id.
func others(c *testkit.Cluster, id int32) []int32 {
	var out []int32
	for _, n := range c.Nodes() {
		if n.ID() != id {
			out = append(out, n.ID())
		}
	}
	return out
}

// waitNewLeaderOrSoleISR waits, asking the nodes other than victim, until
// topic/part has a leader other than victim, or the quorum shows it
// leaderless with no live replica in its ISR (victim was left its only
// member) for 5s on end; sole tells which.
func waitNewLeaderOrSoleISR(t *testing.T, c *testkit.Cluster, topic string, part, victim int32) (st testkit.PartitionState, sole bool) {
	t.Helper()
	var since time.Time
	st = c.WaitPartition(t, topic, part, failoverTimeout+10*time.Second, func(st testkit.PartitionState) bool {
		if st.Leader >= 1 && st.Leader != victim && st.ErrorCode == 0 {
			return true
		}
		if st.Leader < 0 && len(st.ISR) == 0 {
			if since.IsZero() {
				since = time.Now()
			}
			return time.Since(since) > 5*time.Second
		}
		since = time.Time{}
		return false
	}, victim)
	return st, st.Leader < 0
}

// partitionLedBy returns a partition of topic that node id leads, once
// the nodes agree on the leaders.
func partitionLedBy(t *testing.T, c *testkit.Cluster, topic string, id int32) int32 {
	t.Helper()
	st := c.WaitStable(t, topic, partitions)
	for i := int32(0); i < partitions; i++ {
		if st[i].Leader == id {
			return i
		}
	}
	t.Fatalf("node %d leads no partition of %s: %v", id, topic, st)
	return -1
}

func testCut(t *testing.T, whom cutWhom, toml string, network testkit.ClusterOption) {
	c := testkit.StartCluster(t, nodes, network, testkit.WithNodeTOML(toml))
	topic := testkit.TopicName(t, "")
	c.CreateTopic(t, topic, partitions, rf, nil)
	chk := testkit.NewChecker()
	ledger := testkit.NewAckLedger(c)
	p := startProducer(t, c.Bootstrap(), topic, chk, ledger.Opt())
	p.WaitMore(t, -1, 600, 30*time.Second, "before the cut")

	part := int32(0)
	if whom == cutController {
		part = partitionLedBy(t, c, topic, c.ControllerID(t))
	}
	// Cut with every replica in the ISR, as the leader itself sees it.
	old := c.WaitPartition(t, topic, part, 30*time.Second, func(st testkit.PartitionState) bool {
		return st.Leader >= 1 && len(st.ISR) == nodes
	})
	old = c.WaitPartition(t, topic, part, 30*time.Second, func(st testkit.PartitionState) bool {
		return st.Leader >= 1 && len(st.ISR) == nodes
	}, others(c, old.Leader)...)
	victim := c.Node(old.Leader)
	logf(t, "cutting node %d off, leader of %s/%d at epoch %d (isr %v)", victim.ID(), topic, part, old.LeaderEpoch, old.ISR)
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
	direct := directProduceMustNotAck(t, victim, topic, part, chk)

	now, sole := waitNewLeaderOrSoleISR(t, c, topic, part, victim.ID())
	if sole {
		// A shrink of the ISR to the leader alone, committed by the
		// quorum just before the cut (the lag bound is short and the
		// machine busy), leaves no replica to elect: unclean election is
		// off, so the partition waits for its leader, which may
		// acknowledge alone meanwhile. What it acknowledged must still
		// survive (the checker), and nobody else may lead.
		logf(t, "%s/%d: the quorum had shrunk the ISR to node %d alone; no other leader can be elected: %v", topic, part, victim.ID(), now)
	} else {
		problems = append(problems, direct...)
		logf(t, "new leader of %s/%d while node %d is cut off: %v", topic, part, victim.ID(), now)
		if now.LeaderEpoch <= old.LeaderEpoch {
			t.Errorf("leader moved from %d to %d but its epoch went from %d to %d", old.Leader, now.Leader, old.LeaderEpoch, now.LeaderEpoch)
		}
		p.WaitMore(t, part, 200, failoverTimeout, "the partition while its old leader is cut off")
		problems = append(problems, directProduceMustNotAck(t, victim, topic, part, chk)...)
		problems = append(problems, checkNoStaleLeadership(t, c, victim, topic, part, now)...)
	}

	c.Heal(t, victim.ID())
	logf(t, "healed node %d", victim.ID())
	c.WaitFormed(t)
	c.WaitPartition(t, topic, part, 30*time.Second, func(st testkit.PartitionState) bool {
		return st.Leader >= 1 && st.ErrorCode == 0 && slices.Contains(st.ISR, victim.ID())
	}, victim.ID())
	logf(t, "node %d back in the ISR of %s/%d", victim.ID(), topic, part)
	p.WaitMore(t, -1, 300, failoverTimeout, "after the heal")
	p.Finish(t, producerFinish)
	read := verify(t, c, topic, chk)
	verifyLeaders(t, topic, read, chk, ledger)
	if !sole {
		// The write sent straight to the cut-off node reached no other
		// replica: the node must have truncated it on rejoining.
		for _, r := range read {
			if bytes.HasPrefix(r.Value, []byte("direct-")) {
				t.Errorf("%s/%d offset %d: the write the cut-off node %d took and could not replicate survived the heal (epoch %d)",
					topic, r.Partition, r.Offset, victim.ID(), r.LeaderEpoch)
			}
		}
	}
}

// directProduceMustNotAck sends one acks=all produce request for partition
// part to node n only, and returns a problem if n acknowledges it. An
// acknowledged record is also given to the checker, so its loss is reported
// too.
func directProduceMustNotAck(t *testing.T, n *testkit.ClusterNode, topic string, part int32, chk *testkit.Checker) []string {
	t.Helper()
	return directProduceMustNotAckVia(t, n, n, topic, part, chk)
}

// directProduceMustNotAckVia is directProduceMustNotAck taking the topic id
// from node idFrom.
func directProduceMustNotAckVia(t *testing.T, n, idFrom *testkit.ClusterNode, topic string, part int32, chk *testkit.Checker) []string {
	t.Helper()
	val := value100("direct-"+time.Now().Format("150405.000000"), 0)
	batch, err := record.AppendBatch(nil, record.BatchOptions{
		Codec: record.CodecNone, FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, []record.Record{{Value: val}})
	if err != nil {
		t.Errorf("build batch: %v", err)
		return nil
	}
	// Produce v13+ names topics by id only; give both.
	md, err := testkit.RequestTo(context.Background(), idFrom.KafkaAddr(), topicMetadataRequest(topic))
	if err != nil {
		t.Errorf("metadata from node %d: %v", idFrom.ID(), err)
		return nil
	}
	var topicID [16]byte
	for _, tp := range md.(*kmsg.MetadataResponse).Topics {
		if tp.Topic != nil && *tp.Topic == topic {
			topicID = tp.TopicID
		}
	}
	if topicID == ([16]byte{}) {
		t.Errorf("node %d gives no topic id for %s", idFrom.ID(), topic)
		return nil
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 3000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = topicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = part
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	rec := &kgo.Record{Topic: topic, Partition: part, Value: val}
	chk.Attempt(rec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := testkit.RequestTo(ctx, n.KafkaAddr(), req)
	if err != nil {
		chk.Done(rec, err)
		logf(t, "acks=all produce straight to node %d: no answer (%v)", n.ID(), err)
		return nil
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		t.Errorf("produce response to node %d has %d topics; want one topic with one partition", n.ID(), len(pr.Topics))
		return nil
	}
	pp := pr.Topics[0].Partitions[0]
	if code := pp.ErrorCode; code != 0 {
		chk.Done(rec, kerr.ErrorForCode(code))
		logf(t, "acks=all produce straight to node %d: %v", n.ID(), kerr.ErrorForCode(code))
		return nil
	}
	rec.Offset = pp.BaseOffset
	chk.Done(rec, nil)
	return []string{fmt.Sprintf("node %d, cut off from (or frozen while) the other nodes, acknowledged an acks=all write at %s/%d offset %d: "+
		"it cannot have reached any other in-sync replica", n.ID(), topic, rp.Partition, pp.BaseOffset)}
}

// checkNoStaleLeadership is DESIGN.md §2 rule 4 for a node cut off from the
// metadata quorum well past its session: it must not keep telling clients
// that it leads a partition at an epoch that has since been superseded. It
// may answer with retryable errors, or not at all. It returns the problem
// found, if any.
func checkNoStaleLeadership(t *testing.T, c *testkit.Cluster, n *testkit.ClusterNode, topic string, part int32, now testkit.PartitionState) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Metadata(ctx, n.ID(), topic)
	if err != nil {
		logf(t, "metadata from cut-off node %d: %v", n.ID(), err)
		return nil
	}
	st, ok := testkit.Partitions(resp, topic)[part]
	if !ok {
		logf(t, "cut-off node %d does not list %s/%d", n.ID(), topic, part)
		return nil
	}
	logf(t, "cut-off node %d says %s/%d: %v", n.ID(), topic, part, st)
	if st.ErrorCode == 0 && st.LeaderEpoch < now.LeaderEpoch {
		return []string{fmt.Sprintf("rule 4: node %d, cut off from the metadata quorum, still serves a stale image for %s/%d without error: %v; "+
			"the quorum has moved on to leader %d epoch %d", n.ID(), topic, part, st, now.Leader, now.LeaderEpoch)}
	}
	return nil
}
