package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
)

// OffsetForLeaderEpoch v0-4.
//
// For each partition, the largest leader epoch at or below the requested
// one and the offset where the epoch after it starts (the log end offset
// for the current epoch), as Kafka's leader-epoch cache answers it; an
// epoch the log does not know is UNDEFINED: epoch -1, end offset -1, no
// error. A current leader epoch (v2+) older than ours is
// FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH. Unknown topics or
// partitions are UNKNOWN_TOPIC_OR_PARTITION; partitions this node does
// not host NOT_LEADER_OR_FOLLOWER. The replica id (v3+) changes nothing:
// followers and consumers get the same answer.

func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, serveOffsetForLeaderEpoch) }

func serveOffsetForLeaderEpoch(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	im := e.Ctrl.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			switch p := e.Partitions.Get(rt.Topic, rp.Partition); {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p == nil && e.Partitions.Offline(rt.Topic, rp.Partition) != nil:
				sp.ErrorCode = kerr.KafkaStorageError.Code
			case p == nil, !(req.Version >= 3 && req.ReplicaID >= 0) && !p.IsLeader():
				// Consumers ask the leader; a replica (v3+) may ask any.
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case p.Offline() != nil:
				// A failed or cut log must not tell followers where to
				// truncate.
				sp.ErrorCode = kerr.KafkaStorageError.Code
			default:
				if sp.ErrorCode = checkLeaderEpoch(ids.LeaderEpoch(rp.CurrentLeaderEpoch), p.LeaderEpoch()); sp.ErrorCode == 0 {
					epoch, end := p.EndOffsetForEpoch(ids.LeaderEpoch(rp.LeaderEpoch))
					sp.LeaderEpoch, sp.EndOffset = int32(epoch), int64(end)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}
