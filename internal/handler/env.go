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
	"github.com/strom-broker/strom/internal/group"
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
	// Groups is the consumer-group coordinator; nil until the broker wires
	// one (group APIs then answer COORDINATOR_NOT_AVAILABLE).
	Groups *group.Coordinator

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
	case errors.Is(err, record.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, record.ErrBadCompression):
		// Kafka fails to decompress such a batch and answers with
		// UNKNOWN_SERVER_ERROR.
		return kerr.UnknownServerError.Code
	case errors.Is(err, record.ErrUnsupportedMagic):
		return kerr.InvalidRecord.Code
	case errors.Is(err, record.ErrCorrupt):
		return kerr.CorruptMessage.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	default:
		if code, ok := groupErrCode(err); ok {
			return code
		}
		return kerr.KafkaStorageError.Code
	}
}

// groupErrCode maps the consumer-group coordinator's errors.
func groupErrCode(err error) (int16, bool) {
	for _, m := range []struct {
		err  error
		code *kerr.Error
	}{
		{group.ErrNotCoordinator, kerr.NotCoordinator},
		{group.ErrLoading, kerr.CoordinatorLoadInProgress},
		{group.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
		{group.ErrInvalidGroupID, kerr.InvalidGroupID},
		{group.ErrUnknownMember, kerr.UnknownMemberID},
		{group.ErrMemberIDRequired, kerr.MemberIDRequired},
		{group.ErrIllegalGeneration, kerr.IllegalGeneration},
		{group.ErrRebalanceInProgress, kerr.RebalanceInProgress},
		{group.ErrInconsistentProtocol, kerr.InconsistentGroupProtocol},
		{group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout},
		{group.ErrGroupMaxSize, kerr.GroupMaxSizeReached},
		{group.ErrFencedInstance, kerr.FencedInstanceID},
		{group.ErrGroupNotFound, kerr.GroupIDNotFound},
		{group.ErrNonEmptyGroup, kerr.NonEmptyGroup},
		{group.ErrSubscribedToTopic, kerr.GroupSubscribedToTopic},
		{group.ErrOffsetMetadataTooLarge, kerr.OffsetMetadataTooLarge},
		{group.ErrStaleMemberEpoch, kerr.StaleMemberEpoch},
		{group.ErrUnsupportedVersion, kerr.UnsupportedVersion},
	} {
		if errors.Is(err, m.err) {
			return m.code.Code, true
		}
	}
	return 0, false
}

// errMsg returns a message pointer for responses that carry one.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
