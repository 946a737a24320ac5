package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
)

// DescribeProducers v0 (the only version).
//
// The producers a partition replica knows (partition.Producers): id,
// epoch, last sequence and timestamp, the coordinator epoch of its last
// marker and the first offset of its open transaction, which
// kafka-transactions.sh find-hanging compares with the coordinator's
// state. Any replica answers, as in Kafka (the admin client asks the
// leader). An invalid topic name is INVALID_TOPIC_EXCEPTION, an unknown
// topic or partition UNKNOWN_TOPIC_OR_PARTITION, a partition this node
// does not host NOT_LEADER_OR_FOLLOWER. TOPIC_AUTHORIZATION_FAILED comes
// with ACLs.

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
			case !controller.ValidTopicName(rt.Topic):
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case t == nil || idx < 0 || int(idx) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p == nil:
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				for _, pi := range p.Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch = pi.ProducerID, int32(pi.Epoch)
					ap.LastSequence, ap.LastTimestamp = pi.LastSequence, pi.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.CoordinatorEpoch, pi.TxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}
