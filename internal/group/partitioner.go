package group

import (
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/metadata"
)

// OffsetsTopic is the internal topic holding committed offsets and group
// metadata.
const OffsetsTopic = metadata.ConsumerOffsetsTopic

// PartitionFor maps a group id to its __consumer_offsets partition as Kafka
// does: Utils.abs(groupId.hashCode) % partitions, where hashCode is Java's
// String.hashCode over UTF-16 code units and Utils.abs maps MinInt32 to 0.
func PartitionFor(groupID string, partitions int32) int32 {
	var h int32
	for _, u := range utf16Units(groupID) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// utf16Units returns s as Java sees it: UTF-16 code units.
func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// OffsetsTopicSpec describes __consumer_offsets as Kafka creates it:
// compacted, 100 MiB segments (offsets.topic.segment.bytes), replication
// factor 3 (offsets.topic.replication.factor) or the number of brokers if
// fewer. Compacted offsets never age out by time, so retention.ms is -1.
func OffsetsTopicSpec(partitions int32, brokers int) controller.TopicSpec {
	return controller.TopicSpec{
		Name:              OffsetsTopic,
		Partitions:        partitions,
		ReplicationFactor: int16(max(1, min(3, brokers))),
		Configs: map[string]string{
			"cleanup.policy": "compact",
			"segment.bytes":  "104857600",
			"retention.ms":   "-1",
		},
		Internal: true,
	}
}
