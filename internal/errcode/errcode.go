// Package errcode owns the sentinel errors that the broker's packages
// return and the one table that gives each its Kafka error code and a
// stable name. Handlers answer clients with Lookup (handler/env.go: errCode,
// which also logs errors the table does not know); the controller sends
// errors between nodes by Name and turns them back into the same values
// with Sentinel (controller/raft_ops.go), so a request forwarded to the
// metadata leader gets the answer it would have got there.
//
// Why the sentinels live here: the table must name them, and this package
// is a leaf (it imports no strom package), so that handler and controller
// can both use it. The packages that return the errors re-export them under
// their own names (controller.ErrTopicExists = errcode.ErrTopicExists), so
// errors.Is works with either name and callers keep testing the owning
// package's name. Registering entries from each package at init would keep
// the sentinels at home, but the table's order would then be the packages'
// init order: the order is the point of the table (below), so it is written
// out once, here.
//
// Order: an error may wrap several sentinels (a request error wrapping a
// config error, a coordinator error wrapping a context error, a corrupt
// segment wrapping a corrupt batch). The first row that matches wins, so
// the more specific meaning comes first. Rows that match classes of errors
// (I/O, context) come last.
//
// Unknown errors: Lookup reports whether the table knew the error; an
// unknown one answers UNKNOWN_SERVER_ERROR, and the caller logs it (this
// package does not log). Real I/O failures are known: they answer
// KAFKA_STORAGE_ERROR, which clients retry.
//
// Concurrency: everything here is immutable after init.
package errcode

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
)

// row maps the errors that match it to a Kafka error code. A row has a
// sentinel (err, matched with errors.Is, crossing the wire as name) or a
// class (match).
type row struct {
	err   error
	match func(error) bool
	name  string
	code  *kerr.Error
}

// table is every error the broker answers with, first match first.
var table = []row{
	// Request checks. First: an invalid request may wrap the config error
	// that makes it one (configs.go, broker configs).
	{err: ErrInvalidRequest, name: "invalid_request", code: kerr.InvalidRequest},

	// Metadata changes. The names are on the wire between nodes of a
	// cluster: never rename one.
	{err: ErrTopicExists, name: "topic_exists", code: kerr.TopicAlreadyExists},
	{err: ErrUnknownTopic, name: "unknown_topic", code: kerr.UnknownTopicOrPartition},
	{err: ErrInvalidPartitions, name: "invalid_partitions", code: kerr.InvalidPartitions},
	{err: ErrInvalidReplicationFactor, name: "invalid_replication", code: kerr.InvalidReplicationFactor},
	{err: ErrInvalidTopic, name: "invalid_topic", code: kerr.InvalidTopicException},
	{err: ErrInvalidReplicaAssignment, name: "invalid_assignment", code: kerr.InvalidReplicaAssignment},
	{err: ErrNotController, name: "not_controller", code: kerr.NotController},
	// Refused to every client, as a Kafka cluster whose ACLs protect its
	// internal topics refuses it (metadata.CheckClientOp).
	{err: ErrInternalTopic, name: "internal_topic", code: kerr.TopicAuthorizationFailed},
	// Elections (ElectLeaders) and reassignments, as Kafka's
	// ReplicationControlManager answers them.
	{err: ErrElectionNotNeeded, name: "election_not_needed", code: kerr.ElectionNotNeeded},
	{err: ErrNotInISR, name: "not_in_isr", code: kerr.PreferredLeaderNotAvailable},
	{err: ErrNoEligibleLeader, name: "no_eligible_leader", code: kerr.EligibleLeadersNotAvailable},
	{err: ErrNoReassignment, name: "no_reassignment", code: kerr.NoReassignmentInProgress},
	// ISR changes and broker fencing come from brokers, not clients; the
	// codes are Kafka's AlterPartition and broker heartbeat answers.
	{err: ErrStaleLeaderEpoch, name: "stale_leader_epoch", code: kerr.FencedLeaderEpoch},
	{err: ErrInvalidISR, name: "invalid_isr", code: kerr.InvalidRequest},
	{err: ErrUnknownBroker, name: "unknown_broker", code: kerr.BrokerIDNotRegistered},
	{err: ErrMetadataLog, name: "metadata_log", code: kerr.KafkaStorageError},
	{err: ErrRequestTimedOut, name: "request_timed_out", code: kerr.RequestTimedOut},
	// A node proposed a change the metadata leader, of an older version,
	// cannot read (a rolling upgrade): retriable, it succeeds once the
	// leader is upgraded.
	{err: ErrCommandVersion, name: "command_version", code: kerr.KafkaStorageError},
	{err: ErrUnknownCommand, name: "unknown_command", code: kerr.KafkaStorageError},

	// Configs. ErrNotDynamicBrokerConfig wraps ErrInvalidConfig: before it,
	// so that it crosses the wire as itself.
	{err: ErrNotDynamicBrokerConfig, name: "not_dynamic_broker_config", code: kerr.InvalidConfig},
	{err: ErrUnknownConfig, name: "unknown_config", code: kerr.InvalidConfig},
	{err: ErrInvalidConfig, name: "invalid_config", code: kerr.InvalidConfig},

	// Replica roles: a produce refused because leadership moved is
	// NOT_LEADER_OR_FOLLOWER whatever else went wrong.
	{err: ErrNotLeader, name: "not_leader", code: kerr.NotLeaderForPartition},
	{err: ErrNotFollower, name: "not_follower", code: kerr.NotLeaderForPartition},

	// Produce: the batch.
	{err: ErrInvalidRecord, name: "invalid_record", code: kerr.InvalidRecord},
	{err: ErrRecordTooLarge, name: "record_too_large", code: kerr.MessageTooLarge},
	{err: ErrInvalidTimestamp, name: "invalid_timestamp", code: kerr.InvalidTimestamp},
	{err: ErrOffsetOutOfRange, name: "offset_out_of_range", code: kerr.OffsetOutOfRange},
	// Before ErrCorruptBatch, which it wraps: a corrupt batch in our own
	// segment file is a storage failure, not the client's.
	{err: ErrCorruptSegment, name: "corrupt_segment", code: kerr.KafkaStorageError},
	{err: ErrInvalidBatch, name: "invalid_batch", code: kerr.InvalidRecord},
	// Kafka fails to decompress such a batch and answers with
	// UNKNOWN_SERVER_ERROR.
	{err: ErrBadCompression, name: "bad_compression", code: kerr.UnknownServerError},
	{err: ErrUnsupportedMagic, name: "unsupported_magic", code: kerr.InvalidRecord},
	{err: ErrCorruptBatch, name: "corrupt_batch", code: kerr.CorruptMessage},
	{err: ErrOutOfOrderSequence, name: "out_of_order_sequence", code: kerr.OutOfOrderSequenceNumber},
	{err: ErrInvalidProducerEpoch, name: "invalid_producer_epoch", code: kerr.InvalidProducerEpoch},
	{err: ErrPartitionTxnState, name: "partition_txn_state", code: kerr.InvalidTxnState},
	{err: ErrMarkerCoordinatorFenced, name: "marker_coordinator_fenced", code: kerr.TransactionCoordinatorFenced},

	// Transactions.
	{err: ErrConcurrentTransactions, name: "concurrent_transactions", code: kerr.ConcurrentTransactions},
	{err: ErrProducerFenced, name: "producer_fenced", code: kerr.ProducerFenced},
	{err: ErrInvalidProducerIDMapping, name: "invalid_producer_id_mapping", code: kerr.InvalidProducerIDMapping},
	{err: ErrInvalidTxnState, name: "invalid_txn_state", code: kerr.InvalidTxnState},
	{err: ErrInvalidTransactionTimeout, name: "invalid_transaction_timeout", code: kerr.InvalidTransactionTimeout},
	{err: ErrTransactionalIDNotFound, name: "transactional_id_not_found", code: kerr.TransactionalIDNotFound},
	{err: ErrTransactionAbortable, name: "transaction_abortable", code: kerr.TransactionAbortable},

	// Consumer groups. Before the context rows: the coordinator wraps a
	// caller's expired context in ErrCoordinatorNotAvailable.
	{err: ErrNotCoordinator, name: "not_coordinator", code: kerr.NotCoordinator},
	{err: ErrLoading, name: "coordinator_loading", code: kerr.CoordinatorLoadInProgress},
	{err: ErrCoordinatorNotAvailable, name: "coordinator_not_available", code: kerr.CoordinatorNotAvailable},
	{err: ErrInvalidGroupID, name: "invalid_group_id", code: kerr.InvalidGroupID},
	{err: ErrUnknownMember, name: "unknown_member", code: kerr.UnknownMemberID},
	{err: ErrMemberIDRequired, name: "member_id_required", code: kerr.MemberIDRequired},
	{err: ErrIllegalGeneration, name: "illegal_generation", code: kerr.IllegalGeneration},
	{err: ErrRebalanceInProgress, name: "rebalance_in_progress", code: kerr.RebalanceInProgress},
	{err: ErrInconsistentProtocol, name: "inconsistent_protocol", code: kerr.InconsistentGroupProtocol},
	{err: ErrInvalidSessionTimeout, name: "invalid_session_timeout", code: kerr.InvalidSessionTimeout},
	{err: ErrGroupMaxSize, name: "group_max_size", code: kerr.GroupMaxSizeReached},
	{err: ErrFencedInstance, name: "fenced_instance", code: kerr.FencedInstanceID},
	{err: ErrGroupNotFound, name: "group_not_found", code: kerr.GroupIDNotFound},
	{err: ErrNonEmptyGroup, name: "non_empty_group", code: kerr.NonEmptyGroup},
	{err: ErrSubscribedToTopic, name: "subscribed_to_topic", code: kerr.GroupSubscribedToTopic},
	{err: ErrOffsetMetadataTooLarge, name: "offset_metadata_too_large", code: kerr.OffsetMetadataTooLarge},
	{err: ErrFencedMemberEpoch, name: "fenced_member_epoch", code: kerr.FencedMemberEpoch},
	{err: ErrStaleMemberEpoch, name: "stale_member_epoch", code: kerr.StaleMemberEpoch},
	{err: ErrUnsupportedAssignor, name: "unsupported_assignor", code: kerr.UnsupportedAssignor},
	{err: ErrUnreleasedInstanceID, name: "unreleased_instance_id", code: kerr.UnreleasedInstanceID},
	{err: ErrInvalidRegex, name: "invalid_regex", code: kerr.InvalidRegularExpression},
	{err: ErrUnsupportedVersion, name: "unsupported_version", code: kerr.UnsupportedVersion},

	// Storage failures: retriable for clients (another replica, or this
	// one after an operator's fix).
	{err: ErrLogClosed, name: "log_closed", code: kerr.KafkaStorageError},
	{err: ErrLogFailed, name: "log_failed", code: kerr.KafkaStorageError},
	{err: ErrDirLocked, name: "dir_locked", code: kerr.KafkaStorageError},
	{err: ErrOffsetMismatch, name: "offset_mismatch", code: kerr.KafkaStorageError},
	{err: ErrPartitionClosed, name: "partition_closed", code: kerr.KafkaStorageError},
	{err: ErrTopicIDMismatch, name: "topic_id_mismatch", code: kerr.InconsistentTopicID},
	{match: isIO, code: kerr.KafkaStorageError},
	// A wait that ran out of time or was abandoned (a change the metadata
	// log has not applied yet, a connection closing). Kafka answers a
	// timeout with REQUEST_TIMED_OUT; Strom has always answered
	// KAFKA_STORAGE_ERROR, which clients retry as well. Produce's acks
	// wait answers REQUEST_TIMED_OUT itself (handler/produce.go).
	{match: isContext, code: kerr.KafkaStorageError},
}

// isIO matches failures of the operating system's file and network calls,
// and a file found shorter than expected.
func isIO(err error) bool {
	var (
		pathErr *fs.PathError
		linkErr *os.LinkError
		sysErr  *os.SyscallError
		errno   syscall.Errno
	)
	return errors.As(err, &pathErr) || errors.As(err, &linkErr) || errors.As(err, &sysErr) ||
		errors.As(err, &errno) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.ErrShortWrite) || errors.Is(err, fs.ErrClosed)
}

func isContext(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func (r *row) matches(err error) bool {
	if r.match != nil {
		return r.match(err)
	}
	return errors.Is(err, r.err)
}

// find returns the first row that matches err, or nil.
func find(err error) *row {
	for i := range table {
		if table[i].matches(err) {
			return &table[i]
		}
	}
	return nil
}

// Lookup returns err's Kafka error code: 0 for nil, the first matching
// row's code, or UNKNOWN_SERVER_ERROR with known false when no row
// matches (the caller logs it: the error needs a row).
func Lookup(err error) (code int16, known bool) {
	if err == nil {
		return 0, true
	}
	if r := find(err); r != nil {
		return r.code.Code, true
	}
	return kerr.UnknownServerError.Code, false
}

// Code is Lookup's code.
func Code(err error) int16 {
	code, _ := Lookup(err)
	return code
}

// Name returns the stable name of the first sentinel err matches, for
// sending err to another node; "" when err matches none (or only a class).
func Name(err error) string {
	if err == nil {
		return ""
	}
	if r := find(err); r != nil {
		return r.name
	}
	return ""
}

// Sentinel returns the sentinel error with the stable name, nil for an
// unknown name (a node of another version may know more).
func Sentinel(name string) error {
	if name == "" {
		return nil
	}
	for i := range table {
		if table[i].name == name {
			return table[i].err
		}
	}
	return nil
}
