package group

import (
	"cmp"
	"slices"
	"time"
)

func (g *classicGroup) sortedOffsets() []TopicPartition {
	tps := make([]TopicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return tps
}

// CommitOffset is one offset to commit.
type CommitOffset struct {
	TopicPartition
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// CommitRequest is an OffsetCommit, decoded, for partitions the handler
// found to exist.
type CommitRequest struct {
	Group      string
	Generation int32 // -1: a simple consumer or admin commit
	MemberID   string
	InstanceID *string
	Version    int16
	Offsets    []CommitOffset
}

// CommitResult answers an OffsetCommit: Err for every partition, or one
// error (nil for success) per partition in request order.
type CommitResult struct {
	Err        error
	Partitions []error
}

// validateCommit is Kafka 4's ClassicGroup.validateOffsetCommit.
func (g *classicGroup) validateCommit(req CommitRequest) error {
	if g.state == Dead {
		return ErrCoordinatorNotAvailable
	}
	if req.Generation < 0 && g.state == Empty {
		return nil
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
			return err
		}
		if req.Generation != g.generation {
			return ErrIllegalGeneration
		}
	} else if g.state != Empty {
		// Without member id and generation, commits are only accepted
		// from outside the group, i.e. when it has no members.
		return ErrUnknownMember
	}
	if g.state == CompletingRebalance {
		return ErrRebalanceInProgress
	}
	return nil
}

// Commit handles an OffsetCommit; the answer is a Reply to to once the
// offsets are durable.
func (m *Machine) Commit(now time.Time, to ReplyID, req CommitRequest) {
	if err := m.check(req.Group); err != nil {
		m.reply(to, &CommitResult{Err: err})
		return
	}
	if cg := m.consumers[req.Group]; cg != nil {
		m.consumerCommit(now, to, cg, req)
		return
	}
	g := m.groups[req.Group]
	if g == nil {
		switch {
		case req.Generation < 0:
			// A simple consumer: the group exists only to hold offsets.
			g = newGroup(req.Group, m.PartitionFor(req.Group), now)
			m.groups[req.Group] = g
		case req.Version >= 9:
			m.reply(to, &CommitResult{Err: ErrGroupNotFound})
			return
		default:
			m.reply(to, &CommitResult{Err: ErrIllegalGeneration})
			return
		}
	}
	if err := g.validateCommit(req); err != nil {
		m.reply(to, &CommitResult{Err: err})
		return
	}
	if mem := g.members[req.MemberID]; mem != nil {
		mem.deadline = now.Add(mem.sessionTimeout)
	}
	m.commitOffsets(now, to, g.id, g.partition, req, func() map[TopicPartition]Offset {
		if m.groups[g.id] != g {
			return nil // replaced meanwhile (deleted and recreated)
		}
		return g.offsets
	})
}

// commitOffsets writes a commit's offsets to the group's partition of
// __consumer_offsets and, once durable, records them in the map target
// returns (nil: the group is gone, record nothing). Classic and KIP-848
// groups share it after their own validation.
func (m *Machine) commitOffsets(now time.Time, to ReplyID, groupID string, partition int32, req CommitRequest, target func() map[TopicPartition]Offset) {
	res := &CommitResult{Partitions: make([]error, len(req.Offsets))}
	var recs []Record
	var written []int
	ts := now.UnixMilli()
	for i, o := range req.Offsets {
		if len(o.Metadata) > m.cfg.MaxMetadataBytes {
			res.Partitions[i] = ErrOffsetMetadataTooLarge
			continue
		}
		recs = append(recs, offsetRecord(groupID, o.TopicPartition, Offset{o.Offset, o.LeaderEpoch, o.Metadata, ts}))
		written = append(written, i)
	}
	if len(recs) == 0 {
		m.reply(to, res)
		return
	}
	m.write(partition, recs, func(_ time.Time, err error) {
		if err != nil {
			for _, i := range written {
				res.Partitions[i] = ErrCoordinatorNotAvailable
			}
			m.reply(to, res)
			return
		}
		if offsets := target(); offsets != nil {
			for _, i := range written {
				o := req.Offsets[i]
				offsets[o.TopicPartition] = Offset{o.Offset, o.LeaderEpoch, o.Metadata, ts}
			}
		}
		m.reply(to, res)
	})
}

// FetchOffsets returns the committed offsets of groupID: of every
// partition when tps is nil, else of those asked (absent ones are left
// out; the handler answers them with -1). An unknown group has none.
func (m *Machine) FetchOffsets(groupID string, tps []TopicPartition) (map[TopicPartition]Offset, error) {
	if err := m.check(groupID); err != nil {
		return nil, err
	}
	out := map[TopicPartition]Offset{}
	offsets := map[TopicPartition]Offset(nil)
	if g := m.groups[groupID]; g != nil {
		offsets = g.offsets
	} else if cg := m.consumers[groupID]; cg != nil {
		offsets = cg.offsets
	}
	if offsets == nil {
		return out, nil
	}
	if tps == nil {
		for tp, o := range offsets {
			out[tp] = o
		}
		return out, nil
	}
	for _, tp := range tps {
		if o, ok := offsets[tp]; ok {
			out[tp] = o
		}
	}
	return out, nil
}

// DeleteOffsets handles an OffsetDelete: a group-level error, else one
// error per partition in request order. The answer is a Reply to to (a
// *CommitResult) once the tombstones are durable.
func (m *Machine) DeleteOffsets(now time.Time, to ReplyID, groupID string, tps []TopicPartition) {
	if groupID == "" {
		m.reply(to, &CommitResult{Err: ErrInvalidGroupID})
		return
	}
	if err := m.check(groupID); err != nil {
		m.reply(to, &CommitResult{Err: err})
		return
	}
	if cg := m.consumers[groupID]; cg != nil {
		m.consumerDeleteOffsets(to, cg, tps)
		return
	}
	g := m.groups[groupID]
	if g == nil || g.state == Dead {
		m.reply(to, &CommitResult{Err: ErrGroupNotFound})
		return
	}
	if g.state != Empty && g.protocolType != "consumer" {
		m.reply(to, &CommitResult{Err: ErrNonEmptyGroup})
		return
	}
	m.deleteOffsets(to, g.id, g.partition, g.offsets, tps, func(topic string) bool {
		return g.state != Empty && g.isSubscribed(topic)
	})
}

// deleteOffsets is OffsetDelete for one group of either kind: partitions
// of topics the group still consumes (subscribed) are refused with
// GROUP_SUBSCRIBED_TO_TOPIC; the others get tombstones in
// __consumer_offsets.
func (m *Machine) deleteOffsets(to ReplyID, groupID string, partition int32, offsets map[TopicPartition]Offset, tps []TopicPartition, subscribed func(topic string) bool) {
	res := &CommitResult{Partitions: make([]error, len(tps))}
	var recs []Record
	for i, tp := range tps {
		if subscribed(tp.Topic) {
			res.Partitions[i] = ErrSubscribedToTopic
			continue
		}
		if _, ok := offsets[tp]; ok {
			delete(offsets, tp)
			recs = append(recs, Record{Key: offsetKey(groupID, tp)})
		}
	}
	if len(recs) == 0 {
		m.reply(to, res)
		return
	}
	m.write(partition, recs, func(_ time.Time, err error) {
		if err != nil {
			res = &CommitResult{Err: ErrCoordinatorNotAvailable}
		}
		m.reply(to, res)
	})
}

// expireOffsets applies offsets.retention as Kafka does: all offsets of an
// Empty group once it has been empty for the retention period; offsets of
// a simple group by commit time; offsets of topics a Stable consumer group
// no longer subscribes to by commit time. An Empty group left with no
// offsets is deleted.
func (m *Machine) expireOffsets(now time.Time) {
	ret := m.cfg.OffsetsRetention
	byPartition := map[int32][]Record{}
	for _, id := range sortedKeys(m.groups) {
		g := m.groups[id]
		if m.owned[g.partition] != partActive {
			continue
		}
		var expire func(tp TopicPartition, o Offset) bool
		switch {
		case g.protocolType == "":
			expire = func(_ TopicPartition, o Offset) bool { return now.Sub(time.UnixMilli(o.CommitTime)) >= ret }
		case g.state == Empty:
			expire = func(TopicPartition, Offset) bool { return now.Sub(g.stateTime) >= ret }
		case g.state == Stable && g.subscribed != nil:
			expire = func(tp TopicPartition, o Offset) bool {
				return !g.subscribed[tp.Topic] && now.Sub(time.UnixMilli(o.CommitTime)) >= ret
			}
		default:
			continue
		}
		for _, tp := range g.sortedOffsets() {
			if expire(tp, g.offsets[tp]) {
				delete(g.offsets, tp)
				byPartition[g.partition] = append(byPartition[g.partition], Record{Key: offsetKey(g.id, tp)})
			}
		}
		if g.state == Empty && len(g.offsets) == 0 && len(g.pending) == 0 {
			g.state = Dead
			delete(m.groups, id)
			byPartition[g.partition] = append(byPartition[g.partition], Record{Key: groupKey(id)})
		}
	}
	m.expireConsumerOffsets(now, byPartition)
	for p, recs := range byPartition {
		m.write(p, recs, func(time.Time, error) {})
	}
}

// Loader replays one __consumer_offsets partition's records, in log order,
// into the groups they describe. It is pure and runs off the driver's
// goroutine; Machine.CompleteLoad installs the result.
type Loader struct {
	partition int32
	offsets   map[string]map[TopicPartition]Offset
	meta      map[string]*loadedGroup
	consumers map[string]*loadedConsumer
	// txnPending: producer id -> group -> offsets of transactional commits
	// whose marker has not been replayed yet.
	txnPending map[int64]map[string]map[TopicPartition]Offset
}

// NewLoader starts replaying partition p.
func NewLoader(p int32) *Loader {
	return &Loader{partition: p, offsets: map[string]map[TopicPartition]Offset{}, meta: map[string]*loadedGroup{}, consumers: map[string]*loadedConsumer{},
		txnPending: map[int64]map[string]map[TopicPartition]Offset{}}
}

// Apply replays one record (a nil value is a tombstone). Records of other
// kinds (share and streams groups) are skipped.
func (l *Loader) Apply(key, value []byte) error {
	if isConsumerRecordKey(key) {
		return l.applyConsumerRecord(key, value)
	}
	d, ok, err := decodeRecord(key, value)
	if err != nil || !ok {
		return err
	}
	if d.isMeta {
		if d.meta == nil {
			delete(l.meta, d.group)
			// A group tombstone follows its offsets' tombstones; drop any
			// left, as Kafka's loader removes the group entirely.
			delete(l.offsets, d.group)
		} else {
			l.meta[d.group] = d.meta
			delete(l.consumers, d.group)
		}
		return nil
	}
	offs := l.offsets[d.group]
	if d.offset == nil {
		delete(offs, d.tp)
		return nil
	}
	if offs == nil {
		offs = map[TopicPartition]Offset{}
		l.offsets[d.group] = offs
	}
	offs[d.tp] = *d.offset
	return nil
}

// build turns the replayed records into groups: Stable with their members
// (whose sessions start now) or Empty.
func (l *Loader) build(now time.Time, cfg Config) map[string]*classicGroup {
	out := map[string]*classicGroup{}
	get := func(id string) *classicGroup {
		if g := out[id]; g != nil {
			return g
		}
		g := newGroup(id, l.partition, now)
		out[id] = g
		return g
	}
	for id, lg := range l.meta {
		g := get(id)
		g.protocolType, g.generation, g.protocol, g.leader = lg.protocolType, lg.generation, lg.protocol, lg.leader
		if lg.stateTime > 0 {
			g.stateTime = time.UnixMilli(lg.stateTime)
		}
		for _, vm := range lg.members {
			mem := &member{
				id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
				protocolType:     lg.protocolType,
				protocols:        []Protocol{{Name: lg.protocol, Metadata: vm.Subscription}},
				rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
				sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				assignment:       vm.Assignment,
			}
			if mem.rebalanceTimeout <= 0 {
				mem.rebalanceTimeout = mem.sessionTimeout
			}
			mem.deadline = now.Add(mem.sessionTimeout)
			g.members[mem.id] = mem
			g.order = append(g.order, mem.id)
			if mem.instanceID != nil {
				g.static[*mem.instanceID] = mem.id
			}
		}
		if len(g.members) > 0 {
			g.state = Stable
			if g.members[g.leader] == nil {
				g.leader = g.order[0]
			}
			g.computeSubscribed()
		} else {
			g.leader = ""
		}
	}
	for id, offs := range l.offsets {
		if len(offs) == 0 {
			continue
		}
		g := get(id)
		for tp, o := range offs {
			g.offsets[tp] = o
		}
	}
	return out
}
