package group

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one key/value record for __consumer_offsets; a nil Value is a
// tombstone.
type Record struct {
	Key, Value []byte
}

// Key and value schema versions written, as Kafka 4.x writes them.
const (
	offsetKeyVersion   = 1 // OffsetCommitKey
	offsetValueVersion = 3 // OffsetCommitValue (leader epoch, no expire timestamp)
	groupKeyVersion    = 2 // GroupMetadataKey
	groupValueVersion  = 3 // GroupMetadataValue (static members)
)

// TopicPartition names a partition of a user topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offset is one committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32 // -1 when unknown
	Metadata    string
	CommitTime  int64 // ms
}

func offsetKey(group string, tp TopicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	return k.AppendTo(nil)
}

func offsetRecord(group string, tp TopicPartition, o Offset) Record {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime
	return Record{Key: offsetKey(group, tp), Value: v.AppendTo(nil)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// loadedGroup is the state a GroupMetadataValue record carries.
type loadedGroup struct {
	protocolType string
	generation   int32
	protocol     string
	leader       string
	stateTime    int64
	members      []kmsg.GroupMetadataValueMember
}

// decoded is one __consumer_offsets record, decoded.
type decoded struct {
	group  string
	isMeta bool // group metadata, else an offset
	tp     TopicPartition
	offset *Offset      // nil: offset tombstone
	meta   *loadedGroup // nil: group tombstone
}

// decodeRecord parses a key and value written by Kafka or by Strom. Keys of
// versions 0-1 are offsets, 2 group metadata; other versions (share groups,
// KIP-848 records) are skipped with ok false.
func decodeRecord(key, value []byte) (d decoded, ok bool, err error) {
	if len(key) < 2 {
		return d, false, fmt.Errorf("__consumer_offsets key of %d bytes", len(key))
	}
	switch v := int16(binary.BigEndian.Uint16(key)); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return d, false, fmt.Errorf("decode offset key: %w", err)
		}
		d.group, d.tp = k.Group, TopicPartition{k.Topic, k.Partition}
		if value != nil {
			var ov kmsg.OffsetCommitValue
			if err := ov.ReadFrom(value); err != nil {
				return d, false, fmt.Errorf("decode offset value for %s: %w", k.Group, err)
			}
			le := int32(-1)
			if ov.Version >= 3 {
				le = ov.LeaderEpoch
			}
			d.offset = &Offset{Offset: ov.Offset, LeaderEpoch: le, Metadata: ov.Metadata, CommitTime: ov.CommitTimestamp}
		}
		return d, true, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return d, false, fmt.Errorf("decode group key: %w", err)
		}
		d.group, d.isMeta = k.Group, true
		if value != nil {
			var gv kmsg.GroupMetadataValue
			if err := gv.ReadFrom(value); err != nil {
				return d, false, fmt.Errorf("decode group value for %s: %w", k.Group, err)
			}
			lg := &loadedGroup{protocolType: gv.ProtocolType, generation: gv.Generation, stateTime: gv.CurrentStateTimestamp, members: gv.Members}
			if gv.Protocol != nil {
				lg.protocol = *gv.Protocol
			}
			if gv.Leader != nil {
				lg.leader = *gv.Leader
			}
			d.meta = lg
		}
		return d, true, nil
	default:
		return d, false, nil
	}
}
