package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// DeleteRecords v0-2.
//
// Raises a partition's log start offset to the requested offset; -1 means
// the high watermark. An offset above the high watermark (or below -1) is
// OFFSET_OUT_OF_RANGE; one at or below the current start changes nothing.
// The answer carries the resulting low watermark (-1 on error). Unknown
// topics or partitions are UNKNOWN_TOPIC_OR_PARTITION; a partition this
// node does not host is NOT_LEADER_OR_FOLLOWER; an internal topic is
// INVALID_TOPIC_EXCEPTION, as in Kafka (metadata.CheckClientOp).

func init() { register(kmsg.DeleteRecords, 0, 2, serveDeleteRecords) }

func serveDeleteRecords(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	im := e.Ctrl.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		refused := metadata.CheckClientOp(rt.Topic, metadata.OpDeleteRecords, r.ClientID, nil)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			switch p := e.Partitions.Get(rt.Topic, rp.Partition); {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case refused != nil:
				sp.ErrorCode = e.errCode(refused)
			case p == nil || !p.IsLeader():
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				low, err := p.DeleteRecordsBefore(ids.Offset(rp.Offset))
				if err != nil {
					sp.ErrorCode = e.errCode(err)
					e.Logger.Debug("delete records", "topic", rt.Topic, "partition", rp.Partition, "offset", rp.Offset, "err", err)
				} else {
					sp.LowWatermark = int64(low)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}
