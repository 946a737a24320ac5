package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
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
// UNKNOWN_TOPIC_OR_PARTITION and the rest are committed.
//
// KIP-890, as Kafka's group coordinator does it: before the offsets are
// appended, the group's __consumer_offsets partition is checked with the
// transaction coordinator when the producer has no transaction in progress
// there (v0-4, with transaction_partition_verification_enable; a partition
// the transaction does not hold is INVALID_TXN_STATE, TRANSACTION_ABORTABLE
// from v4), or added to the transaction (v5+, transactions v2: the client
// sends no AddOffsetsToTxn). A marker between that check and the append
// voids it (INVALID_TXN_STATE).

func init() { register(kmsg.TxnOffsetCommit, 0, 5, serveTxnOffsetCommit) }

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
	op := e.txnOffsetsPartition(req, im)
	return Result{Deferred: func() kmsg.Response {
		if op.p != nil {
			if code := e.verifyTxnOffsets(r.Ctx, req, op); code != 0 {
				for _, s := range slots {
					resp.Topics[s.t].Partitions[s.p].ErrorCode = code
				}
				return resp
			}
			tr.Guard, tr.Added = op.guard, req.Version >= firstAddPartitionTxnOffsetCommit
		}
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

// txnOffsetsCheck is the group's __consumer_offsets partition to check
// with the transaction coordinator before a TxnOffsetCommit, and the
// partition's verification guard; p nil when nothing is checked.
type txnOffsetsCheck struct {
	p     *partition.Partition
	tp    TxnPartition
	guard uint64
}

// txnOffsetsPartition starts the KIP-890 check of a TxnOffsetCommit when
// one is due: a verifier, v5+ or verification enabled, the group's
// partition led here, and no transaction of this producer and epoch in
// progress on it.
func (e *Env) txnOffsetsPartition(req *kmsg.TxnOffsetCommitRequest, im *metadata.Image) txnOffsetsCheck {
	if e.TxnVerifier == nil || e.Groups == nil || req.TransactionalID == "" ||
		req.Version < firstAddPartitionTxnOffsetCommit && !e.Cfg.TransactionPartitionVerification {
		return txnOffsetsCheck{}
	}
	t := im.Topics[group.OffsetsTopic]
	if t == nil || len(t.Partitions) == 0 {
		return txnOffsetsCheck{}
	}
	idx := group.PartitionFor(req.Group, int32(len(t.Partitions)))
	p := e.Partitions.Get(group.OffsetsTopic, idx)
	if p == nil || !p.IsLeader() {
		return txnOffsetsCheck{} // the group coordinator answers NOT_COORDINATOR
	}
	g := p.StartTxnVerification(req.ProducerID, req.ProducerEpoch)
	if g == 0 {
		return txnOffsetsCheck{}
	}
	return txnOffsetsCheck{p: p, tp: TxnPartition{Topic: group.OffsetsTopic, Partition: idx}, guard: g}
}

// verifyTxnOffsets asks the transaction coordinator about (or, v5+, adds)
// the group's partition; it returns the error code to answer for every
// partition of the request, 0 when the commit may go ahead. The codes are
// Kafka's (AddPartitionsToTxnManager, then the group coordinator's
// mapping): TRANSACTION_ABORTABLE is INVALID_TXN_STATE below v4; a
// coordinator that cannot be reached is COORDINATOR_NOT_AVAILABLE, which
// clients retry after finding the coordinator again.
func (e *Env) verifyTxnOffsets(ctx context.Context, req *kmsg.TxnOffsetCommitRequest, op txnOffsetsCheck) int16 {
	codes := e.TxnVerifier.VerifyTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch,
		[]TxnPartition{op.tp}, req.Version >= firstAddPartitionTxnOffsetCommit)
	code := codes[op.tp]
	switch code {
	case 0:
	case kerr.TransactionAbortable.Code:
		if req.Version < 4 {
			code = kerr.InvalidTxnState.Code
		}
	case kerr.NetworkException.Code, kerr.NotEnoughReplicas.Code, kerr.RequestTimedOut.Code:
		code = kerr.CoordinatorNotAvailable.Code
	}
	if code != 0 {
		e.Logger.Debug("transactional offset commit not verified", "group", req.Group, "transactional_id", req.TransactionalID,
			"producer_id", req.ProducerID, "epoch", req.ProducerEpoch, "code", code)
	}
	return code
}
