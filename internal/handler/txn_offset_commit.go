package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// TxnOffsetCommit v0-4.
//
// A transactional producer's offset commit (sendOffsetsToTransaction):
// the group coordinator writes the offsets as the producer's
// transactional batch and keeps them pending until the transaction's
// marker reaches the group's __consumer_offsets partition; only then
// (COMMIT) are they the group's offsets. From v3 the group generation and
// member are checked (KIP-447): ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
// FENCED_INSTANCE_ID; a group that does not exist is created for a commit
// without a generation. Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION and the rest are committed. v5 (transactions
// v2: the partition is added to the transaction implicitly) is served
// once the transaction.version feature is.

func init() { register(kmsg.TxnOffsetCommit, 0, 4, serveTxnOffsetCommit) }

func serveTxnOffsetCommit(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	im := e.Ctrl.Image()
	tr := group.TxnCommitRequest{
		Group: req.Group, ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, Generation: -1,
	}
	if req.Version >= 3 {
		tr.Generation, tr.MemberID, tr.InstanceID = req.Generation, req.MemberID, req.InstanceID
	}
	var groupErr *kerr.Error
	switch {
	case req.Group == "":
		groupErr = kerr.InvalidGroupID
	case req.TransactionalID == "":
		groupErr = kerr.InvalidRequest
	case e.Groups == nil:
		groupErr = kerr.CoordinatorNotAvailable
	}
	type slot struct{ t, p int }
	var slots []slot
	for ti, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case groupErr != nil:
				sp.ErrorCode = groupErr.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				o := group.CommitOffset{
					TopicPartition: group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition},
					Offset:         rp.Offset, LeaderEpoch: -1,
				}
				if req.Version >= 2 {
					o.LeaderEpoch = rp.LeaderEpoch
				}
				if rp.Metadata != nil {
					o.Metadata = *rp.Metadata
				}
				tr.Offsets = append(tr.Offsets, o)
				slots = append(slots, slot{ti, len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(slots) == 0 {
		return Now(resp)
	}
	return Result{Deferred: func() kmsg.Response {
		res := e.Groups.TxnCommit(r.Ctx, tr)
		for i, s := range slots {
			err := res.Err
			if err == nil {
				err = res.Partitions[i]
			}
			resp.Topics[s.t].Partitions[s.p].ErrorCode = e.txnErrCode(err, req.Version, 3)
		}
		return resp
	}}
}
