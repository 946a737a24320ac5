package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
)

// DescribeQuorum v0-2.
//
// The metadata quorum as kafka-metadata-quorum.sh describe --status and
// --replication show it: the topic __cluster_metadata, partition 0, its
// leader and epoch (the Raft term), the high watermark (the committed
// index) and each voter's log end offset with when it was last heard
// from; no observers (every Strom node votes). v2 lists the voters'
// listeners. Any other topic or partition is UNKNOWN_TOPIC_OR_PARTITION,
// as Kafka answers; the node asks the voters itself (Kafka forwards to
// the controller). Authorized as DESCRIBE on the cluster.

func init() { register(kmsg.DescribeQuorum, 0, 2, serveDescribeQuorum) }

// metadataTopic is the name Kafka gives the metadata log.
const metadataTopic = "__cluster_metadata"

func serveDescribeQuorum(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	return Result{Deferred: func() kmsg.Response {
		info, err := e.Ctrl.DescribeQuorum(r.Ctx)
		for _, rt := range req.Topics {
			st := kmsg.NewDescribeQuorumResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewDescribeQuorumResponseTopicPartition()
				sp.Partition = rp.Partition
				switch {
				case rt.Topic != metadataTopic || rp.Partition != 0:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case err != nil:
					sp.ErrorCode = e.errCode(err)
				default:
					sp.LeaderID, sp.LeaderEpoch, sp.HighWatermark = int32(info.LeaderID), info.LeaderEpoch, info.HighWatermark
					for _, v := range info.Voters {
						rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
						rs.ReplicaID, rs.LogEndOffset = int32(v.ID), v.LogEndOffset
						rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = v.LastFetch, v.LastCaughtUp
						sp.CurrentVoters = append(sp.CurrentVoters, rs)
					}
				}
				if sp.ErrorCode != 0 && req.Version >= 2 {
					msg := kerr.ErrorForCode(sp.ErrorCode).(*kerr.Error).Description
					sp.ErrorMessage = &msg
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if req.Version >= 2 && err == nil {
			im := e.Ctrl.Image()
			for _, v := range info.Voters {
				b, ok := im.Broker(ids.NodeID(v.ID))
				if !ok {
					continue
				}
				n := kmsg.NewDescribeQuorumResponseNode()
				n.NodeID = int32(v.ID)
				if len(b.Listeners) == 0 {
					l := kmsg.NewDescribeQuorumResponseNodeListener()
					l.Name, l.Host, l.Port = "PLAINTEXT", b.Host, uint16(b.Port)
					n.Listeners = append(n.Listeners, l)
				}
				for _, ep := range b.Listeners {
					l := kmsg.NewDescribeQuorumResponseNodeListener()
					l.Name, l.Host, l.Port = ep.Name, ep.Host, uint16(ep.Port)
					n.Listeners = append(n.Listeners, l)
				}
				resp.Nodes = append(resp.Nodes, n)
			}
		}
		return resp
	}}
}
