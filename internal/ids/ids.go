// Package ids holds the named integer types that cross package boundaries:
// node ids, leader epochs, producer ids and log offsets. Each keeps Kafka's
// wire width (int32 or int64), so JSON encodings and kmsg conversions are
// plain conversions, but the compiler refuses a leader epoch where a node id
// is wanted (cockroachdb/pebble's habit: a segment number is not an offset).
//
// It is its own leaf package, importing nothing, rather than part of
// metadata: storage and partition keep leader epochs and offsets too, and
// metadata imports config, which the lowest layers have no need of.
package ids

// NodeID is a broker's id (Kafka's broker.id / node.id). NoNode (-1) means
// "none": no live leader, or an id unknown to the sender.
type NodeID int32

// NoNode is the node id of no node.
const NoNode NodeID = -1

// LeaderEpoch is a partition's leader epoch: it grows with every leader
// change the metadata log records. NoEpoch (-1) means "not given".
type LeaderEpoch int32

// NoEpoch is the leader epoch of requests that name none.
const NoEpoch LeaderEpoch = -1

// ProducerID is an idempotent or transactional producer's id, handed out
// in blocks by the metadata log. NoProducer (-1) means "not idempotent".
type ProducerID int64

// NoProducer is the producer id of batches written without one.
const NoProducer ProducerID = -1

// Offset is a record's position in one partition's log.
type Offset int64
