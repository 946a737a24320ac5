package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn v0-5.
//
// The answer goes back once PrepareCommit/PrepareAbort is durable in
// __transaction_state; the coordinator then sends the markers and, when
// every partition has its marker, writes CompleteCommit/CompleteAbort.
// v5 is a transactions-v2 client's (KIP-890 part 2): every end bumps the
// epoch and the answer carries the producer id and epoch to continue with.
// Ending without a transaction is INVALID_TXN_STATE; PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH before v2.

func init() { register(kmsg.EndTxn, 0, 5, serveEndTxn) }

func serveEndTxn(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return Now(resp)
	case e.Txns == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Now(resp)
	}
	tv := int16(0)
	if req.Version >= 5 {
		tv = 2
	}
	return Result{Deferred: func() kmsg.Response {
		pid, epoch, err := e.Txns.EndTxn(r.Ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, tv)
		resp.ErrorCode = e.txnErrCode(err, req.Version, 2)
		if err == nil {
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
		}
		return resp
	}}
}
