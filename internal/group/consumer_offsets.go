package group

import (
	"fmt"
	"time"
)

// Offsets, listing and deletion of KIP-848 consumer groups: the classic
// entry points in offsets.go and machine.go dispatch here when the group
// id names a consumer group.

// validateConsumerCommit is Kafka 4.1's ConsumerGroup.validateOffsetCommit:
// commits with a negative epoch are accepted only from outside the group
// (no members); a member must commit with OffsetCommit v9+ and its current
// member epoch.
func (cg *consumerGroup) validateConsumerCommit(req CommitRequest) error {
	if req.Generation < 0 && len(cg.members) == 0 {
		return nil
	}
	mem := cg.members[req.MemberID]
	if mem == nil {
		return ErrUnknownMember
	}
	if req.Version < 9 {
		return fmt.Errorf("%w: OffsetCommit version 9 or above must be used by members using the consumer group protocol", ErrUnsupportedVersion)
	}
	if req.Generation != mem.epoch {
		return ErrStaleMemberEpoch
	}
	return nil
}

func (m *Machine) consumerCommit(now time.Time, to ReplyID, cg *consumerGroup, req CommitRequest) {
	if err := cg.validateConsumerCommit(req); err != nil {
		m.reply(to, &CommitResult{Err: err})
		return
	}
	m.commitOffsets(now, to, cg.id, cg.partition, req, func() map[TopicPartition]Offset {
		if m.consumers[cg.id] != cg {
			return nil
		}
		return cg.offsets
	})
}

// ValidateConsumerFetch is Kafka's ConsumerGroup.validateOffsetFetch for an
// OffsetFetch v9+ carrying a member id and epoch: nil for classic and
// unknown groups, and for a fetch from outside the group (no member id,
// negative epoch).
func (m *Machine) ValidateConsumerFetch(groupID string, memberID *string, epoch int32) error {
	cg := m.consumers[groupID]
	if cg == nil || (memberID == nil && epoch < 0) {
		return nil
	}
	var mem *consumerMember
	if memberID != nil {
		mem = cg.members[*memberID]
	}
	if mem == nil {
		return ErrUnknownMember
	}
	if epoch != mem.epoch {
		return ErrStaleMemberEpoch
	}
	return nil
}

func (m *Machine) consumerDeleteOffsets(to ReplyID, cg *consumerGroup, tps []TopicPartition) {
	m.deleteOffsets(to, cg.id, cg.partition, cg.offsets, tps, cg.isSubscribed)
}

func (m *Machine) consumerDeleteGroup(to ReplyID, cg *consumerGroup) {
	if len(cg.members) > 0 {
		m.reply(to, &DeleteResult{Err: ErrNonEmptyGroup})
		return
	}
	recs := make([]Record, 0, len(cg.offsets)+1)
	for _, tp := range cg.sortedOffsets() {
		recs = append(recs, Record{Key: offsetKey(cg.id, tp)})
	}
	recs = append(recs, cg.tombstones()...)
	delete(m.consumers, cg.id)
	m.write(cg.partition, recs, func(_ time.Time, err error) {
		if err != nil {
			err = ErrCoordinatorNotAvailable
		}
		m.reply(to, &DeleteResult{Err: err})
	})
}

// expireConsumerOffsets drops, after offsets.retention since their commit,
// offsets of topics the group no longer subscribes to (all of them once it
// is Empty), and deletes an Empty group left with no offsets.
func (m *Machine) expireConsumerOffsets(now time.Time, byPartition map[int32][]Record) {
	ret := m.cfg.OffsetsRetention
	for _, id := range sortedKeys(m.consumers) {
		cg := m.consumers[id]
		if m.owned[cg.partition] != partActive {
			continue
		}
		for _, tp := range cg.sortedOffsets() {
			o := cg.offsets[tp]
			if !cg.isSubscribed(tp.Topic) && now.Sub(time.UnixMilli(o.CommitTime)) >= ret {
				delete(cg.offsets, tp)
				byPartition[cg.partition] = append(byPartition[cg.partition], Record{Key: offsetKey(id, tp)})
			}
		}
		if len(cg.members) == 0 && len(cg.offsets) == 0 && now.Sub(cg.stateTime) >= ret {
			delete(m.consumers, id)
			byPartition[cg.partition] = append(byPartition[cg.partition], cg.tombstones()...)
		}
	}
}

func (m *Machine) unloadConsumers(p int32) {
	for id, cg := range m.consumers {
		if cg.partition == p {
			delete(m.consumers, id)
		}
	}
}
