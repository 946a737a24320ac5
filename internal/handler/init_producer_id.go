package handler

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/txn"
)

// InitProducerId v0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id with
// epoch 0, as Kafka does; ids come from blocks reserved through the
// controller, so they are never reused after a restart. A transactional id
// goes to the transaction coordinator (txn), which bumps its epoch, fences
// an older producer (aborting its transaction: CONCURRENT_TRANSACTIONS
// until done) and, from v3, recovers a producer that presents its id and
// epoch (KIP-360). An empty id is INVALID_REQUEST; a timeout above
// transaction.max.timeout.ms INVALID_TRANSACTION_TIMEOUT; PRODUCER_FENCED
// is INVALID_PRODUCER_EPOCH before v4.

func init() { register(kmsg.InitProducerID, 0, 5, serveInitProducerID) }

// producerIDBlock is how many ids are reserved at once (Kafka's
// ProducerIdManager uses blocks of 1000).
const producerIDBlock = 1000

type producerIDs struct {
	ctrl controller.Controller
	mu   sync.Mutex
	next ids.ProducerID
	end  ids.ProducerID
}

func (p *producerIDs) allocate(ctx context.Context) (ids.ProducerID, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		first, err := p.ctrl.AllocateProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return 0, err
		}
		p.next, p.end = first, first+producerIDBlock
	}
	id := p.next
	p.next++
	return id, nil
}

func serveInitProducerID(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		return e.initTransactional(r, req, resp)
	}
	id, err := e.pids.allocate(r.Ctx)
	if err != nil {
		e.Logger.Error("allocate producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Now(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = int64(id), 0
	return Now(resp)
}

func (e *Env) initTransactional(r *Request, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) Result {
	id := *req.TransactionalID
	if id == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return Now(resp)
	}
	if e.Txns == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Now(resp)
	}
	var expected *txn.PIDEpoch
	if req.Version >= 3 && req.ProducerID >= 0 {
		expected = &txn.PIDEpoch{ID: req.ProducerID, Epoch: req.ProducerEpoch}
	}
	return Result{Deferred: func() kmsg.Response {
		pid, epoch, err := e.Txns.InitProducerID(r.Ctx, id, req.TransactionTimeoutMillis, expected)
		if err != nil {
			resp.ErrorCode = e.txnErrCode(err, req.Version, 4)
			return resp
		}
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp
	}}
}
