package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/txn"
)

// AddOffsetsToTxn v0-4.
//
// Adds the group's __consumer_offsets partition to the transaction, so
// that the markers reach the group coordinator, which makes the
// transaction's TxnOffsetCommits visible on commit. PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH before v2. An empty group id is added like any
// other, as Kafka does (its TxnOffsetCommit is what fails).

func init() { register(kmsg.AddOffsetsToTxn, 0, 4, serveAddOffsetsToTxn) }

func serveAddOffsetsToTxn(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return Now(resp)
	case e.Txns == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Now(resp)
	}
	t := e.Ctrl.Image().Topics[group.OffsetsTopic]
	if t == nil || len(t.Partitions) == 0 {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Now(resp)
	}
	tp := txn.TopicPartition{Topic: group.OffsetsTopic, Partition: group.PartitionFor(req.Group, int32(len(t.Partitions)))}
	return Result{Deferred: func() kmsg.Response {
		err := e.Txns.AddPartitions(r.Ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tp}, 0)
		resp.ErrorCode = e.txnErrCode(err, req.Version, 2)
		return resp
	}}
}
