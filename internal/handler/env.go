package handler

import (
	"context"
	"github.com/strom-broker/strom/internal/authz"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/quota"
	"github.com/strom-broker/strom/internal/txn"
)

// Env is what handlers work against: the node's config, the metadata
// authority and the partitions hosted here.
type Env struct {
	Cfg        config.Config
	Ctrl       controller.Controller
	Partitions *partition.Registry
	Logger     *slog.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Groups is the consumer-group coordinator; nil until the broker wires
	// one (group APIs then answer COORDINATOR_NOT_AVAILABLE).
	Groups *group.Coordinator
	// Txns is the transaction coordinator; nil until the broker wires one
	// (transaction APIs then answer COORDINATOR_NOT_AVAILABLE).
	Txns *txn.Coordinator
	// TxnVerifier checks a producer's first write to a partition in a
	// transaction with its coordinator (KIP-890, txn_verify.go); nil: no
	// check.
	TxnVerifier TxnVerifier
	// CompleteTxnOffsets makes the transactional offset commits of a
	// producer visible (commit) or drops them (abort) once its marker is
	// written to a __consumer_offsets partition (Kafka's
	// GroupCoordinator.completeTransaction, called from WriteTxnMarkers);
	// nil until the group coordinator takes TxnOffsetCommit. An error
	// becomes that partition's error code.
	CompleteTxnOffsets func(ctx context.Context, partition int32, producerID int64, epoch int16, coordinatorEpoch int32, commit bool) error
	// Authz is the authorizer ([authorization] enabled); nil: every
	// request is allowed and the ACL APIs answer SECURITY_DISABLED.
	Authz *authz.Authorizer
	// Quotas measures clients against their quotas (internal/quota);
	// nil: no client is ever throttled.
	Quotas *quota.Manager

	sessions *fetchSessions
	pids     *producerIDs
	txnOrder *txnWriteOrder
}

// NewEnv wires the handler environment.
func NewEnv(cfg config.Config, ctrl controller.Controller, parts *partition.Registry, logger *slog.Logger) *Env {
	e := &Env{Cfg: cfg, Ctrl: ctrl, Partitions: parts, Logger: logger, Now: time.Now}
	e.sessions = newFetchSessions(1000)
	e.pids = &producerIDs{ctrl: ctrl}
	e.txnOrder = newTxnWriteOrder()
	return e
}

// within bounds the waits of a request by the timeout it names
// (TimeoutMillis of CreateTopics, DeleteTopics, CreatePartitions,
// ElectLeaders, AlterPartitionReassignments), as
// Kafka's controller gives each such request a deadline: the metadata
// change is answered by then, applied or with a retriable
// REQUEST_TIMED_OUT or NOT_CONTROLLER. A timeout <= 0 leaves the
// controller's own bound. The connection's end cancels it too (r.Ctx).
func within(r *Request, timeoutMillis int32) (context.Context, context.CancelFunc) {
	if timeoutMillis <= 0 {
		return context.WithCancel(r.Ctx)
	}
	return context.WithTimeout(r.Ctx, time.Duration(timeoutMillis)*time.Millisecond)
}

// SelfBroker returns this node as clients should see it, from the
// advertised address.
func SelfBroker(nodeID ids.NodeID, advertised string) (metadata.Broker, error) {
	host, port, err := net.SplitHostPort(advertised)
	if err != nil {
		return metadata.Broker{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return metadata.Broker{}, err
	}
	return metadata.Broker{ID: nodeID, Host: host, Port: int32(p)}, nil
}

// errCode is err's Kafka error code, from the error table (errcode): the
// one place internal errors become codes. An error the table does not know
// is answered UNKNOWN_SERVER_ERROR and logged: it needs a row.
func (e *Env) errCode(err error) int16 {
	code, known := errcode.Lookup(err)
	if !known {
		e.Logger.Error("no Kafka error code for this error; answering UNKNOWN_SERVER_ERROR", "err", err)
	}
	return code
}

// errMsg returns a message pointer for responses that carry one.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// AllocateProducerID hands out one producer id from the blocks reserved
// through the controller (the transaction coordinator's allocator).
func (e *Env) AllocateProducerID(ctx context.Context) (ids.ProducerID, error) {
	return e.pids.allocate(ctx)
}

// txnErrCode is err's code, except that PRODUCER_FENCED becomes
// INVALID_PRODUCER_EPOCH for request
// versions from before KIP-588 (below since), as Kafka answers.
func (e *Env) txnErrCode(err error, version, since int16) int16 {
	code := e.errCode(err)
	if code == kerr.ProducerFenced.Code && version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
