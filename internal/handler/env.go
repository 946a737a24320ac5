package handler

import (
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/storage"
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
func SelfBroker(nodeID int32, advertised string) (metadata.Broker, error) {
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

// errCode maps internal errors to Kafka error codes: the one place where
// this happens.
func errCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, controller.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, controller.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, controller.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, controller.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, controller.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, controller.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, controller.ErrNotController):
		return kerr.NotController.Code
	case errors.Is(err, metadata.ErrUnknownConfig), errors.Is(err, metadata.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, errInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, errTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, errTransactional):
		return kerr.TransactionalIDAuthorizationFailed.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, record.ErrUnsupportedMagic):
		return kerr.InvalidRecord.Code
	case errors.Is(err, record.ErrCorrupt):
		return kerr.CorruptMessage.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}

// errMsg returns a message pointer for responses that carry one.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
