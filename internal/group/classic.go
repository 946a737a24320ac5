package group

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metrics"
)

// State is a classic group's state, named as Kafka names it.
type State int8

// Classic group states (Kafka's GroupState).
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	default:
		return "Dead"
	}
}

// Protocol is one assignment protocol a member supports.
type Protocol struct {
	Name     string
	Metadata []byte
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	protocolType     string
	protocols        []Protocol
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	assignment       []byte

	join     ReplyID   // waiting JoinGroup, 0 if none
	sync     ReplyID   // waiting SyncGroup, 0 if none
	deadline time.Time // session (or new-member join) expiry
	isNew    bool      // joined but not yet through a completed join
}

func (mem *member) metadataFor(protocol string) []byte {
	for _, p := range mem.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols are exactly the member's current ones.
func (mem *member) matches(protocols []Protocol) bool {
	return slices.EqualFunc(mem.protocols, protocols, func(a, b Protocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

type classicGroup struct {
	id           string
	partition    int32
	state        State
	stateTime    time.Time
	protocolType string
	protocol     string
	generation   int32
	leader       string

	members     map[string]*member
	order       []string             // member ids in join order
	static      map[string]string    // instance id -> member id
	pending     map[string]time.Time // member ids handed out (MEMBER_ID_REQUIRED) -> expiry
	pendingSync map[string]bool      // members yet to SyncGroup this generation

	// Rebalance timers. joinDeadline ends PreparingRebalance; while
	// initialDelay is set it is Kafka's InitialDelayedJoin, which is only
	// extended (never completed early) while new members keep arriving.
	joinDeadline   time.Time
	initialDelay   bool
	newMemberAdded bool
	delay          time.Duration
	remaining      time.Duration
	syncDeadline   time.Time

	// subscribed is the union of the consumer members' topics; nil when
	// unknown (not the consumer protocol, or undecodable metadata).
	subscribed map[string]bool

	offsets map[TopicPartition]Offset
}

func newGroup(id string, partition int32, now time.Time) *classicGroup {
	return &classicGroup{
		id: id, partition: partition, state: Empty, stateTime: now,
		members: map[string]*member{}, static: map[string]string{},
		pending: map[string]time.Time{}, pendingSync: map[string]bool{},
		offsets: map[TopicPartition]Offset{},
	}
}

func (g *classicGroup) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, mem := range g.members {
		d = max(d, mem.rebalanceTimeout)
	}
	return d
}

func (g *classicGroup) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, mem := range g.members {
		if mem.join == 0 {
			return false
		}
	}
	return true
}

// supportsProtocols is Kafka's GroupMetadata.supportsProtocols.
func (g *classicGroup) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		n := 0
		for _, mem := range g.members {
			if slices.ContainsFunc(mem.protocols, func(q Protocol) bool { return q.Name == p.Name }) {
				n++
			}
		}
		if n == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most members
// prefer; ties go to the earliest in the first member's list.
func (g *classicGroup) selectProtocol() string {
	if len(g.order) == 0 {
		return ""
	}
	var candidates []string
	for _, p := range g.members[g.order[0]].protocols {
		all := true
		for _, mem := range g.members {
			if !slices.ContainsFunc(mem.protocols, func(q Protocol) bool { return q.Name == p.Name }) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// computeSubscribed decodes the consumer protocol's member metadata.
func (g *classicGroup) computeSubscribed() {
	g.subscribed = nil
	if g.protocolType != "consumer" {
		return
	}
	subs := map[string]bool{}
	for _, mem := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(mem.metadataFor(g.protocol)); err != nil {
			return
		}
		for _, t := range md.Topics {
			subs[t] = true
		}
	}
	g.subscribed = subs
}

func (g *classicGroup) isSubscribed(topic string) bool {
	if g.subscribed == nil {
		return len(g.members) > 0
	}
	return g.subscribed[topic]
}

func (g *classicGroup) add(mem *member) {
	if len(g.members) == 0 {
		g.protocolType = mem.protocolType
	}
	if g.leader == "" {
		g.leader = mem.id
	}
	g.members[mem.id] = mem
	g.order = append(g.order, mem.id)
	if mem.instanceID != nil {
		g.static[*mem.instanceID] = mem.id
	}
}

// validateMember is Kafka's validateCurrentMember.
func (g *classicGroup) validateMember(memberID string, instanceID *string) error {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		if !ok {
			return ErrUnknownMember
		}
		if cur != memberID {
			return ErrFencedInstance
		}
	}
	if g.members[memberID] == nil {
		return ErrUnknownMember
	}
	return nil
}

func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return clientID + "-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// JoinRequest is a JoinGroup, decoded.
type JoinRequest struct {
	Group            string
	MemberID         string
	InstanceID       *string
	ClientID         string
	ClientHost       string
	ProtocolType     string
	Protocols        []Protocol
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// RequireKnownMemberID is set for JoinGroup v4+: a new dynamic member
	// gets MEMBER_ID_REQUIRED with its id and must join again with it.
	RequireKnownMemberID bool
}

// JoinMember is one member as the leader sees it.
type JoinMember struct {
	ID         string
	InstanceID *string
	Metadata   []byte
}

// JoinResult answers a JoinGroup. On error, MemberID is still meaningful
// for ErrMemberIDRequired and Generation is -1.
type JoinResult struct {
	Err          error
	MemberID     string
	Generation   int32
	ProtocolType string
	Protocol     string
	Leader       string
	Members      []JoinMember
}

func joinError(memberID string, err error) *JoinResult {
	return &JoinResult{Err: err, MemberID: memberID, Generation: -1}
}

// currentJoin is the current generation's answer for mem.
func (g *classicGroup) currentJoin(mem *member, withMembers bool, leader string) *JoinResult {
	r := &JoinResult{MemberID: mem.id, Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: leader}
	if withMembers {
		for _, id := range g.order {
			o := g.members[id]
			r.Members = append(r.Members, JoinMember{ID: id, InstanceID: o.instanceID, Metadata: o.metadataFor(g.protocol)})
		}
	}
	return r
}

// Join handles a JoinGroup; the answer is a Reply to to, now or when the
// rebalance completes.
func (m *Machine) Join(now time.Time, to ReplyID, req JoinRequest) {
	if req.Group == "" {
		m.reply(to, joinError(req.MemberID, ErrInvalidGroupID))
		return
	}
	if err := m.check(req.Group); err != nil {
		m.reply(to, joinError(req.MemberID, err))
		return
	}
	if req.SessionTimeout < m.cfg.MinSessionTimeout || req.SessionTimeout > m.cfg.MaxSessionTimeout {
		m.reply(to, joinError(req.MemberID, ErrInvalidSessionTimeout))
		return
	}
	if cg := m.consumers[req.Group]; cg != nil {
		if len(cg.members) > 0 {
			// Classic members cannot join a consumer group here (Kafka's
			// online migration is not implemented).
			m.reply(to, joinError(req.MemberID, ErrInconsistentProtocol))
			return
		}
		// An empty consumer group becomes a classic group, keeping its
		// offsets.
		g := newGroup(req.Group, cg.partition, now)
		g.offsets = cg.offsets
		delete(m.consumers, req.Group)
		m.groups[req.Group] = g
		m.write(g.partition, []Record{{Key: consumerGroupKey(req.Group)}}, func(time.Time, error) {})
	}
	g := m.groups[req.Group]
	created := false
	if g == nil {
		if req.MemberID != "" {
			m.reply(to, joinError(req.MemberID, ErrUnknownMember))
			return
		}
		g = newGroup(req.Group, m.PartitionFor(req.Group), now)
		m.groups[req.Group] = g
		created = true
	}
	if !m.acceptJoining(g, req.MemberID) {
		if _, ok := g.pending[req.MemberID]; ok {
			delete(g.pending, req.MemberID)
			m.maybeCompleteJoin(now, g)
		}
		m.reply(to, joinError("", ErrGroupMaxSize))
		return
	}
	if req.MemberID == "" {
		m.joinNew(now, to, g, req)
	} else {
		m.joinKnown(now, to, g, req)
	}
	if created && g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 {
		delete(m.groups, g.id)
	}
}

// acceptJoining is Kafka's group.max.size check.
func (m *Machine) acceptJoining(g *classicGroup, memberID string) bool {
	max := int(m.cfg.MaxSize)
	switch g.state {
	case Empty, Dead:
		return true
	case PreparingRebalance:
		if mem := g.members[memberID]; mem != nil && mem.join != 0 {
			return true
		}
		n := 0
		for _, mem := range g.members {
			if mem.join != 0 {
				n++
			}
		}
		return n < max
	default:
		return g.members[memberID] != nil || len(g.members) < max
	}
}

func (m *Machine) joinNew(now time.Time, to ReplyID, g *classicGroup, req JoinRequest) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		m.reply(to, joinError("", ErrInconsistentProtocol))
		return
	}
	id := newMemberID(req.ClientID)
	switch {
	case req.InstanceID != nil:
		if old, ok := g.static[*req.InstanceID]; ok && g.members[old] != nil {
			m.replaceStatic(now, to, g, old, id, req)
			return
		}
		m.addMemberAndRebalance(now, to, g, id, req)
	case req.RequireKnownMemberID:
		g.pending[id] = now.Add(req.SessionTimeout)
		m.reply(to, joinError(id, ErrMemberIDRequired))
	default:
		m.addMemberAndRebalance(now, to, g, id, req)
	}
}

func (m *Machine) joinKnown(now time.Time, to ReplyID, g *classicGroup, req JoinRequest) {
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		m.addMemberAndRebalance(now, to, g, req.MemberID, req)
		return
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		m.reply(to, joinError(req.MemberID, err))
		return
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		m.reply(to, joinError(req.MemberID, ErrInconsistentProtocol))
		return
	}
	mem := g.members[req.MemberID]
	switch g.state {
	case PreparingRebalance:
		m.updateMemberAndRebalance(now, to, g, mem, req)
	case CompletingRebalance:
		if mem.matches(req.Protocols) {
			// A retry of a join whose answer was lost: answer again.
			m.reply(to, g.currentJoin(mem, g.leader == mem.id, g.leader))
			return
		}
		m.updateMemberAndRebalance(now, to, g, mem, req)
	case Stable:
		if g.leader == mem.id || !mem.matches(req.Protocols) {
			// A leader's JoinGroup forces a rebalance (it may have seen a
			// metadata change the others have not).
			m.updateMemberAndRebalance(now, to, g, mem, req)
			return
		}
		m.reply(to, g.currentJoin(mem, false, g.leader))
	default:
		m.reply(to, joinError(req.MemberID, ErrUnknownMember))
	}
}

func (m *Machine) addMemberAndRebalance(now time.Time, to ReplyID, g *classicGroup, id string, req JoinRequest) {
	mem := &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		protocolType: req.ProtocolType, protocols: req.Protocols,
		rebalanceTimeout: req.RebalanceTimeout, sessionTimeout: req.SessionTimeout,
		join: to, isNew: true,
		// A new member cannot heartbeat before its join completes.
		deadline: now.Add(newMemberJoinTimeout),
	}
	if g.state == PreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(mem)
	m.maybePrepareRebalance(now, g)
	m.maybeCompleteJoin(now, g)
}

func (m *Machine) updateMember(g *classicGroup, mem *member, to ReplyID, req JoinRequest) {
	mem.protocols = req.Protocols
	mem.rebalanceTimeout, mem.sessionTimeout = req.RebalanceTimeout, req.SessionTimeout
	mem.clientID, mem.clientHost = req.ClientID, req.ClientHost
	if mem.join != 0 && mem.join != to {
		// The earlier JoinGroup was given up by its client.
		m.reply(mem.join, joinError(mem.id, ErrRebalanceInProgress))
	}
	mem.join = to
}

func (m *Machine) updateMemberAndRebalance(now time.Time, to ReplyID, g *classicGroup, mem *member, req JoinRequest) {
	m.updateMember(g, mem, to, req)
	m.maybePrepareRebalance(now, g)
	m.maybeCompleteJoin(now, g)
}

// replaceStatic gives a known static member (instance id) a new member id:
// the old id is fenced.
func (m *Machine) replaceStatic(now time.Time, to ReplyID, g *classicGroup, oldID, newID string, req JoinRequest) {
	oldLeader := g.leader
	mem := g.members[oldID]
	if mem.join != 0 {
		m.reply(mem.join, joinError(oldID, ErrFencedInstance))
		mem.join = 0
	}
	if mem.sync != 0 {
		m.reply(mem.sync, &SyncResult{Err: ErrFencedInstance})
		mem.sync = 0
	}
	delete(g.members, oldID)
	mem.id = newID
	g.members[newID] = mem
	g.order[slices.Index(g.order, oldID)] = newID
	g.static[*req.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	mem.deadline = now.Add(req.SessionTimeout)
	m.updateMember(g, mem, to, req)

	switch g.state {
	case Stable:
		if g.selectProtocol() != g.protocol {
			m.maybePrepareRebalance(now, g)
			return
		}
		// Same protocol: keep the assignment and persist the new member
		// id. The answer names the old leader id so that a replaced leader
		// does not run a trivial assignment a Stable group would not
		// broadcast.
		mem.join = 0
		gen := g.generation
		m.storeGroup(g, func(_ time.Time, err error) {
			if err != nil {
				m.reply(to, joinError(newID, ErrCoordinatorNotAvailable))
				return
			}
			r := g.currentJoin(mem, false, oldLeader)
			r.Generation = gen
			m.reply(to, r)
		})
	case CompletingRebalance:
		// The leader may already hold the old member id; rebalance so the
		// new id gets an assignment.
		m.prepareRebalance(now, g)
	case PreparingRebalance:
		m.maybeCompleteJoin(now, g)
	}
}

func (g *classicGroup) canRebalance() bool {
	return g.state == Stable || g.state == CompletingRebalance || g.state == Empty
}

func (m *Machine) maybePrepareRebalance(now time.Time, g *classicGroup) {
	if g.canRebalance() {
		m.prepareRebalance(now, g)
	}
}

func (m *Machine) prepareRebalance(now time.Time, g *classicGroup) {
	if g.state == CompletingRebalance {
		m.resetAssignment(g, ErrRebalanceInProgress)
	}
	g.syncDeadline = time.Time{}
	if g.state == Empty {
		g.initialDelay = true
		g.newMemberAdded = false
		g.delay = m.cfg.InitialRebalanceDelay
		g.remaining = max(g.rebalanceTimeout()-m.cfg.InitialRebalanceDelay, 0)
		g.joinDeadline = now.Add(g.delay)
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(g.rebalanceTimeout())
	}
	g.state, g.stateTime = PreparingRebalance, now
}

// maybeCompleteJoin completes a rebalance early once every member has
// joined (not during the initial delay, which only ever extends).
func (m *Machine) maybeCompleteJoin(now time.Time, g *classicGroup) {
	if g.state == PreparingRebalance && !g.initialDelay && g.allJoined() {
		m.completeJoin(now, g)
	}
}

func (m *Machine) joinTimerFired(now time.Time, g *classicGroup) {
	g.joinDeadline = time.Time{}
	if g.state != PreparingRebalance {
		return
	}
	if g.initialDelay && g.newMemberAdded && g.remaining > 0 {
		g.newMemberAdded = false
		d := min(m.cfg.InitialRebalanceDelay, g.remaining)
		g.remaining = max(g.remaining-g.delay, 0)
		g.delay = d
		g.joinDeadline = now.Add(d)
		return
	}
	m.completeJoin(now, g)
}

// completeJoin is Kafka's onCompleteJoin.
func (m *Machine) completeJoin(now time.Time, g *classicGroup) {
	g.initialDelay = false
	g.joinDeadline = time.Time{}
	for _, id := range append([]string(nil), g.order...) {
		if mem := g.members[id]; mem.join == 0 && mem.instanceID == nil {
			m.removeMember(g, mem)
		}
	}
	if !m.electJoinedLeader(g) && len(g.members) > 0 {
		// Nobody rejoined (only static members left): wait another round
		// for their sessions to run out.
		g.joinDeadline = now.Add(g.rebalanceTimeout())
		return
	}
	g.generation++
	metrics.Rebalances.WithLabelValues("classic").Inc()
	g.stateTime = now
	clear(g.pendingSync)
	if len(g.members) == 0 {
		g.protocol = ""
		g.state = Empty
		g.subscribed = nil
		m.storeGroup(g, nil)
		return
	}
	g.protocol = g.selectProtocol()
	g.computeSubscribed()
	g.state = CompletingRebalance
	for _, id := range g.order {
		mem := g.members[id]
		m.reply(mem.join, g.currentJoin(mem, id == g.leader, g.leader))
		mem.join = 0
		mem.isNew = false
		mem.deadline = now.Add(mem.sessionTimeout)
		g.pendingSync[id] = true
	}
	g.syncDeadline = now.Add(g.rebalanceTimeout())
}

func (m *Machine) electJoinedLeader(g *classicGroup) bool {
	if g.leader == "" {
		return false
	}
	if g.members[g.leader].join != 0 {
		return true
	}
	for _, id := range g.order {
		if g.members[id].join != 0 {
			g.leader = id
			return true
		}
	}
	return false
}

// removeMember drops mem from g; a waiting JoinGroup gets UNKNOWN_MEMBER_ID
// so a live client rejoins.
func (m *Machine) removeMember(g *classicGroup, mem *member) {
	if mem.join != 0 {
		m.reply(mem.join, joinError(mem.id, ErrUnknownMember))
		mem.join = 0
	}
	if mem.sync != 0 {
		m.reply(mem.sync, &SyncResult{Err: ErrUnknownMember})
		mem.sync = 0
	}
	delete(g.members, mem.id)
	g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == mem.id })
	if mem.instanceID != nil && g.static[*mem.instanceID] == mem.id {
		delete(g.static, *mem.instanceID)
	}
	delete(g.pendingSync, mem.id)
	if g.leader == mem.id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// removeMemberAndUpdate is Kafka's removeMemberAndUpdateGroup.
func (m *Machine) removeMemberAndUpdate(now time.Time, g *classicGroup, mem *member) {
	m.removeMember(g, mem)
	switch g.state {
	case Stable, CompletingRebalance:
		m.maybePrepareRebalance(now, g)
		m.maybeCompleteJoin(now, g)
	case PreparingRebalance:
		m.maybeCompleteJoin(now, g)
	}
}

func (m *Machine) removePending(now time.Time, g *classicGroup, id string) {
	delete(g.pending, id)
	m.maybeCompleteJoin(now, g)
}

// expirePendingSync removes members that did not SyncGroup within the
// rebalance timeout after the join completed, and rebalances.
func (m *Machine) expirePendingSync(now time.Time, g *classicGroup) {
	g.syncDeadline = time.Time{}
	if (g.state != CompletingRebalance && g.state != Stable) || len(g.pendingSync) == 0 {
		return
	}
	for _, id := range sortedKeys(g.pendingSync) {
		if mem := g.members[id]; mem != nil {
			m.removeMember(g, mem)
		}
	}
	clear(g.pendingSync)
	m.prepareRebalance(now, g)
	m.maybeCompleteJoin(now, g)
}

// resetAssignment answers every waiting SyncGroup with err and clears the
// assignments.
func (m *Machine) resetAssignment(g *classicGroup, err error) {
	for _, id := range g.order {
		mem := g.members[id]
		if mem.sync != 0 {
			m.reply(mem.sync, &SyncResult{Err: err})
			mem.sync = 0
		}
		mem.assignment = nil
	}
}

// storeGroup writes g's metadata record; done (may be nil) runs when the
// write completes.
func (m *Machine) storeGroup(g *classicGroup, done func(time.Time, error)) {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, id := range g.order {
		mem := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = id, mem.instanceID, mem.clientID, mem.clientHost
		vm.RebalanceTimeoutMillis = int32(mem.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(mem.sessionTimeout / time.Millisecond)
		vm.Subscription = mem.metadataFor(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		vm.Assignment = mem.assignment
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	if done == nil {
		done = func(time.Time, error) {}
	}
	m.write(g.partition, []Record{{Key: groupKey(g.id), Value: v.AppendTo(nil)}}, done)
}

// SyncRequest is a SyncGroup, decoded. Assignments is set by the leader.
type SyncRequest struct {
	Group        string
	Generation   int32
	MemberID     string
	InstanceID   *string
	ProtocolType *string
	Protocol     *string
	Assignments  map[string][]byte
}

// SyncResult answers a SyncGroup.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// Sync handles a SyncGroup; the answer is a Reply to to.
func (m *Machine) Sync(now time.Time, to ReplyID, req SyncRequest) {
	if req.Group == "" {
		m.reply(to, &SyncResult{Err: ErrInvalidGroupID})
		return
	}
	if err := m.check(req.Group); err != nil {
		if err == ErrLoading {
			// The rebalance state is gone with the old coordinator: make
			// the member rejoin (older clients do not know LOAD_IN_PROGRESS
			// on SyncGroup).
			err = ErrRebalanceInProgress
		}
		m.reply(to, &SyncResult{Err: err})
		return
	}
	g := m.groups[req.Group]
	if g == nil {
		m.reply(to, &SyncResult{Err: ErrUnknownMember})
		return
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		m.reply(to, &SyncResult{Err: err})
		return
	}
	switch {
	case req.Generation != g.generation:
		m.reply(to, &SyncResult{Err: ErrIllegalGeneration})
		return
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		m.reply(to, &SyncResult{Err: ErrInconsistentProtocol})
		return
	}
	mem := g.members[req.MemberID]
	switch g.state {
	case Empty:
		m.reply(to, &SyncResult{Err: ErrUnknownMember})
	case PreparingRebalance:
		m.reply(to, &SyncResult{Err: ErrRebalanceInProgress})
	case Stable:
		delete(g.pendingSync, mem.id)
		mem.deadline = now.Add(mem.sessionTimeout)
		m.reply(to, &SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: mem.assignment})
	case CompletingRebalance:
		if mem.sync != 0 {
			m.reply(mem.sync, &SyncResult{Err: ErrRebalanceInProgress})
		}
		mem.sync = to
		delete(g.pendingSync, mem.id)
		if g.leader != mem.id {
			return
		}
		assignment := map[string][]byte{}
		for _, id := range g.order {
			assignment[id] = req.Assignments[id]
			if assignment[id] == nil {
				assignment[id] = []byte{}
			}
		}
		for _, id := range g.order {
			g.members[id].assignment = assignment[id]
		}
		gen := g.generation
		m.storeGroup(g, func(now time.Time, err error) {
			if m.groups[g.id] != g || g.state != CompletingRebalance || g.generation != gen {
				return
			}
			if err != nil {
				m.resetAssignment(g, ErrCoordinatorNotAvailable)
				m.maybePrepareRebalance(now, g)
				m.maybeCompleteJoin(now, g)
				return
			}
			for _, id := range g.order {
				mem := g.members[id]
				mem.assignment = assignment[id]
				if mem.sync != 0 {
					m.reply(mem.sync, &SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: mem.assignment})
					mem.sync = 0
					mem.deadline = now.Add(mem.sessionTimeout)
				}
			}
			g.state, g.stateTime = Stable, now
		})
	}
}

// HeartbeatRequest is a Heartbeat, decoded.
type HeartbeatRequest struct {
	Group      string
	Generation int32
	MemberID   string
	InstanceID *string
}

// Heartbeat handles a Heartbeat and answers at once.
func (m *Machine) Heartbeat(now time.Time, req HeartbeatRequest) error {
	if req.Group == "" {
		return ErrInvalidGroupID
	}
	if err := m.check(req.Group); err != nil {
		if err == ErrLoading {
			return nil // Kafka answers blindly while loading
		}
		return err
	}
	g := m.groups[req.Group]
	if g == nil {
		return ErrUnknownMember
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return err
	}
	if req.Generation != g.generation {
		return ErrIllegalGeneration
	}
	mem := g.members[req.MemberID]
	switch g.state {
	case Empty:
		return ErrUnknownMember
	case PreparingRebalance:
		mem.deadline = now.Add(mem.sessionTimeout)
		return ErrRebalanceInProgress
	default:
		mem.deadline = now.Add(mem.sessionTimeout)
		return nil
	}
}

// LeaveMember is one member leaving; MemberID empty means the static
// member with InstanceID, whatever its current member id.
type LeaveMember struct {
	MemberID   string
	InstanceID *string
}

// Leave handles a LeaveGroup: one error per member, or a group-level
// error.
func (m *Machine) Leave(now time.Time, groupID string, members []LeaveMember) ([]error, error) {
	if groupID == "" {
		return nil, ErrInvalidGroupID
	}
	if err := m.check(groupID); err != nil {
		return nil, err
	}
	errs := make([]error, len(members))
	g := m.groups[groupID]
	if g == nil {
		for i := range errs {
			errs[i] = ErrUnknownMember
		}
		return errs, nil
	}
	for i, lm := range members {
		switch {
		case lm.MemberID == "":
			if lm.InstanceID == nil {
				errs[i] = ErrUnknownMember
				continue
			}
			id, ok := g.static[*lm.InstanceID]
			if !ok || g.members[id] == nil {
				errs[i] = ErrUnknownMember
				continue
			}
			m.removeMemberAndUpdate(now, g, g.members[id])
		default:
			if _, ok := g.pending[lm.MemberID]; ok {
				m.removePending(now, g, lm.MemberID)
				continue
			}
			if err := g.validateMember(lm.MemberID, lm.InstanceID); err != nil {
				errs[i] = err
				continue
			}
			m.removeMemberAndUpdate(now, g, g.members[lm.MemberID])
		}
	}
	return errs, nil
}
