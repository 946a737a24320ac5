package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestReassignAndElect moves a partition's replicas to another set of
// nodes with AlterPartitionReassignments while it holds data, checks the
// move completes (ListPartitionReassignments empties, the new replica is
// in sync, the removed one drops its copy, nothing acknowledged is lost),
// then moves leadership to the preferred replica with ElectLeaders.
func TestReassignAndElect(t *testing.T) {
	c := testkit.StartCluster(t, nodes)
	boot := c.Node(1).KafkaAddr()
	topic := testkit.TopicName(t, "")
	testkit.CreateTopicRF(t, boot, topic, 1, 2, nil)
	c.WaitTopic(t, topic, 1)
	cur := c.WaitPartition(t, topic, 0, 30*time.Second, func(p testkit.PartitionState) bool { return len(p.ISR) == 2 })

	cl := testkit.NewClient(t, boot, kgo.RequiredAcks(kgo.AllISRAcks()), testkit.ManualPartitioner())
	chk := testkit.NewChecker()
	recs := make([]*kgo.Record, 500)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: 0, Value: value100("reassign", i)}
		chk.Attempt(recs[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, r := range cl.ProduceSync(ctx, recs...) {
		chk.Done(r.Record, r.Err)
		if r.Err != nil {
			t.Fatalf("produce: %v", r.Err)
		}
	}

	// Target: the node that holds no replica first, then the current
	// leader; the other current replica is removed.
	var added, removed int32
	for id := int32(1); id <= nodes; id++ {
		if !slices.Contains(cur.Replicas, id) {
			added = id
		}
	}
	for _, id := range cur.Replicas {
		if id != cur.Leader {
			removed = id
		}
	}
	target := []int32{added, cur.Leader}
	adm := kadm.NewClient(cl)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, target)
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("alter partition assignments: %v", err)
	}
	if err := resps.Error(); err != nil {
		t.Fatalf("alter partition assignments: %v", err)
	}
	t.Logf("moving %s/0 from %v to %v", topic, cur.Replicas, target)
	done := c.WaitPartition(t, topic, 0, 60*time.Second, func(p testkit.PartitionState) bool {
		return len(p.Replicas) == 2 && slices.Contains(p.Replicas, added) && !slices.Contains(p.Replicas, removed) &&
			slices.Contains(p.ISR, added)
	})
	t.Logf("after the move: %v", done)
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("list partition reassignments: %v", err)
	}
	for _, ps := range listed {
		if len(ps) > 0 {
			t.Fatalf("reassignment still listed after it completed: %v", listed)
		}
	}
	gone := filepath.Join(c.Node(removed).DataDir(), topic+"-0")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(gone); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("removed replica %d still has %s", removed, gone)
		}
		time.Sleep(100 * time.Millisecond)
	}
	chk.Verify(t, testkit.ConsumePartitions(t, boot, topic, 1))

	// Leadership to the preferred replica (the new one, first in the
	// target): elected now, or already by the automatic rebalance.
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("elect leaders: %v", err)
	}
	if r := res[topic][0]; r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("elect preferred leader: %v", r.Err)
	}
	c.WaitPartition(t, topic, 0, 30*time.Second, func(p testkit.PartitionState) bool { return p.Leader == added })
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("elect leaders again: %v", err)
	}
	if r := res[topic][0]; !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("electing the current preferred leader: %v, want ELECTION_NOT_NEEDED", r.Err)
	}
	chk.Verify(t, testkit.ConsumePartitions(t, c.Node(added).KafkaAddr(), topic, 1))
}
