package diff

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestGroups(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "find-coordinator", key: 10, short: false, run: findCoordinator},
		{name: "join", key: 11, short: true, run: joinGroup},
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

func joinGroup(s *session, v int16) {
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
		r.Version = s.newest(14)
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
		r.Version = s.newest(12)
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
	leave.Version = s.newest(13)
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
