package group

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
)

var (
	topicA = TopicMeta{Name: "a", ID: TopicID{1}, Partitions: 4}
	topicB = TopicMeta{Name: "b", ID: TopicID{2}, Partitions: 2}
)

func newConsumerHarness(t *testing.T, topics ...TopicMeta) *harness {
	h := newHarness(t, testConfig())
	h.m.SetTopics(h.now, topics)
	h.settle()
	return h
}

// hb sends a heartbeat and returns its answer.
func (h *harness) hb(req ConsumerHeartbeatRequest) *ConsumerHeartbeatResult {
	h.t.Helper()
	if req.Group == "" {
		req.Group = "g"
	}
	to := h.id()
	h.m.ConsumerHeartbeat(h.now, to, req)
	h.settle()
	r, ok := h.replies[to].(*ConsumerHeartbeatResult)
	if !ok {
		h.t.Fatalf("no answer to heartbeat %+v", req)
	}
	return r
}

// cjoin is a member's first heartbeat subscribing topics.
func (h *harness) cjoin(id string, topics ...string) *ConsumerHeartbeatResult {
	h.t.Helper()
	r := h.hb(ConsumerHeartbeatRequest{MemberID: id, MemberEpoch: 0, RebalanceTimeout: 30 * time.Second, SubscribedTopics: topics, Owned: []TopicAssignment{}})
	if r.Err != nil {
		h.t.Fatalf("join %s: %v", id, r.Err)
	}
	return r
}

// beat is a regular heartbeat reporting owned partitions of topicA.
func (h *harness) beat(id string, epoch int32, owned ...int32) *ConsumerHeartbeatResult {
	h.t.Helper()
	return h.hb(ConsumerHeartbeatRequest{MemberID: id, MemberEpoch: epoch, RebalanceTimeout: -1, Owned: ownedA(owned...)})
}

func ownedA(ps ...int32) []TopicAssignment {
	if len(ps) == 0 {
		return []TopicAssignment{}
	}
	return []TopicAssignment{{Topic: topicA.ID, Partitions: ps}}
}

// partsOf flattens an assignment of topicA; nil when none was sent.
func partsOf(t *testing.T, a []TopicAssignment) []int32 {
	if a == nil {
		return nil
	}
	out := []int32{}
	for _, ta := range a {
		if ta.Topic != topicA.ID {
			t.Fatalf("assignment names topic %x", ta.Topic)
		}
		out = append(out, ta.Partitions...)
	}
	slices.Sort(out)
	return out
}

func wantParts(t *testing.T, what string, got []TopicAssignment, want ...int32) {
	t.Helper()
	if want == nil {
		want = []int32{}
	}
	if g := partsOf(t, got); !slices.Equal(g, want) {
		t.Fatalf("%s: assignment %v, want %v", what, g, want)
	}
}

func TestConsumerJoinAssignsEverything(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	r := h.cjoin("m1", "a")
	if r.MemberID != "m1" || r.MemberEpoch != 1 || r.HeartbeatInterval != 5*time.Second {
		t.Fatalf("join: %+v", r)
	}
	wantParts(t, "join", r.Assignment, 0, 1, 2, 3)
	// A heartbeat that changes nothing sends no assignment.
	if r := h.beat("m1", 1, 0, 1, 2, 3); r.Err != nil || r.MemberEpoch != 1 || r.Assignment != nil {
		t.Fatalf("steady heartbeat: %+v", r)
	}
	d, _, err := h.m.DescribeConsumerGroup("g")
	if err != nil || d.State != "Stable" || d.Epoch != 1 || d.AssignmentEpoch != 1 || d.Assignor != "uniform" || len(d.Members) != 1 {
		t.Fatalf("describe: %+v %v", d, err)
	}
	// The join was written as Kafka writes it: the member's subscription,
	// the group epoch, its target, the target's epoch, its current
	// assignment; the steady heartbeat wrote nothing.
	var types []int16
	for _, r := range h.written {
		types = append(types, int16(r.Key[0])<<8|int16(r.Key[1]))
	}
	if want := []int16{5, 3, 7, 6, 8}; !slices.Equal(types, want) {
		t.Fatalf("record types written %v, want %v", types, want)
	}
	if v := h.written[1].Value; !slices.Equal(v, []byte{0, 0, 0, 0, 0, 1, 0}) {
		t.Fatalf("ConsumerGroupMetadataValue % x, want epoch 1", v)
	}
}

// TestConsumerRevocationBeforeAssignment: a partition moves to a new member
// only after its owner stopped reporting it.
func TestConsumerRevocationBeforeAssignment(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	h.cjoin("m1", "a")
	r := h.cjoin("m2", "a")
	if r.MemberEpoch != 2 {
		t.Fatalf("second member epoch %d, want 2", r.MemberEpoch)
	}
	wantParts(t, "m2 join (partitions still owned by m1)", r.Assignment)

	// m1 is told to give up two partitions; it stays at epoch 1 until it
	// has.
	r = h.beat("m1", 1, 0, 1, 2, 3)
	if r.MemberEpoch != 1 {
		t.Fatalf("m1 epoch %d while revoking, want 1", r.MemberEpoch)
	}
	keep := partsOf(t, r.Assignment)
	if len(keep) != 2 {
		t.Fatalf("m1 keeps %v, want two partitions", keep)
	}
	if d, _, _ := h.m.DescribeConsumerGroup("g"); d.State != "Reconciling" {
		t.Fatalf("state %s, want Reconciling", d.State)
	}
	// m2 still gets nothing while m1 holds on.
	if r := h.beat("m2", 2); len(partsOf(t, r.Assignment)) != 0 || r.MemberEpoch != 2 {
		t.Fatalf("m2 before revocation: %+v", r)
	}
	if r := h.beat("m1", 1, 0, 1, 2, 3); r.MemberEpoch != 1 {
		t.Fatalf("m1 still owning everything: epoch %d", r.MemberEpoch)
	}
	// m1 revokes: it moves to epoch 2, and m2 gets the rest.
	if r := h.beat("m1", 1, keep...); r.MemberEpoch != 2 || r.Err != nil {
		t.Fatalf("m1 after revoking: %+v", r)
	}
	r = h.beat("m2", 2)
	got := partsOf(t, r.Assignment)
	if len(got) != 2 || slices.ContainsFunc(got, func(p int32) bool { return slices.Contains(keep, p) }) {
		t.Fatalf("m2 got %v, m1 kept %v", got, keep)
	}
	h.beat("m2", 2, got...)
	if d, _, _ := h.m.DescribeConsumerGroup("g"); d.State != "Stable" {
		t.Fatalf("state %s, want Stable", d.State)
	}

	// m2 leaves: m1 takes everything over at the next epoch.
	if r := h.hb(ConsumerHeartbeatRequest{MemberID: "m2", MemberEpoch: -1, RebalanceTimeout: -1}); r.Err != nil || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	r = h.beat("m1", 2, keep...)
	if r.MemberEpoch != 3 {
		t.Fatalf("m1 epoch after leave %d, want 3", r.MemberEpoch)
	}
	wantParts(t, "m1 after m2 left", r.Assignment, 0, 1, 2, 3)
}

func TestConsumerSessionExpiry(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	h.cjoin("m1", "a")
	h.cjoin("m2", "a")
	r := h.beat("m1", 1, 0, 1, 2, 3)
	keep := partsOf(t, r.Assignment)
	h.beat("m1", 1, keep...)
	// m1 keeps heartbeating, m2 goes silent past the session timeout.
	owned := keep
	for i := 0; i < 10; i++ {
		h.advance(5 * time.Second)
		if r := h.beat("m1", h.m.consumers["g"].members["m1"].epoch, owned...); r.Assignment != nil {
			owned = partsOf(t, r.Assignment)
		}
	}
	if r := h.beat("m2", 2); r.Err != ErrUnknownMember {
		t.Fatalf("expired member: %v, want %v", r.Err, ErrUnknownMember)
	}
	if !slices.Equal(owned, []int32{0, 1, 2, 3}) {
		t.Fatalf("m1 owns %v after m2 expired, want every partition", owned)
	}
}

// TestConsumerRebalanceTimeout: a member that never revokes is removed
// after its rebalance timeout, and its partitions move on.
func TestConsumerRebalanceTimeout(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	h.cjoin("m1", "a")
	h.cjoin("m2", "a")
	h.beat("m1", 1, 0, 1, 2, 3)
	for i := 0; i < 7; i++ {
		h.advance(5 * time.Second)
		h.beat("m2", 2)
		if r := h.beat("m1", 1, 0, 1, 2, 3); r.Err != nil && i < 5 {
			t.Fatalf("m1 fenced early at %d: %v", i, r.Err)
		}
	}
	if r := h.beat("m1", 1, 0, 1, 2, 3); r.Err != ErrUnknownMember {
		t.Fatalf("m1 after rebalance timeout: %v", r.Err)
	}
	d, _, _ := h.m.DescribeConsumerGroup("g")
	if len(d.Members) != 1 || d.Members[0].ID != "m2" {
		t.Fatalf("members: %+v", d.Members)
	}
	wantParts(t, "m2 after m1 was fenced", d.Members[0].Assignment, 0, 1, 2, 3)
}

func TestConsumerFencing(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	for _, c := range []struct {
		name string
		req  ConsumerHeartbeatRequest
		want error
	}{
		{"unknown group", ConsumerHeartbeatRequest{Group: "nope", MemberID: "x", MemberEpoch: 3}, ErrGroupNotFound},
		{"bad assignor", ConsumerHeartbeatRequest{MemberID: "x", RebalanceTimeout: time.Second, SubscribedTopics: []string{"a"}, Owned: []TopicAssignment{}, ServerAssignor: ptr("sticky")}, ErrUnsupportedAssignor},
		{"bad regex", ConsumerHeartbeatRequest{MemberID: "x", RebalanceTimeout: time.Second, SubscribedRegex: ptr("("), Owned: []TopicAssignment{}}, ErrInvalidRegex},
	} {
		if r := h.hb(c.req); !errors.Is(r.Err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, r.Err, c.want)
		}
	}
	h.cjoin("m1", "a")
	for _, c := range []struct {
		name string
		req  ConsumerHeartbeatRequest
		want error
	}{
		{"unknown member", ConsumerHeartbeatRequest{MemberID: "m9", MemberEpoch: 1, RebalanceTimeout: -1}, ErrUnknownMember},
		{"epoch ahead", ConsumerHeartbeatRequest{MemberID: "m1", MemberEpoch: 2, RebalanceTimeout: -1}, ErrFencedMemberEpoch},
		{"old epoch, unknown owned", ConsumerHeartbeatRequest{MemberID: "m1", MemberEpoch: 0 - 0 + 5, RebalanceTimeout: -1}, ErrFencedMemberEpoch},
		{"leave unknown", ConsumerHeartbeatRequest{MemberID: "m9", MemberEpoch: -1, RebalanceTimeout: -1}, ErrUnknownMember},
	} {
		if r := h.hb(c.req); !errors.Is(r.Err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, r.Err, c.want)
		}
	}
	// The previous epoch is accepted when it owns no more than assigned
	// (a retry whose answer was lost).
	h.cjoin("m2", "a")
	r := h.beat("m1", 1, 0, 1, 2, 3)
	keep := partsOf(t, r.Assignment)
	h.beat("m1", 1, keep...) // now epoch 2, previous 1
	if r := h.beat("m1", 1, keep...); r.Err != nil || r.MemberEpoch != 2 {
		t.Fatalf("retried previous epoch: %+v", r)
	}
	if r := h.beat("m1", 1, 0, 1, 2, 3); r.Err != ErrFencedMemberEpoch {
		t.Fatalf("previous epoch owning too much: %v", r.Err)
	}
	// A classic group's id is not a consumer group's.
	to := h.id()
	h.m.Join(h.now, to, JoinRequest{Group: "classic", ProtocolType: "consumer", Protocols: []Protocol{{Name: "range"}},
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second})
	h.settle()
	if r := h.hb(ConsumerHeartbeatRequest{Group: "classic", MemberID: "x", RebalanceTimeout: time.Second, SubscribedTopics: []string{"a"}, Owned: []TopicAssignment{}}); r.Err != ErrGroupNotFound {
		t.Fatalf("heartbeat to a classic group: %v", r.Err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestConsumerMaxSize(t *testing.T) {
	cfg := testConfig()
	cfg.ConsumerMaxSize = 1
	h := newHarness(t, cfg)
	h.m.SetTopics(h.now, []TopicMeta{topicA})
	h.cjoin("m1", "a")
	r := h.hb(ConsumerHeartbeatRequest{MemberID: "m2", RebalanceTimeout: time.Second, SubscribedTopics: []string{"a"}, Owned: []TopicAssignment{}})
	if r.Err != ErrGroupMaxSize {
		t.Fatalf("second member: %v, want %v", r.Err, ErrGroupMaxSize)
	}
}

func TestConsumerStaticMember(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	inst := ptr("i1")
	r := h.hb(ConsumerHeartbeatRequest{MemberID: "s1", InstanceID: inst, RebalanceTimeout: time.Second, SubscribedTopics: []string{"a"}, Owned: []TopicAssignment{}})
	if r.Err != nil || r.MemberEpoch != 1 {
		t.Fatalf("static join: %+v", r)
	}
	// Another process with the same instance id while s1 is active.
	if r := h.hb(ConsumerHeartbeatRequest{MemberID: "s2", InstanceID: inst, RebalanceTimeout: time.Second, SubscribedTopics: []string{"a"}, Owned: []TopicAssignment{}}); r.Err != ErrUnreleasedInstanceID {
		t.Fatalf("duplicate instance: %v", r.Err)
	}
	// s1 leaves temporarily: nothing moves, the epoch stays.
	if r := h.hb(ConsumerHeartbeatRequest{MemberID: "s1", InstanceID: inst, MemberEpoch: -2, RebalanceTimeout: -1}); r.Err != nil || r.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", r)
	}
	// It comes back under a new member id and gets its partitions back
	// without a new group epoch.
	r = h.hb(ConsumerHeartbeatRequest{MemberID: "s2", InstanceID: inst, RebalanceTimeout: time.Second, SubscribedTopics: []string{"a"}, Owned: []TopicAssignment{}})
	if r.Err != nil || r.MemberEpoch != 1 || r.MemberID != "s2" {
		t.Fatalf("static rejoin: %+v", r)
	}
	wantParts(t, "static rejoin", r.Assignment, 0, 1, 2, 3)
	if r := h.hb(ConsumerHeartbeatRequest{MemberID: "s1", InstanceID: inst, MemberEpoch: 1, RebalanceTimeout: -1}); r.Err != ErrFencedInstance {
		t.Fatalf("old static member: %v", r.Err)
	}
}

func TestConsumerCommitEpochs(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	h.cjoin("m1", "a")
	commit := func(gen int32, member string, version int16) error {
		to := h.id()
		h.m.Commit(h.now, to, CommitRequest{Group: "g", Generation: gen, MemberID: member, Version: version,
			Offsets: []CommitOffset{{TopicPartition: TopicPartition{"a", 0}, Offset: 7, LeaderEpoch: -1}}})
		h.settle()
		r := h.replies[to].(*CommitResult)
		if r.Err != nil {
			return r.Err
		}
		return r.Partitions[0]
	}
	for _, c := range []struct {
		gen     int32
		member  string
		version int16
		want    error
	}{
		{1, "m1", 9, nil},
		{0, "m1", 9, ErrStaleMemberEpoch},
		{2, "m1", 9, ErrStaleMemberEpoch},
		{1, "m1", 8, ErrUnsupportedVersion},
		{1, "m9", 9, ErrUnknownMember},
		{-1, "", 9, ErrUnknownMember}, // from outside while members exist
	} {
		if err := commit(c.gen, c.member, c.version); !errors.Is(err, c.want) {
			t.Errorf("commit gen %d member %q v%d: %v, want %v", c.gen, c.member, c.version, err, c.want)
		}
	}
	if got, _ := h.m.FetchOffsets("g", nil); got[TopicPartition{"a", 0}].Offset != 7 {
		t.Fatalf("fetched %v", got)
	}
	if err := h.m.ValidateConsumerFetch("g", ptr("m1"), 0); err != ErrStaleMemberEpoch {
		t.Fatalf("fetch with stale epoch: %v", err)
	}
	if err := h.m.ValidateConsumerFetch("g", nil, -1); err != nil {
		t.Fatalf("admin fetch: %v", err)
	}
	// Not deletable while it has members; once empty, it is.
	del := func() error {
		to := h.id()
		h.m.DeleteGroup(h.now, to, "g")
		h.settle()
		return h.replies[to].(*DeleteResult).Err
	}
	if err := del(); err != ErrNonEmptyGroup {
		t.Fatalf("delete with members: %v", err)
	}
	h.hb(ConsumerHeartbeatRequest{MemberID: "m1", MemberEpoch: -1, RebalanceTimeout: -1})
	if l, _ := h.m.ListGroups(nil, []string{"consumer"}); len(l) != 1 || l[0].State != "Empty" || l[0].Type != "consumer" {
		t.Fatalf("list: %+v", l)
	}
	if err := commit(-1, "", 9); err != nil {
		t.Fatalf("admin commit to an empty group: %v", err)
	}
	if err := del(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if l, _ := h.m.ListGroups(nil, nil); len(l) != 0 {
		t.Fatalf("list after delete: %+v", l)
	}
}

// reload replays everything h wrote into a new Machine, as a coordinator
// that takes over the partition does, and makes it h's.
func (h *harness) reload(topics ...TopicMeta) {
	h.t.Helper()
	h.reloadFrom(h.written, topics...)
}

// compacted is recs as log compaction leaves them: the last record of each
// key, in log order.
func compacted(recs []Record) []Record {
	last := map[string]int{}
	for i, r := range recs {
		last[string(r.Key)] = i
	}
	var out []Record
	for i, r := range recs {
		if last[string(r.Key)] == i {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) reloadFrom(recs []Record, topics ...TopicMeta) {
	h.t.Helper()
	p := h.m.PartitionFor("g")
	l := NewLoader(p)
	for _, r := range recs {
		if err := l.Apply(r.Key, r.Value); err != nil {
			h.t.Fatal(err)
		}
	}
	m2 := NewMachine(testConfig())
	m2.SetTopics(h.now, topics)
	m2.BeginLoad(p)
	if err := m2.CompleteLoad(h.now, p, l); err != nil {
		h.t.Fatal(err)
	}
	h.m = m2
}

// TestConsumerReload replays the written records: the group comes back
// with its members at their epochs, their target and current assignments
// and its offsets, so the members carry on without rejoining; a member
// that left and a deleted group stay gone.
func TestConsumerReload(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	h.cjoin("m1", "a")
	h.cjoin("m2", "a")
	// m1 gives up what m2 is to get; m2 takes it.
	keep := partsOf(t, h.beat("m1", 1, 0, 1, 2, 3).Assignment)
	h.beat("m1", 1, keep...)
	h.beat("m2", 2)
	to := h.id()
	h.m.Commit(h.now, to, CommitRequest{Group: "g", Generation: 2, MemberID: "m2", Version: 9,
		Offsets: []CommitOffset{{TopicPartition: TopicPartition{"a", 1}, Offset: 42, LeaderEpoch: -1}}})
	h.settle()
	if r := h.replies[to].(*CommitResult); r.Err != nil || r.Partitions[0] != nil {
		t.Fatalf("commit: %+v", r)
	}
	before, _, _ := h.m.DescribeConsumerGroup("g")
	if before.State != "Stable" {
		t.Fatalf("before the reload: %+v", before)
	}

	// A compacted log holds the same group.
	if n := len(compacted(h.written)); n >= len(h.written) {
		t.Fatalf("compaction kept %d of %d records", n, len(h.written))
	}
	written := h.written
	h.reloadFrom(compacted(written), topicA)
	if after, _, err := h.m.DescribeConsumerGroup("g"); err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("group reloaded from the compacted log\n%+v\nwant\n%+v (%v)", after, before, err)
	}
	h.reload(topicA)
	after, _, err := h.m.DescribeConsumerGroup("g")
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("reloaded group\n%+v\nwant\n%+v (%v)", after, before, err)
	}
	if got, _ := h.m.FetchOffsets("g", nil); got[TopicPartition{"a", 1}].Offset != 42 {
		t.Fatalf("reloaded offsets %v", got)
	}
	// Both members carry on at their epochs, owning what they owned.
	for _, mem := range before.Members {
		r := h.beat(mem.ID, mem.Epoch, mem.Assignment[0].Partitions...)
		if r.Err != nil || r.MemberEpoch != mem.Epoch || r.Assignment != nil {
			t.Fatalf("%s heartbeat after reload: %+v", mem.ID, r)
		}
	}
	n := len(h.written)
	h.beat("m1", 2, keep...)
	if len(h.written) != n {
		t.Fatalf("a steady heartbeat after reload wrote %d records", len(h.written)-n)
	}

	// m2 leaves: its records are tombstoned, m1 takes everything.
	if r := h.hb(ConsumerHeartbeatRequest{MemberID: "m2", MemberEpoch: EpochLeave}); r.Err != nil {
		t.Fatalf("leave: %+v", r)
	}
	h.reload(topicA)
	d, _, _ := h.m.DescribeConsumerGroup("g")
	if len(d.Members) != 1 || d.Members[0].ID != "m1" || d.Epoch != 3 {
		t.Fatalf("after m2 left and a reload: %+v", d)
	}
	if r := h.beat("m2", 2); r.Err != ErrUnknownMember {
		t.Fatalf("m2 after leaving and a reload: %+v", r)
	}

	// m1 leaves and the group is deleted: nothing comes back.
	h.hb(ConsumerHeartbeatRequest{MemberID: "m1", MemberEpoch: EpochLeave})
	to = h.id()
	h.m.DeleteGroup(h.now, to, "g")
	h.settle()
	if r := h.replies[to].(*DeleteResult); r.Err != nil {
		t.Fatalf("delete: %v", r.Err)
	}
	h.reload(topicA)
	if ls, _ := h.m.ListGroups(nil, nil); len(ls) != 0 {
		t.Fatalf("groups after deletion and a reload: %+v", ls)
	}
	h.reloadFrom(compacted(h.written), topicA)
	if ls, _ := h.m.ListGroups(nil, nil); len(ls) != 0 {
		t.Fatalf("groups after deletion and a reload of the compacted log: %+v", ls)
	}
}

// TestConsumerMetadataChange: more partitions for a subscribed topic mean
// a new epoch and target.
func TestConsumerMetadataChange(t *testing.T) {
	h := newConsumerHarness(t, topicA)
	h.cjoin("m1", "a")
	grown := topicA
	grown.Partitions = 6
	h.m.SetTopics(h.now, []TopicMeta{grown})
	h.settle()
	r := h.beat("m1", 1, 0, 1, 2, 3)
	if r.MemberEpoch != 2 {
		t.Fatalf("epoch after partitions were added %d, want 2", r.MemberEpoch)
	}
	wantParts(t, "after growth", r.Assignment, 0, 1, 2, 3, 4, 5)
}

func TestAssignors(t *testing.T) {
	mk := func(topics ...string) *consumerMember {
		slices.Sort(topics)
		return &consumerMember{topics: topics}
	}
	count := func(a map[string]partSet) map[string]int {
		out := map[string]int{}
		for id, s := range a {
			out[id] = len(s)
		}
		return out
	}
	topics := map[string]TopicMeta{"a": topicA, "b": topicB}
	for _, c := range []struct {
		name     string
		assignor string
		members  map[string]*consumerMember
		want     map[string]int
	}{
		{"uniform even", AssignorUniform, map[string]*consumerMember{"x": mk("a"), "y": mk("a")}, map[string]int{"x": 2, "y": 2}},
		{"uniform three", AssignorUniform, map[string]*consumerMember{"x": mk("a", "b"), "y": mk("a", "b"), "z": mk("a", "b")}, map[string]int{"x": 2, "y": 2, "z": 2}},
		{"uniform uneven subscriptions", AssignorUniform, map[string]*consumerMember{"x": mk("a", "b"), "y": mk("b")}, map[string]int{"x": 4, "y": 2}},
		{"uniform more members than partitions", AssignorUniform, map[string]*consumerMember{"v": mk("b"), "w": mk("b"), "x": mk("b")}, map[string]int{"v": 1, "w": 1, "x": 0}},
		{"range", AssignorRange, map[string]*consumerMember{"x": mk("a", "b"), "y": mk("a", "b"), "z": mk("a")}, map[string]int{"x": 3, "y": 2, "z": 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := computeTarget(c.assignor, c.members, topics, nil)
			if fmt.Sprint(count(got)) != fmt.Sprint(c.want) {
				t.Fatalf("counts %v, want %v", count(got), c.want)
			}
			seen := partSet{}
			for id, s := range got {
				for p := range s {
					if seen.has(p) {
						t.Fatalf("partition %v assigned twice", p)
					}
					seen[p] = struct{}{}
					if !c.members[id].subscribes(map[TopicID]string{topicA.ID: "a", topicB.ID: "b"}[p.Topic]) {
						t.Fatalf("%s got %v of a topic it does not subscribe to", id, p)
					}
				}
			}
		})
	}
	// Uniform is sticky: a third member takes partitions without moving
	// any between the first two.
	members := map[string]*consumerMember{"x": mk("a", "b"), "y": mk("a", "b")}
	before := computeTarget(AssignorUniform, members, topics, nil)
	members["z"] = mk("a", "b")
	after := computeTarget(AssignorUniform, members, topics, before)
	for _, id := range []string{"x", "y"} {
		if !isSubset(after[id], before[id]) {
			t.Fatalf("%s moved: %v -> %v", id, before[id].list(), after[id].list())
		}
	}
	if len(after["z"]) != 2 {
		t.Fatalf("new member got %d partitions, want 2", len(after["z"]))
	}
}

// sampleConsumerGroup is a group with one static member in the middle of
// a revocation, every field of its records set.
func sampleConsumerGroup() *consumerGroup {
	cg := newConsumerGroup("g", 0, time.Unix(0, 0))
	cg.epoch, cg.assignmentEpoch = 3, 3
	cg.members["m1"] = &consumerMember{id: "m1", instanceID: ptr("i1"), rackID: ptr("r1"), clientID: "c", clientHost: "/h",
		epoch: 3, prevEpoch: 2, state: memberUnrevoked, topics: []string{"a", "b"}, regex: "a.*", assignor: AssignorRange,
		rebalanceTimeout: time.Minute,
		assigned:         partSet{{topicA.ID, 0}: {}, {topicB.ID, 1}: {}}, revoking: partSet{{topicA.ID, 1}: {}}}
	cg.static["i1"] = "m1"
	cg.target["m1"] = partSet{{topicA.ID, 0}: {}, {topicB.ID, 1}: {}}
	return cg
}

// TestConsumerRecordsRoundTrip writes a group's records and reads them
// back: every field of the member, its target and the epochs survive.
func TestConsumerRecordsRoundTrip(t *testing.T) {
	cg := sampleConsumerGroup()
	l := NewLoader(0)
	for _, r := range cg.persist() {
		if err := l.Apply(r.Key, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.buildConsumers(time.Unix(0, 0), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	g := got["g"]
	if g == nil || g.epoch != 3 || g.assignmentEpoch != 3 || g.static["i1"] != "m1" {
		t.Fatalf("group %+v", g)
	}
	want, mem := cg.members["m1"], g.members["m1"]
	if mem == nil {
		t.Fatal("member m1 not loaded")
	}
	if *mem.instanceID != "i1" || *mem.rackID != "r1" || mem.re == nil || !mem.re.MatchString("ab") || mem.re.MatchString("ba") {
		t.Fatalf("member %+v", *mem)
	}
	a, b := *mem, *want
	a.re, b.re, a.instanceID, b.instanceID, a.rackID, b.rackID = nil, nil, nil, nil, nil, nil
	a.sessionDeadline, a.rebalanceDeadline = time.Time{}, time.Time{}
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
		t.Fatalf("member\n%+v\nwant\n%+v", a, b)
	}
	if !samePartitions(g.target["m1"], cg.target["m1"]) || len(g.owners) != 3 {
		t.Fatalf("target %v owners %v", g.target, g.owners)
	}
	// Written again unchanged, nothing differs.
	if recs := g.persist(); len(recs) != 0 {
		t.Fatalf("a loaded group writes %d records before any change", len(recs))
	}
}

// FuzzConsumerRecords replays a fuzzed KIP-848 record after a valid
// group's records: decoding and building never panic, and a record that
// does not decode is an error, never a member made of garbage.
func FuzzConsumerRecords(f *testing.F) {
	base := sampleConsumerGroup().persist()
	for _, r := range base {
		fuzzseed.Add(f, r.Key, r.Value)
	}
	fuzzseed.Add(f, consumerRecordKey(consumerGroupCurrentAssignmentKeyType, "g", ptr("m1")), []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		l := NewLoader(0)
		for _, r := range base {
			if err := l.Apply(r.Key, r.Value); err != nil {
				t.Fatal(err)
			}
		}
		if l.Apply(key, value) != nil {
			return
		}
		_, _ = l.buildConsumers(time.Unix(0, 0), testConfig()) // must not panic
	})
}
