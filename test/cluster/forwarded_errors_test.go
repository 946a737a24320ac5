package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestForwardedAdminErrors sends admin requests that the metadata log
// refuses to a node that is not the controller, which forwards them to
// the controller: the refusal must reach the client with Apache Kafka's
// error code, not as a storage error. Kafka's answers for these cases:
// a preferred election for a partition its preferred replica already leads
// is ELECTION_NOT_NEEDED for that partition (ReplicationControlManager.
// electLeader), and cancelling (null replicas) a reassignment that is not
// running is NO_REASSIGNMENT_IN_PROGRESS (cancelPartitionReassignment).
func TestForwardedAdminErrors(t *testing.T) {
	c := testkit.StartCluster(t, nodes)
	nd := nonController(t, c)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopicRF(t, nd.KafkaAddr(), topic, 1, 2, nil)
	c.WaitTopic(t, topic, 1)
	st := c.WaitPartition(t, topic, 0, 30*time.Second, func(p testkit.PartitionState) bool {
		return len(p.Replicas) == 2 && p.Leader == p.Replicas[0] && len(p.ISR) == 2
	})
	t.Logf("%s/0: %v", topic, st)
	ctx, cancel := contextWithTimeout(30 * time.Second)
	defer cancel()

	elect := kmsg.NewPtrElectLeadersRequest()
	elect.ElectionType = 0 // preferred
	elect.TimeoutMillis = 10000
	et := kmsg.NewElectLeadersRequestTopic()
	et.Topic, et.Partitions = topic, []int32{0}
	elect.Topics = append(elect.Topics, et)
	resp, err := c.Request(ctx, nd.ID(), elect)
	if err != nil {
		t.Fatalf("elect leaders through node %d: %v", nd.ID(), err)
	}
	er := resp.(*kmsg.ElectLeadersResponse)
	if er.ErrorCode != 0 || len(er.Topics) != 1 || len(er.Topics[0].Partitions) != 1 {
		t.Fatalf("elect leaders: unexpected answer %+v", er)
	}
	if p := er.Topics[0].Partitions[0]; p.ErrorCode != kerr.ElectionNotNeeded.Code {
		t.Errorf("preferred election for a partition its preferred replica leads, through node %d: %v (%s), want ELECTION_NOT_NEEDED",
			nd.ID(), kerr.ErrorForCode(p.ErrorCode), derefString(p.ErrorMessage))
	}

	alter := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	alter.TimeoutMillis = 10000
	at := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	at.Topic = topic
	ap := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	ap.Partition, ap.Replicas = 0, nil // cancel
	at.Partitions = append(at.Partitions, ap)
	alter.Topics = append(alter.Topics, at)
	resp, err = c.Request(ctx, nd.ID(), alter)
	if err != nil {
		t.Fatalf("alter partition assignments through node %d: %v", nd.ID(), err)
	}
	ar := resp.(*kmsg.AlterPartitionAssignmentsResponse)
	if ar.ErrorCode != 0 || len(ar.Topics) != 1 || len(ar.Topics[0].Partitions) != 1 {
		t.Fatalf("alter partition assignments: unexpected answer %+v", ar)
	}
	if p := ar.Topics[0].Partitions[0]; p.ErrorCode != kerr.NoReassignmentInProgress.Code {
		t.Errorf("cancelling a reassignment that is not running, through node %d: %v (%s), want NO_REASSIGNMENT_IN_PROGRESS",
			nd.ID(), kerr.ErrorForCode(p.ErrorCode), derefString(p.ErrorMessage))
	}
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestInternalTopicDeleteForwarded asks a node that is not the metadata
// controller to delete __consumer_offsets and to grow it: the refusal
// (TOPIC_AUTHORIZATION_FAILED, docs/compatibility.md#internal-topics)
// holds on the forwarding path too, and the topic is still there on
// every node afterwards.
func TestInternalTopicDeleteForwarded(t *testing.T) {
	c := testkit.StartCluster(t, nodes)
	nd := nonController(t, c)
	// The first FindCoordinator creates __consumer_offsets in a cluster.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, code := groupCoordinator(t, c, nd.ID(), "g"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no group coordinator through node %d", nd.ID())
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	md, err := c.Metadata(context.Background(), nd.ID(), "__consumer_offsets")
	if err != nil || len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of __consumer_offsets through node %d: %v %+v", nd.ID(), err, md)
	}
	parts := int32(len(md.Topics[0].Partitions))
	ctx, cancel := contextWithTimeout(30 * time.Second)
	defer cancel()

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TimeoutMillis = 10000
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("__consumer_offsets")
	del.Topics = append(del.Topics, dt)
	del.TopicNames = []string{"__consumer_offsets"}
	resp, err := c.Request(ctx, nd.ID(), del)
	if err != nil {
		t.Fatalf("delete topics through node %d: %v", nd.ID(), err)
	}
	dr := resp.(*kmsg.DeleteTopicsResponse)
	if len(dr.Topics) != 1 || dr.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("delete __consumer_offsets through node %d: %+v, want TOPIC_AUTHORIZATION_FAILED", nd.ID(), dr.Topics)
	}

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.TimeoutMillis = 10000
	ct := kmsg.NewCreatePartitionsRequestTopic()
	ct.Topic, ct.Count = "__consumer_offsets", parts+1
	cp.Topics = append(cp.Topics, ct)
	resp, err = c.Request(ctx, nd.ID(), cp)
	if err != nil {
		t.Fatalf("create partitions through node %d: %v", nd.ID(), err)
	}
	if r := resp.(*kmsg.CreatePartitionsResponse); len(r.Topics) != 1 || r.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("grow __consumer_offsets through node %d: %+v, want TOPIC_AUTHORIZATION_FAILED", nd.ID(), r.Topics)
	}

	// Still there, unchanged, on the controller too.
	c.WaitTopic(t, "__consumer_offsets", parts)
	md, err = c.Metadata(ctx, c.ControllerID(t), "__consumer_offsets")
	if err != nil || len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 || !md.Topics[0].IsInternal {
		t.Errorf("metadata of __consumer_offsets on the controller afterwards: %v %+v, want it listed as internal", err, md)
	}
}
