package handler

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/ids"
)

// InitProducerId v0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id with
// epoch 0, as Kafka does; ids come from blocks reserved through the
// controller, so they are never reused after a restart. Transactional ids
// need the transaction coordinator, which Strom does not have yet: they
// are refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

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
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return Now(resp)
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
