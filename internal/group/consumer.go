package group

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/metrics"
)

// KIP-848 consumer groups: the broker assigns partitions (a server-side
// assignor computes a target assignment per group epoch) and each member
// reconciles towards its target one heartbeat at a time. A partition is
// given to a member only once its previous owner has stopped reporting
// it, so no partition is ever owned twice. The shape follows Kafka's
// GroupMetadataManager.consumerGroupHeartbeat and CurrentAssignmentBuilder.
//
// Persistence is partial: the group epoch (ConsumerGroupMetadataKey/Value)
// and committed offsets are written to __consumer_offsets; members, target
// and current assignments are not. After a restart or a coordinator move a
// consumer group comes back Empty at its old epoch, and its members get
// UNKNOWN_MEMBER_ID and rejoin, as clients do after a session expiry.

// TopicID is a topic's UUID.
type TopicID [16]byte

// TopicMeta is what the assignors need of a topic.
type TopicMeta struct {
	Name       string
	ID         TopicID
	Partitions int32
}

// TopicIDPartition names a partition by topic id.
type TopicIDPartition struct {
	Topic     TopicID
	Partition int32
}

// TopicAssignment is a member's partitions of one topic.
type TopicAssignment struct {
	Topic      TopicID
	Partitions []int32
}

type partSet map[TopicIDPartition]struct{}

func (s partSet) has(p TopicIDPartition) bool { _, ok := s[p]; return ok }

func (s partSet) clone() partSet {
	out := make(partSet, len(s))
	for p := range s {
		out[p] = struct{}{}
	}
	return out
}

// list is s grouped by topic, sorted.
func (s partSet) list() []TopicAssignment {
	by := map[TopicID][]int32{}
	for p := range s {
		by[p.Topic] = append(by[p.Topic], p.Partition)
	}
	out := make([]TopicAssignment, 0, len(by))
	for t, ps := range by {
		slices.Sort(ps)
		out = append(out, TopicAssignment{Topic: t, Partitions: ps})
	}
	slices.SortFunc(out, func(a, b TopicAssignment) int { return strings.Compare(string(a.Topic[:]), string(b.Topic[:])) })
	return out
}

func partSetOf(ta []TopicAssignment) partSet {
	s := partSet{}
	for _, t := range ta {
		for _, p := range t.Partitions {
			s[TopicIDPartition{t.Topic, p}] = struct{}{}
		}
	}
	return s
}

// Member epochs with a meaning of their own.
const (
	EpochJoin        = 0
	EpochLeave       = -1
	EpochStaticLeave = -2
)

// memberState is Kafka's MemberState.
type memberState int8

const (
	memberStable     memberState = iota // at the target epoch, owns what it is given
	memberUnrevoked                     // must give up partitions before moving on
	memberUnreleased                    // waits for partitions others still own
)

func (s memberState) String() string {
	return [...]string{"STABLE", "UNREVOKED_PARTITIONS", "UNRELEASED_PARTITIONS"}[s]
}

type consumerMember struct {
	id                   string
	instanceID, rackID   *string
	clientID, clientHost string
	epoch, prevEpoch     int32
	state                memberState
	rebalanceTimeout     time.Duration
	topics               []string // sorted subscribed names
	regex                string   // "" when none
	re                   *regexp.Regexp
	assignor             string // requested server assignor, "" for the default
	assigned             partSet
	revoking             partSet // assigned before, to be given up

	sessionDeadline   time.Time
	rebalanceDeadline time.Time // set while memberUnrevoked
}

// subscribes reports whether mem subscribes topic.
func (mem *consumerMember) subscribes(topic string) bool {
	if _, ok := slices.BinarySearch(mem.topics, topic); ok {
		return true
	}
	// Every topic of the image may match, internal ones included, as in
	// Kafka (only an authorizer would filter them).
	return mem.re != nil && mem.re.MatchString(topic)
}

type consumerGroup struct {
	id              string
	partition       int32
	epoch           int32 // group epoch: bumps on membership, subscription or metadata change
	assignmentEpoch int32 // epoch of target
	members         map[string]*consumerMember
	static          map[string]string           // instance id -> member id
	target          map[string]partSet          // member id -> target partitions
	owners          map[TopicIDPartition]string // partition -> member holding it (assigned or revoking)
	assignor        string
	subscribed      map[string]TopicMeta // subscribed topics as last assigned
	stateTime       time.Time
	offsets         map[TopicPartition]Offset
}

func newConsumerGroup(id string, partition int32, now time.Time) *consumerGroup {
	return &consumerGroup{
		id: id, partition: partition, members: map[string]*consumerMember{}, static: map[string]string{},
		target: map[string]partSet{}, owners: map[TopicIDPartition]string{}, subscribed: map[string]TopicMeta{},
		stateTime: now, offsets: map[TopicPartition]Offset{},
	}
}

// State names the group's state as Kafka's ConsumerGroup.ConsumerGroupState.
func (cg *consumerGroup) State() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch != cg.assignmentEpoch:
		return "Assigning"
	}
	for _, mem := range cg.members {
		if mem.epoch != cg.assignmentEpoch || mem.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (cg *consumerGroup) isSubscribed(topic string) bool {
	for _, mem := range cg.members {
		if mem.subscribes(topic) {
			return true
		}
	}
	return false
}

func (cg *consumerGroup) sortedOffsets() []TopicPartition {
	tps := make([]TopicPartition, 0, len(cg.offsets))
	for tp := range cg.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return tps
}

// ConsumerHeartbeatRequest is a ConsumerGroupHeartbeat, decoded and
// validated by the handler. Nil fields are "unchanged".
type ConsumerHeartbeatRequest struct {
	Group            string
	MemberID         string
	MemberEpoch      int32
	InstanceID       *string
	RackID           *string
	RebalanceTimeout time.Duration // < 0: unchanged
	SubscribedTopics []string
	SubscribedRegex  *string
	ServerAssignor   *string
	Owned            []TopicAssignment // nil: unknown
	ClientID         string
	ClientHost       string
}

// ConsumerHeartbeatResult answers a ConsumerGroupHeartbeat. Assignment is
// nil when not sent.
type ConsumerHeartbeatResult struct {
	Err               error
	Message           string // Kafka's error message, if any
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	Assignment        []TopicAssignment
}

func cgErr(err error, format string, args ...any) *ConsumerHeartbeatResult {
	return &ConsumerHeartbeatResult{Err: err, Message: fmt.Sprintf(format, args...), MemberEpoch: 0}
}

// NewConsumerMemberID returns a random member id as Kafka makes them
// (Uuid.randomUuid().toString(): 22 URL-safe base64 characters).
func NewConsumerMemberID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validAssignor reports whether name is a server assignor we run.
func validAssignor(name string) bool { return name == AssignorUniform || name == AssignorRange }

// ConsumerHeartbeat handles a ConsumerGroupHeartbeat; the answer is a
// Reply (a *ConsumerHeartbeatResult) to to, once any records it wrote are
// durable.
func (m *Machine) ConsumerHeartbeat(now time.Time, to ReplyID, req ConsumerHeartbeatRequest) {
	res, recs, cg := m.consumerHeartbeat(now, req)
	if res.Err == nil && res.MemberEpoch >= 0 {
		res.HeartbeatInterval = m.cfg.ConsumerHeartbeatInterval // not on a leave, as in Kafka
	}
	if len(recs) == 0 {
		m.reply(to, res)
		return
	}
	m.write(cg.partition, recs, func(_ time.Time, err error) {
		if err != nil {
			res = &ConsumerHeartbeatResult{Err: ErrCoordinatorNotAvailable, HeartbeatInterval: res.HeartbeatInterval}
		}
		m.reply(to, res)
	})
}

func (m *Machine) consumerHeartbeat(now time.Time, req ConsumerHeartbeatRequest) (*ConsumerHeartbeatResult, []Record, *consumerGroup) {
	if err := m.check(req.Group); err != nil {
		return cgErr(err, ""), nil, nil
	}
	if req.ServerAssignor != nil && !validAssignor(*req.ServerAssignor) {
		return cgErr(ErrUnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: %s, %s.", *req.ServerAssignor, AssignorUniform, AssignorRange), nil, nil
	}
	var re *regexp.Regexp
	if req.SubscribedRegex != nil && *req.SubscribedRegex != "" {
		var err error
		if _, err = regexp.Compile(*req.SubscribedRegex); err == nil {
			// Kafka (RE2/J matches()) requires the whole topic name to
			// match, not a substring.
			re, err = regexp.Compile(`^(?:` + *req.SubscribedRegex + `)$`)
		}
		if err != nil {
			return cgErr(ErrInvalidRegex, "SubscribedTopicRegex `%s` is not a valid regular expression: %v.", *req.SubscribedRegex, err), nil, nil
		}
	}
	var recs []Record
	cg := m.consumers[req.Group]
	if cg == nil {
		if g := m.groups[req.Group]; g != nil {
			if g.state != Empty || len(g.members) > 0 || len(g.pending) > 0 {
				return cgErr(ErrGroupNotFound, "Group %s is not a consumer group.", req.Group), nil, nil
			}
			if req.MemberEpoch != EpochJoin {
				return cgErr(ErrGroupNotFound, "Consumer group %s not found.", req.Group), nil, nil
			}
			// An empty classic group becomes a consumer group, keeping
			// its offsets.
			cg = newConsumerGroup(req.Group, g.partition, now)
			cg.offsets = g.offsets
			delete(m.groups, req.Group)
			m.consumers[req.Group] = cg
			recs = append(recs, Record{Key: groupKey(req.Group)})
		} else {
			if req.MemberEpoch != EpochJoin {
				return cgErr(ErrGroupNotFound, "Consumer group %s not found.", req.Group), nil, nil
			}
			cg = newConsumerGroup(req.Group, m.PartitionFor(req.Group), now)
			m.consumers[req.Group] = cg
		}
	}
	res, more := m.consumerHeartbeatGroup(now, cg, req, re)
	recs = append(recs, more...)
	if res.Err != nil && len(cg.members) == 0 && cg.epoch == 0 && len(cg.offsets) == 0 {
		delete(m.consumers, cg.id) // created for nothing
	}
	return res, recs, cg
}

func (m *Machine) consumerHeartbeatGroup(now time.Time, cg *consumerGroup, req ConsumerHeartbeatRequest, re *regexp.Regexp) (*ConsumerHeartbeatResult, []Record) {
	if req.MemberEpoch == EpochLeave || req.MemberEpoch == EpochStaticLeave {
		return m.consumerLeave(now, cg, req)
	}
	mem, msg, err := m.resolveMember(now, cg, req)
	if err != nil {
		return cgErr(err, "%s", msg), nil
	}
	joining := req.MemberEpoch == EpochJoin
	full := req.RebalanceTimeout >= 0 && (req.SubscribedTopics != nil || req.SubscribedRegex != nil) && req.Owned != nil

	// Update what the member tells about itself.
	mem.clientID, mem.clientHost = req.ClientID, req.ClientHost
	if req.RackID != nil {
		mem.rackID = req.RackID
	}
	if req.RebalanceTimeout >= 0 {
		mem.rebalanceTimeout = req.RebalanceTimeout
	}
	changed := false
	if req.SubscribedTopics != nil {
		topics := slices.Clone(req.SubscribedTopics)
		slices.Sort(topics)
		topics = slices.Compact(topics)
		if !slices.Equal(topics, mem.topics) {
			mem.topics, changed = topics, true
		}
	}
	if req.SubscribedRegex != nil && *req.SubscribedRegex != mem.regex {
		mem.regex, mem.re, changed = *req.SubscribedRegex, re, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != mem.assignor {
		mem.assignor, changed = *req.ServerAssignor, true
	}
	if mem.epoch == EpochJoin && mem.assigned == nil {
		// A brand-new member.
		mem.assigned, mem.revoking = partSet{}, partSet{}
		changed = true
	}
	mem.sessionDeadline = now.Add(m.cfg.ConsumerSessionTimeout)

	var recs []Record
	if changed || m.metadataChanged(cg) {
		recs = append(recs, m.bumpEpoch(now, cg))
	}
	before := mem.assigned
	var owned partSet
	if req.Owned != nil {
		owned = partSetOf(req.Owned)
	}
	m.reconcile(now, cg, mem, owned)
	res := &ConsumerHeartbeatResult{MemberID: mem.id, MemberEpoch: mem.epoch}
	if joining || full || !samePartitions(before, mem.assigned) {
		res.Assignment = mem.assigned.list()
	}
	return res, recs
}

func samePartitions(a, b partSet) bool {
	if len(a) != len(b) {
		return false
	}
	for p := range a {
		if !b.has(p) {
			return false
		}
	}
	return true
}

// resolveMember finds or creates the member a heartbeat is for and checks
// its epoch: Kafka's getOrMaybeSubscribe{Dynamic,Static}ConsumerGroupMember
// and throwIfMemberEpochIsInvalid.
func (m *Machine) resolveMember(now time.Time, cg *consumerGroup, req ConsumerHeartbeatRequest) (*consumerMember, string, error) {
	joining := req.MemberEpoch == EpochJoin
	var mem *consumerMember
	if req.InstanceID == nil {
		mem = cg.members[req.MemberID]
		if mem == nil {
			if !joining {
				return nil, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, cg.id), ErrUnknownMember
			}
			if int32(len(cg.members)) >= m.cfg.ConsumerMaxSize {
				return nil, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", m.cfg.ConsumerMaxSize), ErrGroupMaxSize
			}
			mem = &consumerMember{id: req.MemberID}
			cg.members[mem.id] = mem
			return mem, "", nil
		}
	} else {
		inst := *req.InstanceID
		cur := cg.members[cg.static[inst]]
		switch {
		case joining && cur == nil:
			if mem = cg.members[req.MemberID]; mem == nil {
				if int32(len(cg.members)) >= m.cfg.ConsumerMaxSize {
					return nil, fmt.Sprintf("The consumer group has reached its maximum capacity of %d members.", m.cfg.ConsumerMaxSize), ErrGroupMaxSize
				}
				mem = &consumerMember{id: req.MemberID}
				cg.members[mem.id] = mem
			}
			mem.instanceID = req.InstanceID
			cg.static[inst] = mem.id
			return mem, "", nil
		case joining:
			if cur.epoch != EpochStaticLeave {
				return nil, fmt.Sprintf("Static member %s with instance id %s is not released yet in group %s.", cur.id, inst, cg.id), ErrUnreleasedInstanceID
			}
			// The static member comes back (maybe under a new member id)
			// and takes over its predecessor's partitions.
			m.replaceStaticConsumer(cg, cur, req.MemberID)
			return cur, "", nil
		case cur == nil:
			return nil, fmt.Sprintf("Instance id %s is unknown.", inst), ErrUnknownMember
		case cur.id != req.MemberID:
			return nil, fmt.Sprintf("Static member %s with instance id %s was fenced by member %s.", req.MemberID, inst, cur.id), ErrFencedInstance
		}
		mem = cur
	}
	if joining {
		return mem, "", nil
	}
	if req.MemberEpoch > mem.epoch {
		return nil, fmt.Sprintf("The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, mem.epoch), ErrFencedMemberEpoch
	}
	if req.MemberEpoch < mem.epoch {
		// A retried heartbeat whose answer was lost is accepted if it
		// owns no more than the member was given.
		if req.MemberEpoch != mem.prevEpoch || req.Owned == nil || !isSubset(partSetOf(req.Owned), mem.assigned) {
			return nil, fmt.Sprintf("The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, mem.epoch), ErrFencedMemberEpoch
		}
	}
	return mem, "", nil
}

func isSubset(a, b partSet) bool {
	for p := range a {
		if !b.has(p) {
			return false
		}
	}
	return true
}

// replaceStaticConsumer gives a static member that left with epoch -2 its new
// member id; it keeps its assignment, which it reconciles from epoch 0.
func (m *Machine) replaceStaticConsumer(cg *consumerGroup, mem *consumerMember, newID string) {
	old := mem.id
	delete(cg.members, old)
	mem.id = newID
	cg.members[newID] = mem
	cg.static[*mem.instanceID] = newID
	if t, ok := cg.target[old]; ok {
		delete(cg.target, old)
		cg.target[newID] = t
	}
	for p, o := range cg.owners {
		if o == old {
			cg.owners[p] = newID
		}
	}
	mem.epoch, mem.prevEpoch, mem.state = EpochJoin, EpochJoin, memberStable
	for p := range mem.revoking {
		delete(cg.owners, p)
	}
	mem.revoking = partSet{}
	mem.rebalanceDeadline = time.Time{}
}

// consumerLeave handles epochs -1 (leave) and -2 (a static member leaves
// for now, keeping its partitions until it comes back or its session ends).
func (m *Machine) consumerLeave(now time.Time, cg *consumerGroup, req ConsumerHeartbeatRequest) (*ConsumerHeartbeatResult, []Record) {
	var mem *consumerMember
	if req.InstanceID == nil {
		if mem = cg.members[req.MemberID]; mem == nil {
			return cgErr(ErrUnknownMember, "Member %s is not a member of group %s.", req.MemberID, cg.id), nil
		}
	} else {
		if mem = cg.members[cg.static[*req.InstanceID]]; mem == nil {
			return cgErr(ErrUnknownMember, "Instance id %s is unknown.", *req.InstanceID), nil
		}
		if mem.id != req.MemberID {
			return cgErr(ErrFencedInstance, "Static member %s with instance id %s was fenced by member %s.", req.MemberID, *req.InstanceID, mem.id), nil
		}
	}
	res := &ConsumerHeartbeatResult{MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	if req.MemberEpoch == EpochStaticLeave && mem.instanceID != nil {
		// Kafka's consumerGroupStaticMemberGroupLeave: nothing moves.
		for p := range mem.revoking {
			delete(cg.owners, p)
		}
		mem.revoking = partSet{}
		mem.epoch, mem.state = EpochStaticLeave, memberStable
		mem.rebalanceDeadline = time.Time{}
		mem.sessionDeadline = now.Add(m.cfg.ConsumerSessionTimeout)
		return res, nil
	}
	return res, m.removeConsumerMember(now, cg, mem)
}

// removeConsumerMember fences mem: its partitions are free at once, the
// group epoch bumps and a new target assignment is computed.
func (m *Machine) removeConsumerMember(now time.Time, cg *consumerGroup, mem *consumerMember) []Record {
	delete(cg.members, mem.id)
	delete(cg.target, mem.id)
	if mem.instanceID != nil && cg.static[*mem.instanceID] == mem.id {
		delete(cg.static, *mem.instanceID)
	}
	for p, o := range cg.owners {
		if o == mem.id {
			delete(cg.owners, p)
		}
	}
	if len(cg.members) == 0 {
		cg.stateTime = now
	}
	return []Record{m.bumpEpoch(now, cg)}
}

// bumpEpoch starts a new group epoch and computes its target assignment
// (Kafka computes it on the next heartbeat; doing it now is equivalent
// and leaves the group Assigning for no time). It returns the metadata
// record to write.
func (m *Machine) bumpEpoch(now time.Time, cg *consumerGroup) Record {
	cg.epoch++
	metrics.Rebalances.WithLabelValues("consumer").Inc()
	if len(cg.members) == 0 {
		// Nobody to assign to: as in Kafka, the target (and its epoch)
		// waits for the next member.
		cg.target, cg.subscribed = map[string]partSet{}, map[string]TopicMeta{}
		return consumerGroupRecord(cg.id, cg.epoch)
	}
	cg.subscribed = m.subscribedTopics(cg)
	cg.assignor = m.pickAssignor(cg)
	cg.target = computeTarget(cg.assignor, cg.members, cg.subscribed, cg.target)
	cg.assignmentEpoch = cg.epoch
	return consumerGroupRecord(cg.id, cg.epoch)
}

// pickAssignor is Kafka's: the assignor most members asked for, else the
// default (the first of group.consumer.assignors).
func (m *Machine) pickAssignor(cg *consumerGroup) string {
	votes := map[string]int{}
	for _, mem := range cg.members {
		if mem.assignor != "" {
			votes[mem.assignor]++
		}
	}
	best := ""
	for _, a := range []string{AssignorUniform, AssignorRange} {
		if votes[a] > votes[best] || (best == "" && votes[a] > 0) {
			best = a
		}
	}
	if best == "" {
		return m.cfg.ConsumerDefaultAssignor
	}
	return best
}

// subscribedTopics resolves the members' subscriptions against the
// metadata image.
func (m *Machine) subscribedTopics(cg *consumerGroup) map[string]TopicMeta {
	out := map[string]TopicMeta{}
	for _, mem := range cg.members {
		for _, t := range mem.topics {
			if tm, ok := m.topics[t]; ok {
				out[t] = tm
			}
		}
		if mem.re != nil {
			for name, tm := range m.topics {
				if mem.subscribes(name) {
					out[name] = tm
				}
			}
		}
	}
	return out
}

// metadataChanged reports whether the topics the group subscribes to
// changed (created, deleted, recreated, partitions added) since the last
// assignment.
func (m *Machine) metadataChanged(cg *consumerGroup) bool {
	if len(cg.members) == 0 {
		return false
	}
	now := m.subscribedTopics(cg)
	if len(now) != len(cg.subscribed) {
		return true
	}
	for name, tm := range now {
		if cg.subscribed[name] != tm {
			return true
		}
	}
	return false
}

// reconcile moves mem towards its target assignment: Kafka's
// CurrentAssignmentBuilder. owned is what the member reported (nil when it
// did not say).
func (m *Machine) reconcile(now time.Time, cg *consumerGroup, mem *consumerMember, owned partSet) {
	ownsAny := func(s partSet) bool {
		if owned == nil {
			return len(s) > 0
		}
		for p := range s {
			if owned.has(p) {
				return true
			}
		}
		return false
	}
	switch mem.state {
	case memberStable:
		if mem.epoch == cg.assignmentEpoch {
			return
		}
		m.nextAssignment(now, cg, mem, mem.epoch, ownsAny)
	case memberUnrevoked:
		if ownsAny(mem.revoking) {
			return
		}
		m.nextAssignment(now, cg, mem, min(mem.epoch+1, cg.assignmentEpoch), ownsAny)
	case memberUnreleased:
		m.nextAssignment(now, cg, mem, mem.epoch, ownsAny)
	}
}

func (m *Machine) nextAssignment(now time.Time, cg *consumerGroup, mem *consumerMember, epoch int32, ownsAny func(partSet) bool) {
	target := cg.target[mem.id]
	assigned, revoking := partSet{}, partSet{}
	unreleased := false
	for p := range mem.assigned {
		if target.has(p) {
			assigned[p] = struct{}{}
		} else {
			revoking[p] = struct{}{}
		}
	}
	for p := range target {
		if mem.assigned.has(p) {
			continue
		}
		if o, ok := cg.owners[p]; !ok || o == mem.id {
			assigned[p] = struct{}{}
		} else {
			unreleased = true
		}
	}
	prev := mem.epoch
	switch {
	case len(revoking) > 0 && ownsAny(revoking):
		mem.state = memberUnrevoked
		mem.epoch = epoch
		if mem.rebalanceDeadline.IsZero() || prev != epoch {
			mem.rebalanceDeadline = now.Add(mem.rebalanceTimeoutOr(m.cfg.ConsumerSessionTimeout))
		}
	case unreleased:
		mem.state, mem.epoch, revoking = memberUnreleased, cg.assignmentEpoch, partSet{}
		mem.rebalanceDeadline = time.Time{}
	default:
		mem.state, mem.epoch, revoking = memberStable, cg.assignmentEpoch, partSet{}
		mem.rebalanceDeadline = time.Time{}
	}
	mem.prevEpoch = prev
	for p := range mem.assigned {
		if cg.owners[p] == mem.id {
			delete(cg.owners, p)
		}
	}
	for p := range mem.revoking {
		if cg.owners[p] == mem.id {
			delete(cg.owners, p)
		}
	}
	mem.assigned, mem.revoking = assigned, revoking
	for p := range assigned {
		cg.owners[p] = mem.id
	}
	for p := range revoking {
		cg.owners[p] = mem.id
	}
}

func (mem *consumerMember) rebalanceTimeoutOr(d time.Duration) time.Duration {
	if mem.rebalanceTimeout > 0 {
		return mem.rebalanceTimeout
	}
	return d
}

// SetTopics installs the topics of a new metadata image. Consumer groups
// whose subscribed topics changed get a new epoch and target assignment.
func (m *Machine) SetTopics(now time.Time, topics []TopicMeta) {
	next := make(map[string]TopicMeta, len(topics))
	for _, t := range topics {
		next[t.Name] = t
	}
	m.topics = next
	for _, id := range sortedKeys(m.consumers) {
		cg := m.consumers[id]
		if m.owned[cg.partition] != partActive || !m.metadataChanged(cg) {
			continue
		}
		m.write(cg.partition, []Record{m.bumpEpoch(now, cg)}, func(time.Time, error) {})
	}
}

// tickConsumers expires sessions and rebalance timeouts.
func (m *Machine) tickConsumers(now time.Time) {
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	for _, id := range sortedKeys(m.consumers) {
		cg := m.consumers[id]
		var recs []Record
		for _, mid := range sortedKeys(cg.members) {
			mem := cg.members[mid]
			if mem != nil && (due(mem.sessionDeadline) || due(mem.rebalanceDeadline)) {
				recs = append(recs, m.removeConsumerMember(now, cg, mem)...)
			}
		}
		if len(recs) > 0 {
			m.write(cg.partition, recs[len(recs)-1:], func(time.Time, error) {})
		}
	}
}

func (m *Machine) consumerDeadline(consider func(time.Time)) {
	for _, cg := range m.consumers {
		for _, mem := range cg.members {
			consider(mem.sessionDeadline)
			consider(mem.rebalanceDeadline)
		}
	}
}

// ConsumerMemberDescription is one member in ConsumerGroupDescribe.
type ConsumerMemberDescription struct {
	ID                   string
	InstanceID, RackID   *string
	Epoch                int32
	ClientID, ClientHost string
	SubscribedTopics     []string
	SubscribedRegex      *string
	Assignment, Target   []TopicAssignment
}

// ConsumerGroupDescription is one ConsumerGroupDescribe entry.
type ConsumerGroupDescription struct {
	ID, State       string
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerMemberDescription
}

// DescribeConsumerGroup describes a KIP-848 group; ErrGroupNotFound for an
// unknown or classic group.
func (m *Machine) DescribeConsumerGroup(groupID string) (ConsumerGroupDescription, string, error) {
	if err := m.check(groupID); err != nil {
		return ConsumerGroupDescription{ID: groupID}, "", err
	}
	cg := m.consumers[groupID]
	if cg == nil {
		if m.groups[groupID] != nil {
			return ConsumerGroupDescription{ID: groupID}, fmt.Sprintf("Group %s is not a consumer group.", groupID), ErrGroupNotFound
		}
		return ConsumerGroupDescription{ID: groupID}, fmt.Sprintf("Group %s not found.", groupID), ErrGroupNotFound
	}
	d := ConsumerGroupDescription{ID: groupID, State: cg.State(), Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: cg.assignor}
	if d.Assignor == "" {
		d.Assignor = m.cfg.ConsumerDefaultAssignor
	}
	for _, id := range sortedKeys(cg.members) {
		mem := cg.members[id]
		md := ConsumerMemberDescription{
			ID: id, InstanceID: mem.instanceID, RackID: mem.rackID, Epoch: mem.epoch,
			ClientID: mem.clientID, ClientHost: mem.clientHost, SubscribedTopics: slices.Clone(mem.topics),
			Assignment: mem.assigned.list(), Target: cg.target[id].list(),
		}
		if md.SubscribedTopics == nil {
			md.SubscribedTopics = []string{}
		}
		if mem.regex != "" {
			r := mem.regex
			md.SubscribedRegex = &r
		}
		d.Members = append(d.Members, md)
	}
	return d, "", nil
}

// Errors of the consumer group protocol (defined in errcode).
var (
	ErrFencedMemberEpoch    = errcode.ErrFencedMemberEpoch
	ErrStaleMemberEpoch     = errcode.ErrStaleMemberEpoch
	ErrUnsupportedAssignor  = errcode.ErrUnsupportedAssignor
	ErrUnreleasedInstanceID = errcode.ErrUnreleasedInstanceID
	ErrInvalidRegex         = errcode.ErrInvalidRegex
	ErrUnsupportedVersion   = errcode.ErrUnsupportedVersion
)
