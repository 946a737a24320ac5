package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers v0.
//
// The producer state a partition leader holds (read-only): each producer
// id's epoch, last sequence and timestamp, and the coordinator epoch and
// first offset of its ongoing transaction (-1 when none). A partition of
// an unknown topic is UNKNOWN_TOPIC_OR_PARTITION, one this node does not
// lead NOT_LEADER_OR_FOLLOWER, as in Kafka.

func init() { register(kmsg.DescribeProducers, 0, 0, serveDescribeProducers) }

func serveDescribeProducers(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	im := e.Ctrl.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		for _, idx := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = idx
			p := e.Partitions.Get(rt.Topic, idx)
			switch {
			case t == nil || idx < 0 || int(idx) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p == nil || !p.IsLeader():
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				for _, s := range p.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch, ap.LastSequence, ap.LastTimestamp = s.ProducerID, int32(s.Epoch), s.LastSequence, s.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = s.CoordinatorEpoch, s.TxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			if sp.ErrorCode != 0 {
				msg := kerr.ErrorForCode(sp.ErrorCode).(*kerr.Error).Message
				sp.ErrorMessage = &msg
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}
