package group

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/strom-broker/strom/internal/config"
)

// Config holds the coordinator settings (Kafka's group.* and offsets.*
// broker configs).
type Config struct {
	Partitions            int32         // offsets.topic.num.partitions
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	MaxSize               int32         // group.max.size
	OffsetsRetention      time.Duration // offsets.retention.minutes
	RetentionCheck        time.Duration // offsets.retention.check.interval.ms
	MaxMetadataBytes      int           // offset.metadata.max.bytes

	// KIP-848 consumer groups (group.consumer.*).
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerMaxSize           int32         // group.consumer.max.size
	ConsumerDefaultAssignor   string        // first of group.consumer.assignors
}

// DefaultConfig is Kafka's defaults, from config.Default.
func DefaultConfig() Config { return ConfigFrom(config.Default()) }

// ConfigFrom takes the coordinator settings from a node's config. Partitions
// is offsets.topic.num.partitions; once __consumer_offsets exists, its
// partition count is what counts.
func ConfigFrom(c config.Config) Config {
	return Config{
		Partitions:            c.OffsetsTopicPartitions,
		InitialRebalanceDelay: c.GroupInitialRebalanceDelay,
		MinSessionTimeout:     c.GroupMinSessionTimeout,
		MaxSessionTimeout:     c.GroupMaxSessionTimeout,
		MaxSize:               c.GroupMaxSize,
		OffsetsRetention:      c.OffsetsRetention,
		RetentionCheck:        c.OffsetsRetentionCheckInterval,
		MaxMetadataBytes:      c.OffsetMetadataMaxBytes,

		ConsumerHeartbeatInterval: c.ConsumerGroupHeartbeatInterval,
		ConsumerSessionTimeout:    c.ConsumerGroupSessionTimeout,
		ConsumerMaxSize:           c.ConsumerGroupMaxSize,
		ConsumerDefaultAssignor:   c.ConsumerGroupAssignor,
	}
}

// newMemberJoinTimeout bounds how long a new member's JoinGroup may wait in
// a rebalance (Kafka's GroupCoordinator.NewMemberJoinTimeoutMs): such a
// member cannot heartbeat yet, and a client that gave up would otherwise
// linger as a defunct member.
const newMemberJoinTimeout = 5 * time.Minute

// ReplyID names a request waiting for an answer the Machine gives later.
// The driver allocates them; zero means "nobody waiting".
type ReplyID uint64

// Reply is an answer to a waiting request: *JoinResult, *SyncResult,
// *CommitResult or *DeleteResult.
type Reply struct {
	To    ReplyID
	Value any
}

// Write is a batch of records to append to one __consumer_offsets
// partition. When it is durable (or has failed) the driver calls
// Machine.WriteDone with Token.
type Write struct {
	Partition int32
	Records   []Record
	Token     uint64
	// Txn, when set, makes the batch a transactional producer's (a
	// TxnOffsetCommit) or its COMMIT/ABORT marker.
	Txn *TxnWrite
}

// Effects are what the driver must do after a Machine call.
type Effects struct {
	Replies []Reply
	Writes  []Write
}

// partitionState is the load state of one owned __consumer_offsets partition.
type partitionState int8

const (
	partLoading partitionState = iota + 1
	partActive
)

// Machine is the pure coordinator state: every group of the partitions
// this node coordinates. See the package comment.
type Machine struct {
	cfg    Config
	owned  map[int32]partitionState
	groups map[string]*classicGroup
	// consumers are the KIP-848 groups; a group id is in groups or in
	// consumers, never both.
	consumers map[string]*consumerGroup
	topics    map[string]TopicMeta // from the latest metadata image
	pending   map[uint64]func(now time.Time, err error)
	token     uint64
	out       Effects
	txn       txnState // transactional commits (txn_offsets.go)

	nextRetention time.Time
}

// NewMachine returns a Machine that owns no partitions yet.
func NewMachine(cfg Config) *Machine {
	return &Machine{
		cfg:       cfg,
		owned:     map[int32]partitionState{},
		groups:    map[string]*classicGroup{},
		consumers: map[string]*consumerGroup{},
		topics:    map[string]TopicMeta{},
		pending:   map[uint64]func(time.Time, error){},
	}
}

// Config returns the Machine's settings.
func (m *Machine) Config() Config { return m.cfg }

// Take returns the effects collected since the last call and clears them.
func (m *Machine) Take() Effects {
	e := m.out
	m.out = Effects{}
	return e
}

func (m *Machine) reply(to ReplyID, v any) {
	if to != 0 {
		m.out.Replies = append(m.out.Replies, Reply{To: to, Value: v})
	}
}

// write queues records for partition p and registers done to run when the
// write completes.
func (m *Machine) write(p int32, recs []Record, done func(now time.Time, err error)) {
	m.token++
	m.pending[m.token] = done
	m.out.Writes = append(m.out.Writes, Write{Partition: p, Records: recs, Token: m.token})
}

// WriteDone reports the outcome of the write with token: nil once the
// records are durable.
func (m *Machine) WriteDone(now time.Time, token uint64, err error) {
	done, ok := m.pending[token]
	if !ok {
		return
	}
	delete(m.pending, token)
	done(now, err)
}

// PartitionFor is the __consumer_offsets partition of a group.
func (m *Machine) PartitionFor(groupID string) int32 { return PartitionFor(groupID, m.cfg.Partitions) }

// check answers whether this node may serve groupID now.
func (m *Machine) check(groupID string) error {
	switch m.owned[m.PartitionFor(groupID)] {
	case partActive:
		return nil
	case partLoading:
		return ErrLoading
	default:
		return ErrNotCoordinator
	}
}

// BeginLoad marks partition p as owned and loading: its groups are
// answered with ErrLoading until CompleteLoad.
func (m *Machine) BeginLoad(p int32) { m.owned[p] = partLoading }

// Owns reports whether p is owned (loading or loaded).
func (m *Machine) Owns(p int32) bool { return m.owned[p] != 0 }

// CompleteLoad installs the groups replayed from partition p's log. A
// consumer group whose records do not decode is left out and reported in
// the error; the others are installed.
func (m *Machine) CompleteLoad(now time.Time, p int32, l *Loader) error {
	if m.owned[p] != partLoading {
		return nil // unloaded meanwhile
	}
	consumers, err := l.buildConsumers(now, m.cfg)
	for id, cg := range consumers {
		if len(cg.members) > 0 {
			cg.subscribed = m.subscribedTopics(cg)
			cg.assignor = m.pickAssignor(cg)
		}
		m.consumers[id] = cg
	}
	for id, g := range l.build(now, m.cfg) {
		m.groups[id] = g
	}
	m.installTxnPending(l.pendingByGroup())
	m.owned[p] = partActive
	if m.nextRetention.IsZero() {
		m.nextRetention = now.Add(m.cfg.RetentionCheck)
	}
	return err
}

// Unload drops partition p (its leadership moved): waiting requests of its
// groups are answered with ErrNotCoordinator.
func (m *Machine) Unload(p int32) {
	delete(m.owned, p)
	m.dropTxnPartition(p)
	m.unloadConsumers(p)
	for id, g := range m.groups {
		if g.partition != p {
			continue
		}
		for _, mem := range g.members {
			if mem.join != 0 {
				m.reply(mem.join, &JoinResult{Err: ErrNotCoordinator, MemberID: mem.id, Generation: -1})
			}
			if mem.sync != 0 {
				m.reply(mem.sync, &SyncResult{Err: ErrNotCoordinator})
			}
		}
		g.state = Dead
		delete(m.groups, id)
	}
}

// NextDeadline is the earliest time Tick has work to do; zero when none.
func (m *Machine) NextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, g := range m.groups {
		consider(g.joinDeadline)
		consider(g.syncDeadline)
		for _, d := range g.pending {
			consider(d)
		}
		for _, mem := range g.members {
			consider(mem.deadline)
		}
	}
	m.consumerDeadline(consider)
	consider(m.nextRetention)
	return next
}

// Tick runs every timer due at now: rebalance and initial-delay timeouts,
// pending-sync timeouts, session expiries and offset retention.
func (m *Machine) Tick(now time.Time) {
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	ids := make([]string, 0, len(m.groups))
	for id := range m.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := m.groups[id]
		if g == nil {
			continue
		}
		for _, pid := range sortedKeys(g.pending) {
			if due(g.pending[pid]) {
				m.removePending(now, g, pid)
			}
		}
		for _, mid := range append([]string(nil), g.order...) {
			mem := g.members[mid]
			if mem == nil || !due(mem.deadline) {
				continue
			}
			if !mem.isNew && (mem.join != 0 || mem.sync != 0) {
				// Members awaiting a rebalance satisfy heartbeats.
				mem.deadline = now.Add(mem.sessionTimeout)
				continue
			}
			m.removeMemberAndUpdate(now, g, mem)
		}
		if due(g.syncDeadline) {
			m.expirePendingSync(now, g)
		}
		if due(g.joinDeadline) {
			m.joinTimerFired(now, g)
		}
	}
	m.tickConsumers(now)
	if due(m.nextRetention) {
		m.expireOffsets(now)
		m.nextRetention = now.Add(m.cfg.RetentionCheck)
	}
}

func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// GroupListing is one ListGroups entry.
type GroupListing struct {
	ID, ProtocolType, State, Type string
}

// ListGroups lists the groups of loaded partitions, filtered by state and
// type names (case-insensitive; empty filters match all). The error is
// ErrLoading when some owned partition is still loading; the list then
// holds what is known.
func (m *Machine) ListGroups(states, types []string) ([]GroupListing, error) {
	var err error
	for _, s := range m.owned {
		if s == partLoading {
			err = ErrLoading
		}
	}
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	var out []GroupListing
	for _, id := range sortedKeys(m.groups) {
		g := m.groups[id]
		l := GroupListing{ID: id, ProtocolType: g.protocolType, State: g.state.String(), Type: "classic"}
		if match(states, l.State) && match(types, l.Type) {
			out = append(out, l)
		}
	}
	for _, id := range sortedKeys(m.consumers) {
		l := GroupListing{ID: id, ProtocolType: "consumer", State: m.consumers[id].State(), Type: "consumer"}
		if match(states, l.State) && match(types, l.Type) {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b GroupListing) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

// MemberDescription is one member in DescribeGroups.
type MemberDescription struct {
	ID         string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// GroupDescription is one DescribeGroups entry.
type GroupDescription struct {
	ID, State, ProtocolType, Protocol string
	Members                           []MemberDescription
}

// DescribeGroup describes a group as Kafka's GroupMetadata.summary does:
// member metadata and assignments only when Stable. An unknown group is
// described as Dead.
func (m *Machine) DescribeGroup(groupID string) (GroupDescription, error) {
	if err := m.check(groupID); err != nil {
		return GroupDescription{ID: groupID}, err
	}
	g := m.groups[groupID]
	if g == nil {
		// A consumer group is not a classic group: Kafka describes it as
		// Dead (GROUP_ID_NOT_FOUND from DescribeGroups v6).
		return GroupDescription{ID: groupID, State: Dead.String()}, nil
	}
	d := GroupDescription{ID: groupID, State: g.state.String(), ProtocolType: g.protocolType}
	stable := g.state == Stable
	if stable {
		d.Protocol = g.protocol
	}
	for _, id := range g.order {
		mem := g.members[id]
		md := MemberDescription{ID: id, InstanceID: mem.instanceID, ClientID: mem.clientID, ClientHost: mem.clientHost}
		if stable {
			md.Metadata = mem.metadataFor(g.protocol)
			md.Assignment = mem.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// DeleteResult answers a group deletion.
type DeleteResult struct{ Err error }

// DeleteGroup deletes an Empty group and its offsets (tombstones), and
// replies to to once the tombstones are durable.
func (m *Machine) DeleteGroup(now time.Time, to ReplyID, groupID string) {
	if err := m.check(groupID); err != nil {
		m.reply(to, &DeleteResult{Err: err})
		return
	}
	if cg := m.consumers[groupID]; cg != nil {
		m.consumerDeleteGroup(to, cg)
		return
	}
	g := m.groups[groupID]
	switch {
	case g == nil || g.state == Dead:
		m.reply(to, &DeleteResult{Err: ErrGroupNotFound})
		return
	case g.state != Empty:
		m.reply(to, &DeleteResult{Err: ErrNonEmptyGroup})
		return
	}
	recs := g.tombstones()
	for _, pid := range sortedKeys(g.pending) {
		delete(g.pending, pid)
	}
	g.state = Dead
	delete(m.groups, groupID)
	m.write(g.partition, recs, func(_ time.Time, err error) {
		if err != nil {
			err = ErrCoordinatorNotAvailable
		}
		m.reply(to, &DeleteResult{Err: err})
	})
}

// tombstones deletes every offset of g and its metadata.
func (g *classicGroup) tombstones() []Record {
	recs := make([]Record, 0, len(g.offsets)+1)
	for _, tp := range g.sortedOffsets() {
		recs = append(recs, Record{Key: offsetKey(g.id, tp)})
	}
	return append(recs, Record{Key: groupKey(g.id)})
}
