package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/partition"
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

func init() { register(23, 0, 4, serveOffsetForLeaderEpoch) }

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
			case p == nil:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				if sp.ErrorCode = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch()); sp.ErrorCode == 0 {
					sp.LeaderEpoch, sp.EndOffset = endOffsetForEpoch(p, rp.LeaderEpoch)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}

// endOffsetForEpoch answers for a partition we lead. The log's epoch
// cache only learns an epoch when a batch is appended under it, while
// Kafka's leader adds its epoch, starting at the log end, on election: if
// no batch has been written in the current epoch yet, answer as that
// cache would.
func endOffsetForEpoch(p *partition.Partition, epoch int32) (int32, int64) {
	log := p.Log()
	cur, latest := p.LeaderEpoch(), log.LatestEpoch()
	if epoch < 0 || latest >= cur || epoch < latest {
		return log.EndOffsetForEpoch(epoch)
	}
	switch {
	case epoch > cur:
		return -1, -1
	case epoch == cur || latest < 0:
		return epoch, p.LogEndOffset()
	default: // latest <= epoch < cur: the current epoch starts at the log end
		return latest, p.LogEndOffset()
	}
}
