package group

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
)

// harness drives a Machine with a fake clock, collecting replies and
// completing writes (successfully unless failWrites is set).
type harness struct {
	t          *testing.T
	m          *Machine
	now        time.Time
	next       ReplyID
	replies    map[ReplyID]any
	written    []Record // every durable record, in order
	failWrites bool
	holdWrites bool
	held       []Write
}

func testConfig() Config {
	c := DefaultConfig()
	c.Partitions = 4
	c.InitialRebalanceDelay = 3 * time.Second
	return c
}

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, m: NewMachine(cfg), now: time.Unix(1_700_000_000, 0), replies: map[ReplyID]any{}}
	for p := int32(0); p < cfg.Partitions; p++ {
		h.m.BeginLoad(p)
		h.m.CompleteLoad(h.now, p, NewLoader(p))
	}
	return h
}

// settle applies effects until none are left.
func (h *harness) settle() {
	for {
		e := h.m.Take()
		if len(e.Replies) == 0 && len(e.Writes) == 0 {
			return
		}
		for _, r := range e.Replies {
			if _, dup := h.replies[r.To]; dup {
				h.t.Fatalf("reply %d answered twice", r.To)
			}
			h.replies[r.To] = r.Value
		}
		for _, w := range e.Writes {
			if h.holdWrites {
				h.held = append(h.held, w)
				continue
			}
			h.finish(w)
		}
	}
}

func (h *harness) finish(w Write) {
	var err error
	if h.failWrites {
		err = errors.New("disk on fire")
	} else {
		h.written = append(h.written, w.Records...)
	}
	h.m.WriteDone(h.now, w.Token, err)
}

func (h *harness) id() ReplyID { h.next++; return h.next }

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.m.Tick(h.now)
	h.settle()
}

// runTimers advances the clock to each next deadline up to d from now.
func (h *harness) runTimers(d time.Duration) {
	end := h.now.Add(d)
	for {
		next := h.m.NextDeadline()
		if next.IsZero() || next.After(end) {
			break
		}
		h.now = next
		h.m.Tick(h.now)
		h.settle()
	}
	h.now = end
}

func (h *harness) join(req JoinRequest) ReplyID {
	if req.SessionTimeout == 0 {
		req.SessionTimeout = 10 * time.Second
	}
	if req.RebalanceTimeout == 0 {
		req.RebalanceTimeout = 30 * time.Second
	}
	if req.ProtocolType == "" {
		req.ProtocolType = "consumer"
	}
	if req.Protocols == nil {
		req.Protocols = []Protocol{{Name: "range", Metadata: subscription("t")}}
	}
	if req.ClientID == "" {
		req.ClientID = "c"
	}
	id := h.id()
	h.m.Join(h.now, id, req)
	h.settle()
	return id
}

func (h *harness) joined(id ReplyID) *JoinResult {
	h.t.Helper()
	v, ok := h.replies[id]
	if !ok {
		h.t.Fatalf("join %d not answered", id)
	}
	return v.(*JoinResult)
}

func (h *harness) waiting(id ReplyID) bool {
	_, ok := h.replies[id]
	return !ok
}

func (h *harness) sync(req SyncRequest) ReplyID {
	id := h.id()
	h.m.Sync(h.now, id, req)
	h.settle()
	return id
}

func (h *harness) synced(id ReplyID) *SyncResult {
	h.t.Helper()
	v, ok := h.replies[id]
	if !ok {
		h.t.Fatalf("sync %d not answered", id)
	}
	return v.(*SyncResult)
}

func (h *harness) heartbeat(group, member string, gen int32) error {
	return h.m.Heartbeat(h.now, HeartbeatRequest{Group: group, Generation: gen, MemberID: member})
}

func (h *harness) commit(req CommitRequest) *CommitResult {
	h.t.Helper()
	id := h.id()
	h.m.Commit(h.now, id, req)
	h.settle()
	v, ok := h.replies[id]
	if !ok {
		h.t.Fatalf("commit not answered")
	}
	return v.(*CommitResult)
}

func subscription(topics ...string) []byte {
	md := kmsg.ConsumerMemberMetadata{Version: 0, Topics: topics}
	return md.AppendTo(nil)
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) || (want == nil && got != nil) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

// joinOne forms a one-member group (v4 round trip) and syncs it: it
// returns the member id and generation.
func (h *harness) joinOne(group string, req JoinRequest) (string, int32) {
	h.t.Helper()
	req.Group = group
	req.RequireKnownMemberID = req.InstanceID == nil
	first := h.join(req)
	if req.InstanceID == nil {
		r := h.joined(first)
		wantErr(h.t, "first join", r.Err, ErrMemberIDRequired)
		req.MemberID = r.MemberID
		first = h.join(req)
	}
	h.runTimers(h.m.cfg.InitialRebalanceDelay)
	r := h.joined(first)
	wantErr(h.t, "join", r.Err, nil)
	s := h.synced(h.sync(SyncRequest{Group: group, Generation: r.Generation, MemberID: r.MemberID, InstanceID: req.InstanceID,
		Assignments: map[string][]byte{r.MemberID: []byte("a")}}))
	wantErr(h.t, "sync", s.Err, nil)
	return r.MemberID, r.Generation
}

func TestPartitionForMatchesJava(t *testing.T) {
	for _, c := range []struct {
		id   string
		n    int32
		want int32
	}{
		{"", 50, 0},
		{"hello", 50, 99162322 % 50},
		{"polygenelubricants", 50, 0}, // hashCode is Integer.MIN_VALUE; Utils.abs gives 0
		{"Aa", 7, 2112 % 7},
		{"é", 50, 233 % 50},
		{"😀", 50, (55357*31 + 56832) % 50}, // two UTF-16 code units
	} {
		if got := PartitionFor(c.id, c.n); got != c.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", c.id, c.n, got, c.want)
		}
	}
	// A negative hash: "zzzzzzz".hashCode() = -1404268096... compute the
	// Java way and compare with Math.abs.
	var h int32
	for _, c := range "consumer-group-negative-hash" {
		h = 31*h + int32(c)
	}
	if h >= 0 {
		t.Fatalf("test id does not hash negative")
	}
	if got := PartitionFor("consumer-group-negative-hash", 50); got != (-h)%50 {
		t.Errorf("negative hash: got %d, want %d", got, (-h)%50)
	}
}

func TestJoinSyncHeartbeat(t *testing.T) {
	h := newHarness(t, testConfig())
	const g = "g"
	// v4: a new dynamic member is handed an id first.
	j := h.joined(h.join(JoinRequest{Group: g, RequireKnownMemberID: true}))
	wantErr(t, "first join", j.Err, ErrMemberIDRequired)
	if j.MemberID == "" || j.Generation != -1 {
		t.Fatalf("MEMBER_ID_REQUIRED answer %+v", j)
	}
	a := h.join(JoinRequest{Group: g, MemberID: j.MemberID, RequireKnownMemberID: true})
	// A second member (pre-v4) during the initial delay extends it.
	h.advance(2 * time.Second)
	b := h.join(JoinRequest{Group: g, ClientID: "b"})
	h.advance(1 * time.Second)
	if !h.waiting(a) || !h.waiting(b) {
		t.Fatalf("join completed during the extended initial delay")
	}
	h.runTimers(3 * time.Second)
	ra, rb := h.joined(a), h.joined(b)
	wantErr(t, "join a", ra.Err, nil)
	wantErr(t, "join b", rb.Err, nil)
	if ra.Generation != 1 || rb.Generation != 1 || ra.Leader != j.MemberID || rb.Leader != j.MemberID {
		t.Fatalf("generation/leader: a %+v b %+v", ra, rb)
	}
	if len(ra.Members) != 2 || len(rb.Members) != 0 || ra.Protocol != "range" {
		t.Fatalf("leader got %d members, follower %d, protocol %q", len(ra.Members), len(rb.Members), ra.Protocol)
	}
	// Heartbeats during CompletingRebalance are fine; a commit is not.
	wantErr(t, "heartbeat completing", h.heartbeat(g, rb.MemberID, 1), nil)
	c := h.commit(CommitRequest{Group: g, Generation: 1, MemberID: rb.MemberID, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 1}}})
	wantErr(t, "commit completing", c.Err, ErrRebalanceInProgress)

	// The follower waits for the leader's assignment.
	fs := h.sync(SyncRequest{Group: g, Generation: 1, MemberID: rb.MemberID})
	if !h.waiting(fs) {
		t.Fatalf("follower sync answered before the leader's")
	}
	h.holdWrites = true
	ls := h.sync(SyncRequest{Group: g, Generation: 1, MemberID: ra.MemberID, Assignments: map[string][]byte{ra.MemberID: []byte("A"), rb.MemberID: []byte("B")}})
	if !h.waiting(ls) || !h.waiting(fs) {
		t.Fatalf("sync answered before the assignment was durable")
	}
	h.holdWrites = false
	h.finish(h.held[0])
	h.settle()
	if s := h.synced(ls); s.Err != nil || string(s.Assignment) != "A" {
		t.Fatalf("leader sync %+v", s)
	}
	if s := h.synced(fs); s.Err != nil || string(s.Assignment) != "B" || s.Protocol != "range" {
		t.Fatalf("follower sync %+v", s)
	}
	d, _ := h.m.DescribeGroup(g)
	if d.State != "Stable" || len(d.Members) != 2 || string(d.Members[1].Assignment) != "B" {
		t.Fatalf("describe %+v", d)
	}

	for _, c := range []struct {
		name   string
		group  string
		member string
		gen    int32
		want   error
	}{
		{"ok", g, ra.MemberID, 1, nil},
		{"unknown member", g, "nobody", 1, ErrUnknownMember},
		{"old generation", g, ra.MemberID, 0, ErrIllegalGeneration},
		{"unknown group", "other", ra.MemberID, 1, ErrUnknownMember},
		{"empty group id", "", ra.MemberID, 1, ErrInvalidGroupID},
	} {
		wantErr(t, "heartbeat "+c.name, h.heartbeat(c.group, c.member, c.gen), c.want)
	}
}

func TestJoinErrors(t *testing.T) {
	h := newHarness(t, testConfig())
	m1, _ := h.joinOne("g", JoinRequest{})
	for _, c := range []struct {
		name string
		req  JoinRequest
		want error
	}{
		{"session timeout too small", JoinRequest{Group: "g", SessionTimeout: time.Second}, ErrInvalidSessionTimeout},
		{"session timeout too large", JoinRequest{Group: "g", SessionTimeout: time.Hour}, ErrInvalidSessionTimeout},
		{"empty group id", JoinRequest{Group: ""}, ErrInvalidGroupID},
		{"other protocol type", JoinRequest{Group: "g", ProtocolType: "connect"}, ErrInconsistentProtocol},
		{"no common protocol", JoinRequest{Group: "g", Protocols: []Protocol{{Name: "sticky"}}}, ErrInconsistentProtocol},
		{"unknown member of unknown group", JoinRequest{Group: "new", MemberID: "x"}, ErrUnknownMember},
		{"unknown member", JoinRequest{Group: "g", MemberID: "x"}, ErrUnknownMember},
		{"no protocols for a new group", JoinRequest{Group: "fresh", Protocols: []Protocol{}}, ErrInconsistentProtocol},
	} {
		wantErr(t, c.name, h.joined(h.join(c.req)).Err, c.want)
	}
	if _, ok := h.m.groups["fresh"]; ok {
		t.Errorf("a failed first join left group %q behind", "fresh")
	}
	wantErr(t, "member survives", h.heartbeat("g", m1, 1), nil)

	cfg := testConfig()
	cfg.MaxSize = 1
	full := newHarness(t, cfg)
	full.joinOne("g", JoinRequest{})
	wantErr(t, "group full", full.joined(full.join(JoinRequest{Group: "g"})).Err, ErrGroupMaxSize)
}

func TestSessionTimeoutRebalances(t *testing.T) {
	h := newHarness(t, testConfig())
	a, _ := h.joinOne("g", JoinRequest{})
	// b joins: a rebalance starts and a is told by its heartbeat.
	bj := h.join(JoinRequest{Group: "g"})
	wantErr(t, "a heartbeat", h.heartbeat("g", a, 1), ErrRebalanceInProgress)
	aj := h.join(JoinRequest{Group: "g", MemberID: a})
	ra, rb := h.joined(aj), h.joined(bj)
	if ra.Generation != 2 || rb.Generation != 2 {
		t.Fatalf("generations %d %d, want 2", ra.Generation, rb.Generation)
	}
	h.synced(h.sync(SyncRequest{Group: "g", Generation: 2, MemberID: a}))
	h.synced(h.sync(SyncRequest{Group: "g", Generation: 2, MemberID: rb.MemberID}))
	// Only a heartbeats; b's session (10s) runs out.
	for i := 0; i < 4; i++ {
		h.runTimers(3 * time.Second)
		err := h.heartbeat("g", a, 2)
		if err != nil {
			wantErr(t, "a heartbeat after b expired", err, ErrRebalanceInProgress)
			break
		}
	}
	if h.m.groups["g"].members[rb.MemberID] != nil {
		t.Fatalf("b not expired")
	}
	r := h.joined(h.join(JoinRequest{Group: "g", MemberID: a}))
	if r.Err != nil || r.Generation != 3 || len(r.Members) != 1 {
		t.Fatalf("rejoin after expiry %+v", r)
	}
	wantErr(t, "expired member", h.heartbeat("g", rb.MemberID, 3), ErrUnknownMember)
}

func TestRebalanceTimeoutDropsStragglers(t *testing.T) {
	h := newHarness(t, testConfig())
	a, _ := h.joinOne("g", JoinRequest{})
	bj := h.join(JoinRequest{Group: "g"})
	h.advance(0)
	// a never rejoins; it keeps heartbeating so its session stays alive.
	for i := 0; i < 11; i++ {
		h.runTimers(3 * time.Second)
		h.heartbeat("g", a, 1)
	}
	rb := h.joined(bj)
	if rb.Err != nil || rb.Generation != 2 || rb.Leader != rb.MemberID || len(rb.Members) != 1 {
		t.Fatalf("join after rebalance timeout %+v", rb)
	}
	wantErr(t, "straggler", h.heartbeat("g", a, 2), ErrUnknownMember)
}

func TestPendingSyncTimeout(t *testing.T) {
	h := newHarness(t, testConfig())
	a, _ := h.joinOne("g", JoinRequest{})
	bj := h.join(JoinRequest{Group: "g"})
	h.join(JoinRequest{Group: "g", MemberID: a})
	rb := h.joined(bj)
	// Only the leader syncs; the follower heartbeats but never syncs.
	h.synced(h.sync(SyncRequest{Group: "g", Generation: 2, MemberID: a}))
	for i := 0; i < 11; i++ {
		h.runTimers(3 * time.Second)
		h.heartbeat("g", a, 2)
		h.heartbeat("g", rb.MemberID, 2)
	}
	if h.m.groups["g"].members[rb.MemberID] != nil {
		t.Fatalf("member that never synced is still in the group")
	}
	if s := h.m.groups["g"].state; s != PreparingRebalance {
		t.Fatalf("state %v after pending-sync timeout", s)
	}
}

func TestStaticMembership(t *testing.T) {
	h := newHarness(t, testConfig())
	inst := "instance-1"
	old, gen := h.joinOne("g", JoinRequest{InstanceID: &inst})
	// The same instance restarts with no member id: it gets a new id, the
	// old one is fenced, and a Stable group does not rebalance.
	r := h.joined(h.join(JoinRequest{Group: "g", InstanceID: &inst}))
	if r.Err != nil || r.MemberID == old || r.Generation != gen {
		t.Fatalf("static rejoin %+v (old id %s, gen %d)", r, old, gen)
	}
	if r.Leader != old {
		t.Fatalf("static rejoin names leader %q, want the old id %q so no assignment is run", r.Leader, old)
	}
	if st := h.m.groups["g"].state; st != Stable {
		t.Fatalf("state %v after static rejoin", st)
	}
	if err := h.m.Heartbeat(h.now, HeartbeatRequest{Group: "g", Generation: gen, MemberID: old, InstanceID: &inst}); !errors.Is(err, ErrFencedInstance) {
		t.Fatalf("old member id heartbeat: %v, want FENCED_INSTANCE_ID", err)
	}
	if err := h.m.Heartbeat(h.now, HeartbeatRequest{Group: "g", Generation: gen, MemberID: r.MemberID, InstanceID: &inst}); err != nil {
		t.Fatalf("new member id heartbeat: %v", err)
	}
	s := h.synced(h.sync(SyncRequest{Group: "g", Generation: gen, MemberID: r.MemberID, InstanceID: &inst}))
	if s.Err != nil || string(s.Assignment) != "a" {
		t.Fatalf("static member keeps its assignment: %+v", s)
	}
	// Leaving by instance id alone (LeaveGroup v3+).
	errs, err := h.m.Leave(h.now, "g", []LeaveMember{{InstanceID: &inst}, {MemberID: "ghost"}})
	h.settle()
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrUnknownMember) {
		t.Fatalf("leave: %v %v", errs, err)
	}
	if st := h.m.groups["g"].state; st != Empty {
		t.Fatalf("state %v after the only member left", st)
	}
}

func TestLeaveRebalancesAndDelete(t *testing.T) {
	h := newHarness(t, testConfig())
	a, _ := h.joinOne("g", JoinRequest{})
	id := h.id()
	h.m.DeleteGroup(h.now, id, "g")
	h.settle()
	wantErr(t, "delete non-empty", h.replies[id].(*DeleteResult).Err, ErrNonEmptyGroup)
	c := h.commit(CommitRequest{Group: "g", Generation: 1, MemberID: a, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 7}}})
	wantErr(t, "commit", c.Partitions[0], nil)

	odel := h.id()
	h.m.DeleteOffsets(h.now, odel, "g", []TopicPartition{{"t", 0}, {"u", 0}})
	h.settle()
	od := h.replies[odel].(*CommitResult)
	if od.Err != nil || !errors.Is(od.Partitions[0], ErrSubscribedToTopic) || od.Partitions[1] != nil {
		t.Fatalf("offset delete while subscribed: %+v", od)
	}

	errs, err := h.m.Leave(h.now, "g", []LeaveMember{{MemberID: a}})
	h.settle()
	if err != nil || errs[0] != nil {
		t.Fatalf("leave %v %v", errs, err)
	}
	if g := h.m.groups["g"]; g.state != Empty || g.generation != 2 {
		t.Fatalf("after leave: state %v generation %d", g.state, g.generation)
	}
	id = h.id()
	h.m.DeleteGroup(h.now, id, "g")
	h.settle()
	wantErr(t, "delete empty", h.replies[id].(*DeleteResult).Err, nil)
	if offs, _ := h.m.FetchOffsets("g", nil); len(offs) != 0 {
		t.Fatalf("offsets survive deletion: %v", offs)
	}
	last := h.written[len(h.written)-1]
	if last.Value != nil {
		t.Fatalf("deletion did not end with a group tombstone")
	}
	id = h.id()
	h.m.DeleteGroup(h.now, id, "g")
	h.settle()
	wantErr(t, "delete unknown", h.replies[id].(*DeleteResult).Err, ErrGroupNotFound)
}

func TestCommitValidation(t *testing.T) {
	h := newHarness(t, testConfig())
	tp := []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 5, LeaderEpoch: 3, Metadata: "m"}}
	// A simple consumer's commit creates the group.
	c := h.commit(CommitRequest{Group: "simple", Generation: -1, Offsets: tp})
	if c.Err != nil || c.Partitions[0] != nil {
		t.Fatalf("simple commit %+v", c)
	}
	offs, err := h.m.FetchOffsets("simple", []TopicPartition{{"t", 0}, {"t", 1}})
	if err != nil || len(offs) != 1 || offs[TopicPartition{"t", 0}].Offset != 5 || offs[TopicPartition{"t", 0}].Metadata != "m" || offs[TopicPartition{"t", 0}].LeaderEpoch != 3 {
		t.Fatalf("fetch %v %v", offs, err)
	}
	if l, _ := h.m.ListGroups(nil, nil); len(l) != 1 || l[0].State != "Empty" || l[0].ProtocolType != "" {
		t.Fatalf("list %+v", l)
	}
	a, _ := h.joinOne("g", JoinRequest{})
	big := make([]byte, 5000)
	for _, c := range []struct {
		name string
		req  CommitRequest
		want error
	}{
		{"unknown group v9", CommitRequest{Group: "nope", Generation: 1, MemberID: "m", Version: 9}, ErrGroupNotFound},
		{"unknown group v8", CommitRequest{Group: "nope", Generation: 1, MemberID: "m", Version: 8}, ErrIllegalGeneration},
		{"wrong generation", CommitRequest{Group: "g", Generation: 7, MemberID: a}, ErrIllegalGeneration},
		{"unknown member", CommitRequest{Group: "g", Generation: 1, MemberID: "x"}, ErrUnknownMember},
		{"no member while group has members", CommitRequest{Group: "g", Generation: -1}, ErrUnknownMember},
		{"ok", CommitRequest{Group: "g", Generation: 1, MemberID: a}, nil},
	} {
		c.req.Offsets = tp
		r := h.commit(c.req)
		got := r.Err
		if got == nil {
			got = r.Partitions[0]
		}
		wantErr(t, c.name, got, c.want)
	}
	r := h.commit(CommitRequest{Group: "g", Generation: 1, MemberID: a, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 1}, Metadata: string(big)}}})
	wantErr(t, "metadata too large", r.Partitions[0], ErrOffsetMetadataTooLarge)

	// A failed write is not acknowledged and changes nothing.
	h.failWrites = true
	r = h.commit(CommitRequest{Group: "simple", Generation: -1, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 99}}})
	wantErr(t, "failed write", r.Partitions[0], ErrCoordinatorNotAvailable)
	if offs, _ := h.m.FetchOffsets("simple", nil); offs[TopicPartition{"t", 0}].Offset != 5 {
		t.Fatalf("failed commit is visible: %v", offs)
	}
}

func TestReplayRestoresState(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	inst := "i"
	a, gen := h.joinOne("g", JoinRequest{InstanceID: &inst})
	h.commit(CommitRequest{Group: "g", Generation: gen, MemberID: a, InstanceID: &inst, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 10}, {TopicPartition: TopicPartition{"t", 1}, Offset: 20}}})
	h.commit(CommitRequest{Group: "g", Generation: gen, MemberID: a, InstanceID: &inst, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 11}}})
	h.commit(CommitRequest{Group: "gone", Generation: -1, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 1}}})
	id := h.id()
	h.m.DeleteGroup(h.now, id, "gone")
	h.settle()

	// A new coordinator replays the records of g's partition.
	p := h.m.PartitionFor("g")
	l := NewLoader(p)
	for _, r := range h.written {
		if err := l.Apply(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	m2 := NewMachine(cfg)
	m2.BeginLoad(p)
	if err := m2.Heartbeat(h.now, HeartbeatRequest{Group: "g", Generation: gen, MemberID: a}); err != nil {
		t.Fatalf("heartbeat while loading: %v, want none", err)
	}
	id = h.id()
	m2.Join(h.now, id, JoinRequest{Group: "g", SessionTimeout: 10 * time.Second})
	if e := m2.Take(); len(e.Replies) != 1 || !errors.Is(e.Replies[0].Value.(*JoinResult).Err, ErrLoading) {
		t.Fatalf("join while loading: %+v", e.Replies)
	}
	m2.Sync(h.now, id, SyncRequest{Group: "g"})
	if e := m2.Take(); !errors.Is(e.Replies[0].Value.(*SyncResult).Err, ErrRebalanceInProgress) {
		t.Fatalf("sync while loading: %+v", e.Replies[0].Value)
	}
	m2.CompleteLoad(h.now, p, l)
	offs, err := m2.FetchOffsets("g", nil)
	if err != nil || len(offs) != 2 || offs[TopicPartition{"t", 0}].Offset != 11 || offs[TopicPartition{"t", 1}].Offset != 20 {
		t.Fatalf("replayed offsets %v %v", offs, err)
	}
	d, _ := m2.DescribeGroup("g")
	if d.State != "Stable" || len(d.Members) != 1 || d.Members[0].ID != a || string(d.Members[0].Assignment) != "a" || *d.Members[0].InstanceID != inst {
		t.Fatalf("replayed group %+v", d)
	}
	if err := m2.Heartbeat(h.now, HeartbeatRequest{Group: "g", Generation: gen, MemberID: a, InstanceID: &inst}); err != nil {
		t.Fatalf("member heartbeat after replay: %v", err)
	}
	if _, err := m2.FetchOffsets("other-partition-group", nil); m2.PartitionFor("other-partition-group") != p && !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("group of an unowned partition: %v", err)
	}
	if d, _ := m2.DescribeGroup("gone"); m2.PartitionFor("gone") == p && d.State != "Dead" {
		t.Fatalf("deleted group replayed as %s", d.State)
	}
}

func TestOffsetRetention(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsRetention = time.Hour
	cfg.RetentionCheck = time.Minute
	h := newHarness(t, cfg)
	a, _ := h.joinOne("g", JoinRequest{SessionTimeout: 10 * time.Minute})
	h.commit(CommitRequest{Group: "g", Generation: 1, MemberID: a, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 3}}})
	h.commit(CommitRequest{Group: "simple", Generation: -1, Offsets: []CommitOffset{{TopicPartition: TopicPartition{"t", 0}, Offset: 3}}})
	// Members keep the group's offsets alive however old they are.
	for i := 0; i < 30; i++ {
		h.runTimers(3 * time.Minute)
		h.heartbeat("g", a, 1)
	}
	if offs, _ := h.m.FetchOffsets("g", nil); len(offs) != 1 {
		t.Fatalf("offsets of a stable subscribed group expired: %v", offs)
	}
	if _, ok := h.m.groups["simple"]; ok {
		t.Fatalf("simple group's old offsets did not expire")
	}
	h.m.Leave(h.now, "g", []LeaveMember{{MemberID: a}})
	h.settle()
	h.runTimers(59 * time.Minute)
	if offs, _ := h.m.FetchOffsets("g", nil); len(offs) != 1 {
		t.Fatalf("offsets expired before the retention since the group became empty")
	}
	h.runTimers(2 * time.Minute)
	if _, ok := h.m.groups["g"]; ok {
		t.Fatalf("empty group not removed after its offsets expired")
	}
}

func TestNotCoordinator(t *testing.T) {
	m := NewMachine(testConfig())
	m.Join(time.Now(), 1, JoinRequest{Group: "g", SessionTimeout: 10 * time.Second})
	if e := m.Take(); !errors.Is(e.Replies[0].Value.(*JoinResult).Err, ErrNotCoordinator) {
		t.Fatalf("join on a non-coordinator: %+v", e.Replies[0].Value)
	}
	if _, err := m.Leave(time.Now(), "g", []LeaveMember{{MemberID: "m"}}); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("leave on a non-coordinator: %v", err)
	}
}

func TestUnloadAnswersWaiters(t *testing.T) {
	h := newHarness(t, testConfig())
	a, _ := h.joinOne("g", JoinRequest{})
	// b's join starts a rebalance that waits for a to rejoin.
	b := h.join(JoinRequest{Group: "g"})
	if !h.waiting(b) {
		t.Fatalf("join answered before the rebalance completed: %+v", h.joined(b))
	}
	h.m.Unload(h.m.PartitionFor("g"))
	h.settle()
	if r := h.joined(b); !errors.Is(r.Err, ErrNotCoordinator) {
		t.Fatalf("waiting join after unload: %+v", r)
	}
	if err := h.heartbeat("g", a, 1); !errors.Is(err, ErrNotCoordinator) {
		t.Fatalf("heartbeat after unload: %v", err)
	}
}

func TestSyncProtocolChecks(t *testing.T) {
	h := newHarness(t, testConfig())
	a, gen := h.joinOne("g", JoinRequest{})
	wrong, consumer := "roundrobin", "consumer"
	for _, c := range []struct {
		name string
		req  SyncRequest
		want error
	}{
		{"wrong protocol name", SyncRequest{Protocol: &wrong}, ErrInconsistentProtocol},
		{"wrong protocol type", SyncRequest{ProtocolType: &wrong}, ErrInconsistentProtocol},
		{"matching protocol", SyncRequest{ProtocolType: &consumer}, nil},
		{"unknown member", SyncRequest{MemberID: "x"}, ErrUnknownMember},
		{"other generation", SyncRequest{Generation: gen + 1}, ErrIllegalGeneration},
		{"empty group id", SyncRequest{Group: "-"}, ErrInvalidGroupID},
	} {
		req := c.req
		req.Group, req.MemberID, req.Generation = "g", a, gen
		if c.req.MemberID != "" {
			req.MemberID = c.req.MemberID
		}
		if c.req.Generation != 0 {
			req.Generation = c.req.Generation
		}
		if c.req.Group == "-" {
			req.Group = ""
		}
		wantErr(t, c.name, h.synced(h.sync(req)).Err, c.want)
	}
}

// FuzzDecodeRecord feeds __consumer_offsets records to the loader, as a
// coordinator replays the partition: no input panics, and an offset
// record that decodes re-encodes, as Strom writes it, to what decodes the
// same.
func FuzzDecodeRecord(f *testing.F) {
	full := offsetRecord("g", TopicPartition{"t", 1}, Offset{Offset: 5, LeaderEpoch: 2, Metadata: "m", CommitTime: 9})
	fuzzseed.Add(f, full.Key, full.Value)
	fuzzseed.Add(f, full.Key, []byte(nil))
	fuzzseed.Add(f, groupKey("g"), []byte{0, 3, 0, 8})
	cg := consumerGroupRecord("cg", 4)
	fuzzseed.Add(f, cg.Key, cg.Value)
	fuzzseed.Add(f, []byte{0, 9}, []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		l := NewLoader(0)
		_ = l.Apply(key, value) // must not panic
		l.build(time.Unix(0, 0), testConfig())

		if isConsumerRecordKey(key) {
			return // KIP-848 records: FuzzConsumerRecords checks their round trips
		}
		d, ok, err := decodeRecord(key, value)
		if err != nil || !ok || d.isMeta || d.offset == nil {
			return
		}
		r := offsetRecord(d.group, d.tp, *d.offset)
		back, ok, err := decodeRecord(r.Key, r.Value)
		if err != nil || !ok || back.group != d.group || back.tp != d.tp || back.offset == nil || *back.offset != *d.offset {
			t.Fatalf("offset %+v of %q %v re-read as %+v %v %v", *d.offset, d.group, d.tp, back, ok, err)
		}
	})
}
