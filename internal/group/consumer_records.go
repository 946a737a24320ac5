package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
)

// KIP-848 records in __consumer_offsets, as Kafka 4.1's group coordinator
// writes them. kmsg has no codec for them, so they are encoded here byte
// for byte as Kafka's generated code does. A key is a non-flexible struct
// whose version field is the record type; every value is version 0,
// flexible (compact strings and arrays, a tagged-field section, none
// written):
//
//	3 ConsumerGroupMetadata               key: group            value: group epoch
//	5 ConsumerGroupMemberMetadata         key: group, member    value: instance id, rack, client id and host, topics, regex, rebalance timeout, server assignor
//	6 ConsumerGroupTargetAssignmentMetadata key: group          value: assignment epoch
//	7 ConsumerGroupTargetAssignmentMember key: group, member    value: target partitions (topic id, partitions)
//	8 ConsumerGroupCurrentMemberAssignment key: group, member   value: member epoch, previous epoch, state, assigned, pending revocation
//
// Type 4 (ConsumerGroupPartitionMetadata, the subscribed topics' metadata)
// is not written: Kafka 4.1 replaced it with a hash of that metadata and
// no longer writes it either; a loaded group takes the subscribed topics
// from the current metadata image. Records of type 4 are skipped on load.
const (
	consumerGroupMetadataKeyVersion             = 3
	consumerGroupPartitionMetadataKeyType       = 4
	consumerGroupMemberMetadataKeyType          = 5
	consumerGroupTargetMetadataKeyType          = 6
	consumerGroupTargetMemberKeyType            = 7
	consumerGroupCurrentAssignmentKeyType       = 8
	consumerGroupRecordValueVersion       int16 = 0
)

// Kafka's MemberState bytes.
const (
	memberStateStable     int8 = 0
	memberStateUnrevoked  int8 = 1
	memberStateUnreleased int8 = 2
)

func consumerRecordKey(typ int16, group string, member *string) []byte {
	b := kbin.AppendInt16(nil, typ)
	b = kbin.AppendString(b, group)
	if member != nil {
		b = kbin.AppendString(b, *member)
	}
	return b
}

func consumerGroupKey(group string) []byte {
	return consumerRecordKey(consumerGroupMetadataKeyVersion, group, nil)
}

func consumerGroupRecord(group string, epoch int32) Record {
	v := kbin.AppendInt16(nil, consumerGroupRecordValueVersion)
	v = kbin.AppendInt32(v, epoch)
	v = append(v, 0) // no tagged fields
	return Record{Key: consumerGroupKey(group), Value: v}
}

func targetMetadataValue(epoch int32) []byte {
	v := kbin.AppendInt16(nil, consumerGroupRecordValueVersion)
	v = kbin.AppendInt32(v, epoch)
	return append(v, 0)
}

func memberMetadataValue(mem *consumerMember) []byte {
	v := kbin.AppendInt16(nil, consumerGroupRecordValueVersion)
	v = kbin.AppendCompactNullableString(v, mem.instanceID)
	v = kbin.AppendCompactNullableString(v, mem.rackID)
	v = kbin.AppendCompactString(v, mem.clientID)
	v = kbin.AppendCompactString(v, mem.clientHost)
	v = kbin.AppendCompactArrayLen(v, len(mem.topics))
	for _, t := range mem.topics {
		v = kbin.AppendCompactString(v, t)
	}
	var regex, assignor *string
	if mem.regex != "" {
		regex = &mem.regex
	}
	if mem.assignor != "" {
		assignor = &mem.assignor
	}
	v = kbin.AppendCompactNullableString(v, regex)
	rt := int32(-1)
	if mem.rebalanceTimeout > 0 {
		rt = int32(mem.rebalanceTimeout.Milliseconds())
	}
	v = kbin.AppendInt32(v, rt)
	v = kbin.AppendCompactNullableString(v, assignor)
	return append(v, 0)
}

func appendTopicPartitions(v []byte, s partSet) []byte {
	l := s.list()
	v = kbin.AppendCompactArrayLen(v, len(l))
	for _, ta := range l {
		v = kbin.AppendUuid(v, ta.Topic)
		v = kbin.AppendCompactArrayLen(v, len(ta.Partitions))
		for _, p := range ta.Partitions {
			v = kbin.AppendInt32(v, p)
		}
		v = append(v, 0)
	}
	return v
}

func targetMemberValue(s partSet) []byte {
	v := kbin.AppendInt16(nil, consumerGroupRecordValueVersion)
	return append(appendTopicPartitions(v, s), 0)
}

func currentAssignmentValue(mem *consumerMember) []byte {
	v := kbin.AppendInt16(nil, consumerGroupRecordValueVersion)
	v = kbin.AppendInt32(v, mem.epoch)
	v = kbin.AppendInt32(v, mem.prevEpoch)
	state := memberStateStable
	switch mem.state {
	case memberUnrevoked:
		state = memberStateUnrevoked
	case memberUnreleased:
		state = memberStateUnreleased
	}
	v = kbin.AppendInt8(v, state)
	v = appendTopicPartitions(v, mem.assigned)
	v = appendTopicPartitions(v, mem.revoking)
	return append(v, 0)
}

// storedGroup is what of a consumer group is in __consumer_offsets (as
// last written), so that a change writes only the records that differ.
type storedGroup struct {
	epoch           int32 // -1: no metadata record
	assignmentEpoch int32 // -1: no target assignment metadata record
	members         map[string][]byte
	targets         map[string][]byte
	current         map[string][]byte
}

func newStoredGroup() *storedGroup {
	return &storedGroup{epoch: -1, assignmentEpoch: -1, members: map[string][]byte{}, targets: map[string][]byte{}, current: map[string][]byte{}}
}

// persist returns the records that bring __consumer_offsets in line with
// cg, in the order Kafka writes them (a member's subscription, the group
// epoch, the target assignment, the current assignment; for a member
// gone: its current assignment, target and subscription tombstones), and
// records them as written.
func (cg *consumerGroup) persist() []Record {
	st := cg.stored
	var recs []Record
	put := func(typ int16, member string, value []byte, stored map[string][]byte) {
		if old, ok := stored[member]; ok && bytes.Equal(old, value) {
			return
		}
		stored[member] = value
		recs = append(recs, Record{Key: consumerRecordKey(typ, cg.id, &member), Value: value})
	}
	for _, id := range sortedKeys(st.current) {
		if cg.members[id] == nil {
			delete(st.current, id)
			recs = append(recs, Record{Key: consumerRecordKey(consumerGroupCurrentAssignmentKeyType, cg.id, &id)})
		}
	}
	for _, id := range sortedKeys(st.targets) {
		if _, ok := cg.target[id]; !ok {
			delete(st.targets, id)
			recs = append(recs, Record{Key: consumerRecordKey(consumerGroupTargetMemberKeyType, cg.id, &id)})
		}
	}
	for _, id := range sortedKeys(st.members) {
		if cg.members[id] == nil {
			delete(st.members, id)
			recs = append(recs, Record{Key: consumerRecordKey(consumerGroupMemberMetadataKeyType, cg.id, &id)})
		}
	}
	members := sortedKeys(cg.members)
	for _, id := range members {
		put(consumerGroupMemberMetadataKeyType, id, memberMetadataValue(cg.members[id]), st.members)
	}
	if cg.epoch != st.epoch {
		st.epoch = cg.epoch
		recs = append(recs, consumerGroupRecord(cg.id, cg.epoch))
	}
	for _, id := range sortedKeys(cg.target) {
		put(consumerGroupTargetMemberKeyType, id, targetMemberValue(cg.target[id]), st.targets)
	}
	if cg.assignmentEpoch != st.assignmentEpoch && (len(cg.members) > 0 || st.assignmentEpoch >= 0) {
		st.assignmentEpoch = cg.assignmentEpoch
		recs = append(recs, Record{Key: consumerRecordKey(consumerGroupTargetMetadataKeyType, cg.id, nil), Value: targetMetadataValue(cg.assignmentEpoch)})
	}
	for _, id := range members {
		put(consumerGroupCurrentAssignmentKeyType, id, currentAssignmentValue(cg.members[id]), st.current)
	}
	return recs
}

// persistMember is persist after a heartbeat of member id: when the group
// epoch, the target assignment and the membership are as last written,
// only that member's subscription and current assignment can differ, and
// the others are not looked at (a heartbeat costs the same in a group of
// any size).
func (cg *consumerGroup) persistMember(id string) []Record {
	st := cg.stored
	_, known := st.members[id]
	if cg.epoch != st.epoch || cg.assignmentEpoch != st.assignmentEpoch || len(st.members) != len(cg.members) ||
		!known || cg.members[id] == nil {
		return cg.persist()
	}
	mem := cg.members[id]
	var recs []Record
	if v := memberMetadataValue(mem); !bytes.Equal(v, st.members[id]) {
		st.members[id] = v
		recs = append(recs, Record{Key: consumerRecordKey(consumerGroupMemberMetadataKeyType, cg.id, &id), Value: v})
	}
	if v := currentAssignmentValue(mem); !bytes.Equal(v, st.current[id]) {
		st.current[id] = v
		recs = append(recs, Record{Key: consumerRecordKey(consumerGroupCurrentAssignmentKeyType, cg.id, &id), Value: v})
	}
	return recs
}

// tombstones deletes every record of cg but its offsets: what is left of
// its members, the target assignment metadata and, last, the group
// metadata (whose tombstone alone makes a loader forget the group).
func (cg *consumerGroup) tombstones() []Record {
	st := cg.stored
	var recs []Record
	for _, id := range sortedKeys(st.current) {
		recs = append(recs, Record{Key: consumerRecordKey(consumerGroupCurrentAssignmentKeyType, cg.id, &id)})
	}
	for _, id := range sortedKeys(st.targets) {
		recs = append(recs, Record{Key: consumerRecordKey(consumerGroupTargetMemberKeyType, cg.id, &id)})
	}
	for _, id := range sortedKeys(st.members) {
		recs = append(recs, Record{Key: consumerRecordKey(consumerGroupMemberMetadataKeyType, cg.id, &id)})
	}
	if st.assignmentEpoch >= 0 {
		recs = append(recs, Record{Key: consumerRecordKey(consumerGroupTargetMetadataKeyType, cg.id, nil)})
	}
	cg.stored = newStoredGroup()
	return append(recs, Record{Key: consumerGroupKey(cg.id)})
}

// loadedConsumer is what the loader keeps of a consumer group: the values
// of its records, by member.
type loadedConsumer struct {
	epoch           int32
	assignmentEpoch int32 // -1: no record
	members         map[string][]byte
	targets         map[string][]byte
	current         map[string][]byte
}

// isConsumerRecordKey reports whether key is one of the KIP-848 records.
func isConsumerRecordKey(key []byte) bool {
	if len(key) < 2 {
		return false
	}
	t := int16(binary.BigEndian.Uint16(key))
	return t >= consumerGroupMetadataKeyVersion && t <= consumerGroupCurrentAssignmentKeyType
}

// applyConsumerRecord replays one KIP-848 record (a nil value is a
// tombstone).
func (l *Loader) applyConsumerRecord(key, value []byte) error {
	r := kbin.Reader{Src: key}
	typ := r.Int16()
	group := r.String()
	var member string
	if typ != consumerGroupMetadataKeyVersion && typ != consumerGroupTargetMetadataKeyType && typ != consumerGroupPartitionMetadataKeyType {
		member = r.String()
	}
	if err := r.Complete(); err != nil {
		return fmt.Errorf("consumer group record key of type %d: %w", typ, err)
	}
	if typ == consumerGroupMetadataKeyVersion && value == nil {
		delete(l.consumers, group)
		delete(l.offsets, group)
		return nil
	}
	lc := l.consumers[group]
	if lc == nil {
		if value == nil {
			return nil // a tombstone of a group already gone
		}
		// Any record makes the group, as in Kafka's loader: a member's
		// subscription is written before the group epoch.
		lc = &loadedConsumer{assignmentEpoch: -1, members: map[string][]byte{}, targets: map[string][]byte{}, current: map[string][]byte{}}
		l.consumers[group] = lc
		delete(l.meta, group)
	}
	switch typ {
	case consumerGroupMetadataKeyVersion:
		vr := kbin.Reader{Src: value}
		vr.Int16()
		lc.epoch = vr.Int32()
		if !vr.Ok() {
			return fmt.Errorf("consumer group metadata value for %s: %d bytes", group, len(value))
		}
	case consumerGroupTargetMetadataKeyType:
		if value == nil {
			lc.assignmentEpoch = -1
			return nil
		}
		vr := kbin.Reader{Src: value}
		vr.Int16()
		lc.assignmentEpoch = vr.Int32()
		if !vr.Ok() {
			return fmt.Errorf("consumer group target assignment metadata value for %s: %d bytes", group, len(value))
		}
	case consumerGroupMemberMetadataKeyType:
		setOrDelete(lc.members, member, value)
	case consumerGroupTargetMemberKeyType:
		setOrDelete(lc.targets, member, value)
	case consumerGroupCurrentAssignmentKeyType:
		setOrDelete(lc.current, member, value)
	}
	return nil
}

func setOrDelete(mp map[string][]byte, k string, v []byte) {
	if v == nil {
		delete(mp, k)
		return
	}
	mp[k] = slices.Clone(v)
}

func readTopicPartitions(r *kbin.Reader) partSet {
	s := partSet{}
	n := r.CompactArrayLen()
	for range max(n, 0) {
		topic := r.Uuid()
		np := r.CompactArrayLen()
		for range max(np, 0) {
			s[TopicIDPartition{TopicID(topic), r.Int32()}] = struct{}{}
		}
		skipTags(r)
		if !r.Ok() {
			break
		}
	}
	return s
}

// skipTags reads past a tagged-field section.
func skipTags(r *kbin.Reader) {
	n := r.Uvarint()
	for range n {
		r.Uvarint()              // tag
		r.Span(int(r.Uvarint())) // value
		if !r.Ok() {
			return
		}
	}
}

// decodeMember rebuilds a member from its subscription and current
// assignment records.
func decodeMember(id string, meta, current []byte) (*consumerMember, error) {
	mem := &consumerMember{id: id}
	r := kbin.Reader{Src: meta}
	r.Int16()
	mem.instanceID = r.CompactNullableString()
	mem.rackID = r.CompactNullableString()
	mem.clientID = r.CompactString()
	mem.clientHost = r.CompactString()
	n := r.CompactArrayLen()
	for range max(n, 0) {
		mem.topics = append(mem.topics, r.CompactString())
	}
	if regex := r.CompactNullableString(); regex != nil && *regex != "" {
		mem.regex = *regex
		re, err := regexp.Compile(`^(?:` + *regex + `)$`)
		if err != nil {
			return nil, fmt.Errorf("member %s: regex %q: %w", id, *regex, err)
		}
		mem.re = re
	}
	if rt := r.Int32(); rt > 0 {
		mem.rebalanceTimeout = time.Duration(rt) * time.Millisecond
	}
	if a := r.CompactNullableString(); a != nil {
		mem.assignor = *a
	}
	if !r.Ok() {
		return nil, fmt.Errorf("member %s: subscription value of %d bytes", id, len(meta))
	}
	r = kbin.Reader{Src: current}
	r.Int16()
	mem.epoch = r.Int32()
	mem.prevEpoch = r.Int32()
	switch r.Int8() {
	case memberStateUnrevoked:
		mem.state = memberUnrevoked
	case memberStateUnreleased:
		mem.state = memberUnreleased
	default:
		mem.state = memberStable
	}
	mem.assigned = readTopicPartitions(&r)
	mem.revoking = readTopicPartitions(&r)
	if !r.Ok() {
		return nil, fmt.Errorf("member %s: current assignment value of %d bytes", id, len(current))
	}
	return mem, nil
}

// buildConsumers turns replayed consumer-group records into groups with
// their members, epochs, target and current assignments (sessions start
// now, as after Kafka's load) and their offsets (which l.build must then
// not turn into classic groups). Topics and assignor are filled in by
// Machine.CompleteLoad from the current image.
// A group whose records do not decode is left out, and reported.
func (l *Loader) buildConsumers(now time.Time, cfg Config) (map[string]*consumerGroup, error) {
	out := map[string]*consumerGroup{}
	var errs []error
	for _, id := range sortedKeys(l.consumers) {
		cg, err := l.buildConsumer(now, cfg, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[id] = cg
	}
	return out, errors.Join(errs...)
}

func (l *Loader) buildConsumer(now time.Time, cfg Config, id string) (*consumerGroup, error) {
	{
		lc := l.consumers[id]
		cg := newConsumerGroup(id, l.partition, now)
		cg.epoch, cg.assignmentEpoch = lc.epoch, lc.epoch
		st := cg.stored
		st.epoch = lc.epoch
		if lc.assignmentEpoch >= 0 {
			cg.assignmentEpoch, st.assignmentEpoch = lc.assignmentEpoch, lc.assignmentEpoch
		}
		for _, mid := range sortedKeys(lc.members) {
			cur, ok := lc.current[mid]
			if !ok {
				continue // written together; a member without both is incomplete
			}
			mem, err := decodeMember(mid, lc.members[mid], cur)
			if err != nil {
				return nil, fmt.Errorf("consumer group %s: %w", id, err)
			}
			mem.sessionDeadline = now.Add(cfg.ConsumerSessionTimeout)
			if mem.state == memberUnrevoked {
				mem.rebalanceDeadline = now.Add(mem.rebalanceTimeoutOr(cfg.ConsumerSessionTimeout))
			}
			cg.members[mid] = mem
			if mem.instanceID != nil {
				cg.static[*mem.instanceID] = mid
			}
			for p := range mem.assigned {
				cg.owners[p] = mid
			}
			for p := range mem.revoking {
				cg.owners[p] = mid
			}
			st.members[mid], st.current[mid] = lc.members[mid], cur
		}
		for _, mid := range sortedKeys(lc.targets) {
			if cg.members[mid] == nil {
				continue
			}
			r := kbin.Reader{Src: lc.targets[mid]}
			r.Int16()
			t := readTopicPartitions(&r)
			if !r.Ok() {
				return nil, fmt.Errorf("consumer group %s: member %s: target assignment value of %d bytes", id, mid, len(lc.targets[mid]))
			}
			cg.target[mid] = t
			st.targets[mid] = lc.targets[mid]
		}
		maps.Copy(cg.offsets, l.offsets[id])
		delete(l.offsets, id)
		delete(l.meta, id)
		return cg, nil
	}
}
