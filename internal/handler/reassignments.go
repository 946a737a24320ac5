package handler

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
)

// AlterPartitionReassignments v0-1 and ListPartitionReassignments v0.
//
// A reassignment adds the target replicas (they catch up as followers),
// and completes once all of them are in the ISR: the replicas not in the
// target are dropped and, if the leader was one of them, leadership moves
// to a target replica. Null replicas cancel (NO_REASSIGNMENT_IN_PROGRESS
// when none runs). Replica sets naming unknown or repeated brokers are
// INVALID_REPLICA_ASSIGNMENT; changing the replication factor is refused
// unless v1's AllowReplicationFactorChange is set (INVALID_REPLICATION_FACTOR).

func init() {
	register(kmsg.AlterPartitionAssignments, 0, 1, serveAlterPartitionAssignments)
	register(kmsg.ListPartitionReassignments, 0, 0, serveListPartitionReassignments)
}

func serveAlterPartitionAssignments(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	ctx, cancel := within(r, req.TimeoutMillis)
	defer cancel()
	im := e.Ctrl.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			var err error
			switch {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				err = controller.ErrUnknownTopic
			case rp.Replicas != nil && len(rp.Replicas) == 0:
				err = fmt.Errorf("%w: empty replica set", controller.ErrInvalidReplicaAssignment)
			case rp.Replicas != nil && req.Version < 1 && len(rp.Replicas) != len(t.Partitions[rp.Partition].TargetReplicas()),
				rp.Replicas != nil && req.Version >= 1 && !req.AllowReplicationFactorChange && len(rp.Replicas) != len(t.Partitions[rp.Partition].TargetReplicas()):
				err = fmt.Errorf("%w: the replication factor cannot change", controller.ErrInvalidReplicationFactor)
			default:
				err = e.Ctrl.Reassign(ctx, rt.Topic, rp.Partition, nodeIDs(rp.Replicas))
			}
			sp.ErrorCode = e.errCode(err)
			sp.ErrorMessage = errMsg(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}

func serveListPartitionReassignments(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	im := e.Ctrl.Image()
	want := map[string]map[int32]bool{}
	for _, rt := range req.Topics {
		want[rt.Topic] = map[int32]bool{}
		for _, p := range rt.Partitions {
			want[rt.Topic][p] = true
		}
	}
	for _, name := range im.SortedTopicNames() {
		if req.Topics != nil && want[name] == nil {
			continue
		}
		st := kmsg.NewListPartitionReassignmentsResponseTopic()
		st.Topic = name
		for _, p := range im.Topics[name].Partitions {
			if !p.Reassigning() || (req.Topics != nil && !want[name][p.Index]) {
				continue
			}
			sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			sp.Partition = p.Index
			sp.Replicas = wireIDs(p.Replicas)
			sp.AddingReplicas = wireIDs(p.Adding)
			sp.RemovingReplicas = wireIDs(p.Removing)
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
	return Now(resp)
}
