package diff

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestGroups(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "find-coordinator", key: 10, short: false, run: findCoordinator},
		{name: "join", key: 11, short: true, run: groupFlow(11)},
		{name: "sync", key: 14, short: false, run: groupFlow(14)},
		{name: "heartbeat", key: 12, short: false, run: groupFlow(12)},
		{name: "leave", key: 13, short: false, run: groupFlow(13)},
		{name: "offsets", key: 8, short: true, run: offsetCommitFetch},
		{name: "offset-fetch", key: 9, short: false, run: offsetFetchVersions},
	})
}

func findCoordinatorReq(v int16, group string) *kmsg.FindCoordinatorRequest {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = v
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	return req
}

// waitCoordinator polls until the group coordinator answers: Kafka creates
// __consumer_offsets on first use.
func (s *session) waitCoordinator(group string) {
	var last int16
	for range 300 {
		r := s.must("find coordinator", findCoordinatorReq(s.newest(10), group)).(*kmsg.FindCoordinatorResponse)
		if len(r.Coordinators) == 1 {
			if last = r.Coordinators[0].ErrorCode; last == 0 && s.coordinatorLoaded(group) {
				return
			}
		}
		sleepPoll()
	}
	s.fail("no coordinator for %s: error %d", group, last)
}

// coordinatorLoaded reports whether the group's coordinator serves it:
// Kafka names a coordinator before it has loaded the group's partition.
func (s *session) coordinatorLoaded(group string) bool {
	r := s.must("offset fetch", fetchOffsetsReq(s.newest(9), group, "none")).(*kmsg.OffsetFetchResponse)
	code := r.ErrorCode
	if len(r.Groups) == 1 {
		code = r.Groups[0].ErrorCode
	}
	return code == 0
}

func findCoordinator(s *session, v int16) {
	g := s.topic("g")
	s.waitCoordinator(g)
	s.do("group", findCoordinatorReq(v, g))
	if v >= 1 {
		s.waitTxnCoordinator(s.topic("txn"))
		txn := findCoordinatorReq(v, s.topic("txn"))
		txn.CoordinatorType = 1
		s.do("transaction", txn)
		bad := findCoordinatorReq(v, g)
		bad.CoordinatorType = 9
		s.do("unknown coordinator type", bad)
	}
}

func joinReq(v int16, group, member string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = v
	req.Group = group
	req.MemberID = member
	req.SessionTimeoutMillis = 10000
	req.RebalanceTimeoutMillis = 10000
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name = "range"
	p.Metadata = []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	req.Protocols = append(req.Protocols, p)
	return req
}

// groupFlow runs one member through join, sync, heartbeats and leave, with
// the API key under test at the scenario's version and the others at
// their newest.
func groupFlow(key int16) func(s *session, v int16) {
	return func(s *session, v int16) {
		joinGroup(s, func(k int16) int16 {
			if k == key {
				return v
			}
			return s.newest(k)
		})
	}
}

func joinGroup(s *session, ver func(int16) int16) {
	v := ver(11)
	g := s.topic("g")
	s.waitCoordinator(g)
	resp := s.do("join without member id", joinReq(v, g, ""))
	member := ""
	if r, ok := resp.(*kmsg.JoinGroupResponse); ok {
		member = r.MemberID
	}
	resp = s.do("join with the assigned member id", joinReq(v, g, member))
	gen := int32(-1)
	if r, ok := resp.(*kmsg.JoinGroupResponse); ok {
		gen, member = r.Generation, r.MemberID
	}
	s.do("join as an unknown member", joinReq(v, g, "no-such-member"))

	sync := func(gen int32, member string) *kmsg.SyncGroupRequest {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version = ver(14)
		r.Group, r.Generation, r.MemberID = g, gen, member
		r.ProtocolType, r.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = member, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		r.GroupAssignment = append(r.GroupAssignment, a)
		return r
	}
	s.do("sync, illegal generation", sync(gen+5, member))
	s.do("sync", sync(gen, member))
	hb := func(gen int32, member string) *kmsg.HeartbeatRequest {
		r := kmsg.NewPtrHeartbeatRequest()
		r.Version = ver(12)
		r.Group, r.Generation, r.MemberID = g, gen, member
		return r
	}
	s.do("heartbeat", hb(gen, member))
	s.do("heartbeat, unknown member", hb(gen, "no-such-member"))
	s.do("heartbeat, illegal generation", hb(gen+1, member))
	s.do("heartbeat, unknown group", func() *kmsg.HeartbeatRequest {
		r := hb(gen, member)
		r.Group = s.topic("other")
		return r
	}())
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = ver(13)
	leave.Group, leave.MemberID = g, member
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = member
	leave.Members = append(leave.Members, lm)
	s.do("leave", leave)
	s.do("heartbeat after leaving", hb(gen, member))
}

func commitReq(v int16, group, topic string, gen int32, member string, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = v
	req.Group, req.Generation, req.MemberID = group, gen, member
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.Metadata = 0, offset, kmsg.StringPtr("meta")
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func fetchOffsetsReq(v int16, group, topic string) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = v
	req.Group = group
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	t := kmsg.NewOffsetFetchRequestTopic()
	t.Topic = topic
	t.Partitions = []int32{0, 1}
	req.Topics = append(req.Topics, t)
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic = topic
	gt.Partitions = []int32{0, 1}
	rg.Topics = append(rg.Topics, gt)
	req.Groups = append(req.Groups, rg)
	return req
}

func offsetCommitFetch(s *session, v int16) {
	g, name := s.topic("g"), s.topic("t")
	s.createTopic(name, 1, nil)
	s.waitCoordinator(g)
	fv := s.newest(9)
	s.do("commit, simple (generation -1)", commitReq(v, g, name, -1, "", 5))
	s.do("fetch", fetchOffsetsReq(fv, g, name))
	s.do("commit, unknown member of an empty group", commitReq(v, g, name, 3, "no-such-member", 6))
	s.do("commit, unknown topic", commitReq(v, g, s.topic("missing"), -1, "", 1))

	join := joinReq(s.newest(11), g, "")
	join.Version = s.newest(11)
	resp := s.must("join", join).(*kmsg.JoinGroupResponse)
	resp = s.must("join", joinReq(s.newest(11), g, resp.MemberID)).(*kmsg.JoinGroupResponse)
	if resp.ErrorCode != 0 {
		s.fail("join: error %d", resp.ErrorCode)
	}
	gen, member := resp.Generation, resp.MemberID
	s.do("commit, member, right generation", commitReq(v, g, name, gen, member, 7))
	s.do("commit, illegal generation", commitReq(v, g, name, gen+3, member, 8))
	s.do("commit, unknown member", commitReq(v, g, name, gen, "no-such-member", 8))
	s.do("commit, simple while the group has members", commitReq(v, g, name, -1, "", 9))
	s.do("fetch after", fetchOffsetsReq(fv, g, name))
	s.do("fetch, unknown group", fetchOffsetsReq(fv, s.topic("nogroup"), name))
}

func offsetFetchVersions(s *session, v int16) {
	g, name := s.topic("g"), s.topic("t")
	s.createTopic(name, 1, nil)
	s.waitCoordinator(g)
	s.must("commit", commitReq(s.newest(8), g, name, -1, "", 11))
	s.do("fetch", fetchOffsetsReq(v, g, name))
	if v >= 2 {
		all := fetchOffsetsReq(v, g, name)
		all.Topics = nil
		if len(all.Groups) > 0 {
			all.Groups[0].Topics = nil
		}
		s.do("fetch all topics", all)
	}
	s.do("fetch, unknown group", fetchOffsetsReq(v, s.topic("nogroup"), name))
}

func TestGroupAdmin(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "describe-list-delete", key: 15, short: false, run: groupAdmin},
	})
}

// groupAdmin describes, lists and deletes groups: one with a member, one
// with only committed offsets.
func groupAdmin(s *session, v int16) {
	g, empty, name := s.topic("g"), s.topic("empty"), s.topic("t")
	s.createTopic(name, 1, nil)
	s.waitCoordinator(g)
	s.waitCoordinator(empty)
	s.must("commit", commitReq(s.newest(8), empty, name, -1, "", 3))
	join := s.must("join", joinReq(s.newest(11), g, "")).(*kmsg.JoinGroupResponse)
	join = s.must("join", joinReq(s.newest(11), g, join.MemberID)).(*kmsg.JoinGroupResponse)
	if join.ErrorCode != 0 {
		s.fail("join: error %d", join.ErrorCode)
	}

	s.waitGroupListed(g)
	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Version = v
	describe.Groups = []string{g, empty, s.topic("missing")}
	describe.IncludeAuthorizedOperations = v >= 3
	s.do("describe", describe)

	list := kmsg.NewPtrListGroupsRequest()
	list.Version = s.newest(16)
	if resp, err := s.send(list); err != nil {
		s.record("list", transportOutcome(err))
	} else {
		r := resp.(*kmsg.ListGroupsResponse)
		keep := r.Groups[:0]
		for _, gr := range r.Groups {
			if gr.Group == g || gr.Group == empty {
				keep = append(keep, gr)
			}
		}
		r.Groups = keep
		s.record("list (this scenario's groups)", normalize(r))
	}

	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Version = s.newest(47)
	od.Group = empty
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = name
	odp := kmsg.NewOffsetDeleteRequestTopicPartition()
	odp.Partition = 0
	odt.Partitions = append(odt.Partitions, odp)
	od.Topics = append(od.Topics, odt)
	s.do("offset delete, empty group", od)

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = s.newest(42)
	del.Groups = []string{g, empty, s.topic("missing")}
	s.do("delete", del)
	s.do("describe after delete", describe)
}

// waitGroupListed polls until DescribeGroups shows the group alive: Kafka's
// coordinator serves reads from its last committed state, which trails a
// JoinGroup answer (docs/compatibility.md#group-read-after-write).
func (s *session) waitGroupListed(group string) {
	var state string
	for range 300 {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version = s.newest(15)
		req.Groups = []string{group}
		r := s.must("describe group", req).(*kmsg.DescribeGroupsResponse)
		if len(r.Groups) == 1 {
			if state = r.Groups[0].State; state != "Dead" && state != "" {
				return
			}
		}
		sleepPoll()
	}
	s.fail("group %s is %q", group, state)
}

// waitTxnCoordinator polls, on a broker that implements transactions
// (advertises AddPartitionsToTxn), until FindCoordinator names a
// transaction coordinator: Kafka creates __transaction_state on first use.
func (s *session) waitTxnCoordinator(id string) {
	versions := s.p.kafkaVersions
	if s.side == "strom" {
		versions = s.p.stromVersions
	}
	if _, ok := versions[24]; !ok {
		return
	}
	var last int16
	for range 300 {
		req := findCoordinatorReq(s.newest(10), id)
		req.CoordinatorType = 1
		r := s.must("find transaction coordinator", req).(*kmsg.FindCoordinatorResponse)
		if len(r.Coordinators) == 1 {
			if last = r.Coordinators[0].ErrorCode; last == 0 {
				return
			}
		}
		sleepPoll()
	}
	s.fail("no transaction coordinator: error %d", last)
}
