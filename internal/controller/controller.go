// Package controller owns changes to the cluster metadata. It validates each
// change, makes it durable, and publishes a new immutable metadata.Image to
// subscribers in commit order. The Local controller serves a single node and
// keeps its image in one file that is rewritten atomically; cluster mode
// replaces it with a Raft-replicated one behind the same interface.
//
// Concurrency: all methods are safe for concurrent use; changes are
// serialized, and subscribers are called synchronously, in order, with the
// controller's change lock held (they must not call back into the
// controller).
package controller

import (
	"context"

	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// Sentinel errors (defined in errcode, which gives each its Kafka error
// code and its name between nodes).
var (
	ErrTopicExists              = errcode.ErrTopicExists
	ErrUnknownTopic             = errcode.ErrUnknownTopic
	ErrInvalidPartitions        = errcode.ErrInvalidPartitions
	ErrInvalidReplicationFactor = errcode.ErrInvalidReplicationFactor
	ErrInvalidTopic             = errcode.ErrInvalidTopic
	ErrInvalidReplicaAssignment = errcode.ErrInvalidReplicaAssignment
	ErrNotController            = errcode.ErrNotController
)

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	Configs           map[string]string
	Internal          bool
	// Assignment, when set, gives each partition's replicas (CreateTopics
	// with an explicit assignment); otherwise they are placed round robin.
	Assignment [][]ids.NodeID
}

// ConfigChange is one config operation: Value nil deletes the override.
type ConfigChange struct {
	Name  string
	Value *string
}

// Controller is the metadata authority.
type Controller interface {
	// Image returns the current published image; never nil.
	Image() *metadata.Image
	CreateTopic(ctx context.Context, spec TopicSpec) (*metadata.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	// CreatePartitions grows a topic to total partitions.
	CreatePartitions(ctx context.Context, name string, total int32) error
	// AlterTopicConfigs applies changes; replace drops every override first
	// (the legacy AlterConfigs semantics).
	AlterTopicConfigs(ctx context.Context, name string, changes []ConfigChange, replace bool) error
	// AlterBrokerConfigs changes the cluster-wide dynamic broker defaults
	// (Image.BrokerConfigs); replace drops every one first. Values must
	// already be valid.
	AlterBrokerConfigs(ctx context.Context, changes []ConfigChange, replace bool) error
	// AllocateProducerIDs reserves n consecutive producer ids.
	AllocateProducerIDs(ctx context.Context, n int64) (first ids.ProducerID, err error)
	// AlterISR is a partition leader's request to change the ISR (Kafka's
	// AlterPartition): it fails with ErrStaleLeaderEpoch when leaderEpoch
	// is not current or the caller no longer leads, and ErrInvalidISR when
	// the ISR names a fenced broker, a non-replica, or not the leader. It
	// returns once this node's image shows the change.
	AlterISR(ctx context.Context, topic string, partition int32, leaderEpoch ids.LeaderEpoch, isr []ids.NodeID) error
	// ReplicaOffline reports that this node's replica of a partition is
	// offline (a failed sync, damage found by recovery): it leaves the ISR
	// and its leadership moves to another live in-sync replica (the
	// ReplicaOffline command). A single node has no other replica to move
	// to: Local changes nothing, and the partition stays offline on the
	// node until an operator acts (docs/operations.md).
	ReplicaOffline(ctx context.Context, topic string, partition int32) error
	// ElectLeader moves leadership to a live in-sync replica
	// (ErrElectionNotNeeded when it already leads, ErrNotInISR when it is
	// not a live in-sync replica).
	ElectLeader(ctx context.Context, topic string, partition int32, leader ids.NodeID) error
	// ElectUnclean gives a leaderless partition to a live replica that may
	// be out of sync (explicit unclean election only): ErrElectionNotNeeded
	// when it has a live leader, ErrNoEligibleLeader when no replica is live.
	ElectUnclean(ctx context.Context, topic string, partition int32) error
	// Reassign starts moving a partition to target replicas, or cancels
	// an ongoing move when target is nil. It completes in the background
	// once every target replica is in sync.
	Reassign(ctx context.Context, topic string, partition int32, target []ids.NodeID) error
	// AlterScramCredentials changes SASL/SCRAM users in the metadata.
	AlterScramCredentials(ctx context.Context, cmd AlterScramCredentials) error
	// AlterACLs adds and removes access control entries in the metadata.
	AlterACLs(ctx context.Context, cmd AlterACLs) error
	// AlterClientQuotas changes client quotas in the metadata.
	AlterClientQuotas(ctx context.Context, cmd AlterClientQuotas) error
	// DescribeQuorum describes the metadata quorum (Kafka's
	// DescribeQuorum).
	DescribeQuorum(ctx context.Context) (QuorumInfo, error)
	// Fresh reports whether this node's image can be trusted: false on a
	// cluster node cut off from the metadata quorum past its session.
	Fresh() bool
	// Subscribe registers fn to be called with every newly published image
	// (and once immediately with the current one).
	Subscribe(fn func(prev, next *metadata.Image))
}

// ValidTopicName applies Kafka's rules: 1-249 chars of [a-zA-Z0-9._-], not
// "." or "..".
func ValidTopicName(name string) bool {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// QuorumInfo is the metadata quorum as DescribeQuorum reports it.
type QuorumInfo struct {
	LeaderID      ids.NodeID
	LeaderEpoch   int32 // the Raft term
	HighWatermark int64 // the committed index
	Voters        []QuorumVoter
}

// QuorumVoter is one voter: its last log index and when it was last heard
// from (ms since the epoch; -1 unknown).
type QuorumVoter struct {
	ID           ids.NodeID
	LogEndOffset int64
	LastFetch    int64
	LastCaughtUp int64
}
