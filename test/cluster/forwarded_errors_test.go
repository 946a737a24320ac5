package cluster_test

import (
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
