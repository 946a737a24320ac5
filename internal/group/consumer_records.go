package group

import (
	"encoding/binary"
	"fmt"
	"time"
)

// KIP-848 records in __consumer_offsets. kmsg has no codec for them, so
// the one Strom writes is encoded here, byte for byte as Kafka's generated
// code does: ConsumerGroupMetadataKey is record type 3 (the key's version
// field), a non-flexible struct with the group id; ConsumerGroupMetadataValue
// v0 is flexible: the group epoch, then tagged fields (Kafka 4.1 tags its
// metadata hash; none is written here).
const consumerGroupMetadataKeyVersion = 3

func consumerGroupKey(group string) []byte {
	b := binary.BigEndian.AppendUint16(nil, consumerGroupMetadataKeyVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(group)))
	return append(b, group...)
}

func consumerGroupRecord(group string, epoch int32) Record {
	v := binary.BigEndian.AppendUint16(nil, 0)
	v = binary.BigEndian.AppendUint32(v, uint32(epoch))
	v = append(v, 0) // no tagged fields
	return Record{Key: consumerGroupKey(group), Value: v}
}

// decodeConsumerGroupRecord parses a ConsumerGroupMetadata key and value;
// epoch is -1 for a tombstone.
func decodeConsumerGroupRecord(key, value []byte) (group string, epoch int32, err error) {
	if len(key) < 4 {
		return "", 0, fmt.Errorf("consumer group metadata key of %d bytes", len(key))
	}
	n := int(binary.BigEndian.Uint16(key[2:]))
	if len(key) < 4+n {
		return "", 0, fmt.Errorf("consumer group metadata key: group id of %d bytes in %d", n, len(key)-4)
	}
	group = string(key[4 : 4+n])
	if value == nil {
		return group, -1, nil
	}
	if len(value) < 6 {
		return "", 0, fmt.Errorf("consumer group metadata value for %s: %d bytes", group, len(value))
	}
	return group, int32(binary.BigEndian.Uint32(value[2:])), nil
}

// loadedConsumer is what the loader keeps of a consumer group.
type loadedConsumer struct{ epoch int32 }

// buildConsumers turns replayed consumer-group records into Empty groups
// at their last epoch, with their offsets (which l.build must then not
// turn into classic groups).
func (l *Loader) buildConsumers(now time.Time) map[string]*consumerGroup {
	out := map[string]*consumerGroup{}
	for id, lc := range l.consumers {
		cg := newConsumerGroup(id, l.partition, now)
		cg.epoch, cg.assignmentEpoch = lc.epoch, lc.epoch
		for tp, o := range l.offsets[id] {
			cg.offsets[tp] = o
		}
		delete(l.offsets, id)
		delete(l.meta, id)
		out[id] = cg
	}
	return out
}
