package errcode

import (
	"errors"
	"fmt"
)

// The sentinel errors of every package, grouped by the package that
// returns them; that package re-exports each under the same name (or the
// name in parentheses). Their codes are in the table (errcode.go).

// Request checks (handler: errInvalidRequest) and the produce checks
// (partition: ErrInvalidRecord, ErrRecordTooLarge).
var (
	// ErrInvalidRequest marks request-shape errors.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInvalidRecord is a produced batch Kafka refuses as a whole: no
	// batch, several, control or empty batches, a record without a key
	// for a compacted topic.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrRecordTooLarge is a batch over max.message.bytes.
	ErrRecordTooLarge = errors.New("record batch too large")
)

// Metadata changes (controller).
var (
	ErrTopicExists              = errors.New("topic already exists")
	ErrUnknownTopic             = errors.New("unknown topic")
	ErrInvalidPartitions        = errors.New("invalid number of partitions")
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	ErrInvalidTopic             = errors.New("invalid topic name")
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
	ErrNotController            = errors.New("not the controller")
	ErrStaleLeaderEpoch         = errors.New("stale leader epoch")
	ErrInvalidISR               = errors.New("invalid ISR")
	ErrNotInISR                 = errors.New("preferred leader is not in the ISR")
	// ErrNoEligibleLeader: an unclean election found no live replica.
	ErrNoEligibleLeader  = errors.New("no eligible leader")
	ErrUnknownBroker     = errors.New("unknown broker")
	ErrElectionNotNeeded = errors.New("election not needed")
	ErrNoReassignment    = errors.New("no reassignment in progress")
	// ErrMetadataLog: the metadata log did not take a change (the Raft
	// library refused or lost it); the client may retry.
	ErrMetadataLog = errors.New("metadata log")
	// ErrRequestTimedOut: a metadata change was not applied within the
	// timeout its request named (REQUEST_TIMED_OUT, retriable); it may
	// still be applied later, as in Kafka.
	ErrRequestTimedOut = errors.New("request timed out")
	// ErrCommandVersion and ErrUnknownCommand (controller's
	// errCommandVersion, errUnknownCommand): a metadata command written by
	// a newer version of Strom than this node's.
	ErrCommandVersion = errors.New("metadata command version not supported")
	ErrUnknownCommand = errors.New("unknown metadata command")
	// ErrInternalTopic (metadata): a client asked to delete an internal
	// topic or change its partition count.
	ErrInternalTopic = errors.New("internal topic")
)

// Configs (metadata).
var (
	// ErrUnknownConfig and ErrInvalidConfig are returned by
	// ValidateTopicConfig.
	ErrUnknownConfig = errors.New("unknown topic config")
	ErrInvalidConfig = errors.New("invalid topic config value")
	// ErrNotDynamicBrokerConfig is a broker config that cannot be changed
	// at run time (or is unknown).
	ErrNotDynamicBrokerConfig = fmt.Errorf("%w: not a dynamic broker config", ErrInvalidConfig)
)

// Record batches (record: ErrCorrupt, ErrUnsupportedMagic, ErrInvalidRecord,
// ErrBadCompression).
var (
	// ErrCorruptBatch means the bytes are not a well-formed batch.
	ErrCorruptBatch = errors.New("record: corrupt record batch")
	// ErrUnsupportedMagic means the batch is not magic 2.
	ErrUnsupportedMagic = errors.New("record: unsupported magic")
	// ErrInvalidBatch means the batch is well framed but its header
	// contradicts itself.
	ErrInvalidBatch = errors.New("record: invalid record batch")
	// ErrBadCompression means a compressed batch's payload does not start
	// with its codec's frame header.
	ErrBadCompression = errors.New("record: compressed payload does not match its codec")
	// ErrInvalidTimestamp (partition): a CreateTime record's timestamp lies
	// outside message.timestamp.before.max.ms / after.max.ms.
	ErrInvalidTimestamp = errors.New("invalid record timestamp")
)

// The partition log (storage: ErrOffsetOutOfRange, ErrClosed,
// ErrOffsetMismatch, ErrFailed, ErrCorruptSegment).
var (
	// ErrOffsetOutOfRange: an offset below the log start offset or above the log end offset.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrLogClosed: the log was closed.
	ErrLogClosed = errors.New("storage: log closed")
	// ErrOffsetMismatch: a follower append whose offsets do not continue the log.
	ErrOffsetMismatch = errors.New("storage: batch offsets do not follow the log end offset")
	// ErrDirLocked (vfs.ErrLocked): another process holds a directory's
	// lock. A start-up error; it reaches no client.
	ErrDirLocked = errors.New("directory in use by another process")
	// ErrLogFailed: an earlier write or fdatasync failed; the log accepts no more writes
	// because what is on disk is no longer known.
	ErrLogFailed = errors.New("storage: log failed after an I/O error")
	// ErrCorruptSegment: a batch read back from a segment file is not well
	// formed. It wraps ErrCorruptBatch, but is the log's failure, not the
	// client's.
	ErrCorruptSegment = fmt.Errorf("segment file: %w", ErrCorruptBatch)
)

// Replicas (partition: ErrNotLeader, ErrNotFollower, ErrOutOfOrderSequence,
// ErrInvalidProducerEpoch, ErrPartitionTxnState, ErrMarkerCoordinatorFenced,
// ErrTopicIDMismatch, ErrClosed).
var (
	// ErrNotLeader: this node does not lead the partition.
	ErrNotLeader = errors.New("not the leader of the partition")
	// ErrNotFollower: a follower append for a partition this node no longer
	// follows at that leader epoch; the fetcher drops the response.
	ErrNotFollower = errors.New("not a follower at this leader epoch")
	// ErrOutOfOrderSequence and ErrInvalidProducerEpoch are the
	// idempotent-producer checks.
	ErrOutOfOrderSequence   = errors.New("out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrPartitionTxnState is a write that contradicts the producer's
	// transaction on this partition: a plain batch inside a transaction,
	// or a transactional one the coordinator did not verify (KIP-890).
	ErrPartitionTxnState = errors.New("invalid transaction state on the partition")
	// ErrMarkerCoordinatorFenced is a transaction marker from an older
	// coordinator epoch than one already seen for the producer.
	ErrMarkerCoordinatorFenced = errors.New("transaction marker from a fenced coordinator")
	// ErrTopicIDMismatch is a partition directory that belongs to another
	// topic id, or to none.
	ErrTopicIDMismatch = errors.New("partition directory belongs to another topic id")
	// ErrPartitionClosed: the partition closed while a request waited on it.
	ErrPartitionClosed = errors.New("partition closed")
)

// Consumer groups (group).
var (
	ErrNotCoordinator          = errors.New("not the coordinator for this group")
	ErrLoading                 = errors.New("coordinator is loading group state")
	ErrCoordinatorNotAvailable = errors.New("coordinator not available")
	ErrInvalidGroupID          = errors.New("invalid group id")
	ErrUnknownMember           = errors.New("unknown member id")
	ErrMemberIDRequired        = errors.New("member id required")
	ErrIllegalGeneration       = errors.New("illegal generation")
	ErrRebalanceInProgress     = errors.New("rebalance in progress")
	ErrInconsistentProtocol    = errors.New("inconsistent group protocol")
	ErrInvalidSessionTimeout   = errors.New("invalid session timeout")
	ErrGroupMaxSize            = errors.New("group max size reached")
	ErrFencedInstance          = errors.New("static member fenced by a newer instance")
	ErrGroupNotFound           = errors.New("group id not found")
	ErrNonEmptyGroup           = errors.New("group is not empty")
	ErrSubscribedToTopic       = errors.New("group is subscribed to the topic")
	ErrOffsetMetadataTooLarge  = errors.New("offset metadata too large")
	// The consumer group protocol (KIP-848).
	ErrFencedMemberEpoch    = errors.New("fenced member epoch")
	ErrStaleMemberEpoch     = errors.New("stale member epoch")
	ErrUnsupportedAssignor  = errors.New("unsupported assignor")
	ErrUnreleasedInstanceID = errors.New("unreleased instance id")
	ErrInvalidRegex         = errors.New("invalid regular expression")
	ErrUnsupportedVersion   = errors.New("unsupported version")
)

// Transactions (txn).
var (
	// ErrConcurrentTransactions: the transactional id has a transition or
	// its markers in flight; the client retries.
	ErrConcurrentTransactions = errors.New("concurrent transactions")
	// ErrProducerFenced: a producer epoch older than the coordinator's
	// (INVALID_PRODUCER_EPOCH for request versions before KIP-588).
	ErrProducerFenced = errors.New("producer fenced by a newer epoch")
	// ErrInvalidProducerIDMapping: the producer id is not the one the
	// transactional id has, or the id is unknown.
	ErrInvalidProducerIDMapping = errors.New("invalid producer id mapping")
	// ErrInvalidTxnState: a request the transaction's state does not allow.
	ErrInvalidTxnState = errors.New("invalid transaction state")
	// ErrInvalidTransactionTimeout: above transaction.max.timeout.ms, or
	// not positive.
	ErrInvalidTransactionTimeout = errors.New("invalid transaction timeout")
	// ErrTransactionalIDNotFound: DescribeTransactions of an unknown id.
	ErrTransactionalIDNotFound = errors.New("transactional id not found")
	// ErrTransactionAbortable: a verified partition is not in the
	// transaction (KIP-890); the producer aborts.
	ErrTransactionAbortable = errors.New("transaction abortable")
)
