package handler

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
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

	sessions *fetchSessions
	pids     *producerIDs
}

// NewEnv wires the handler environment.
func NewEnv(cfg config.Config, ctrl controller.Controller, parts *partition.Registry, logger *slog.Logger) *Env {
	e := &Env{Cfg: cfg, Ctrl: ctrl, Partitions: parts, Logger: logger, Now: time.Now}
	e.sessions = newFetchSessions(1000)
	e.pids = &producerIDs{ctrl: ctrl}
	return e
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
