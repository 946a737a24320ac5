package groups_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// TestKIP848MatchesKafka runs one sequence of raw KIP-848 requests against
// Strom and Apache Kafka and compares the answers: error codes, member
// and group epochs, how many partitions each answer hands out, the group
// as ConsumerGroupDescribe, DescribeGroups and ListGroups show it. Member
// ids are the client's, so they compare as they are; which partitions the
// assignor picks may differ, so only counts are compared.
func TestKIP848MatchesKafka(t *testing.T) {
	ref := kafkaref.Start(t, kafkaref.Options{})
	b := startBroker(t)
	want := transcript848(t, ref.Addr())
	got := transcript848(t, b.Addr())
	if !slices.Equal(got, want) {
		t.Errorf("Strom and Kafka answer differently")
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			mark := "  "
			if g != w {
				mark = "!="
			}
			t.Logf("%s strom: %-60s kafka: %s", mark, g, w)
		}
	}
}

func transcript848(t *testing.T, addr string) []string {
	t.Helper()
	topic := "kip848-diff"
	testkit.CreateTopic(t, addr, topic, partitions848, nil)
	cl := testkit.NewClient(t, addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const group = "kip848-diff-group"
	var out []string
	var topicID [16]byte

	// request retries while the coordinator is not ready yet.
	request := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		for {
			resp, err := cl.Request(ctx, req)
			if hb, ok := resp.(*kmsg.ConsumerGroupHeartbeatResponse); ok && err == nil {
				err = kerr.ErrorForCode(hb.ErrorCode)
			}
			switch {
			case errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.NotCoordinator), errors.Is(err, kerr.CoordinatorLoadInProgress):
				select {
				case <-ctx.Done():
					t.Fatalf("coordinator never became available: %v", err)
				case <-time.After(100 * time.Millisecond): // poll again
				}
				continue
			case err != nil && resp == nil:
				t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
			}
			return resp
		}
	}
	type hbArgs struct {
		member        string
		epoch         int32
		instance      *string
		owned         []int32 // nil: not sent
		join          bool    // send a subscription and rebalance timeout
		assignor      *string
		group         string
		nullOwnedJoin bool
	}
	var last map[string][]int32 // partitions last assigned, per member
	last = map[string][]int32{}
	hb := func(what string, a hbArgs) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch, req.InstanceID, req.ServerAssignor = group, a.member, a.epoch, a.instance, a.assignor
		if a.group != "" {
			req.Group = a.group
		}
		if a.join {
			req.RebalanceTimeoutMillis = 30000
			req.SubscribedTopicNames = []string{topic}
			if !a.nullOwnedJoin {
				req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			}
		}
		if a.owned != nil {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicID, Partitions: a.owned}}
		}
		resp := request(req).(*kmsg.ConsumerGroupHeartbeatResponse)
		line := fmt.Sprintf("%s: %s epoch=%d", what, errName(resp.ErrorCode), resp.MemberEpoch)
		if resp.ErrorCode == 0 {
			line += fmt.Sprintf(" interval=%d", resp.HeartbeatIntervalMillis)
		}
		if resp.MemberID != nil && *resp.MemberID != a.member {
			line += " member-id-changed"
		}
		if resp.Assignment != nil {
			var ps []int32
			for _, at := range resp.Assignment.Topics {
				topicID = at.TopicID
				ps = append(ps, at.Partitions...)
			}
			slices.Sort(ps)
			last[a.member] = ps
			line += fmt.Sprintf(" assigned=%d", len(ps))
		} else {
			line += " assignment=null"
		}
		out = append(out, line)
		return resp
	}
	describe := func(what string) {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group, "kip848-no-such-group"}
		resp := request(req).(*kmsg.ConsumerGroupDescribeResponse)
		for _, g := range resp.Groups {
			line := fmt.Sprintf("%s: describe %s %s state=%s epoch=%d assignment-epoch=%d assignor=%s", what, g.Group, errName(g.ErrorCode), g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName)
			members := slices.Clone(g.Members)
			slices.SortFunc(members, func(a, b kmsg.ConsumerGroupDescribeResponseGroupMember) int {
				return strings.Compare(a.MemberID, b.MemberID)
			})
			for _, m := range members {
				n := func(a kmsg.Assignment) int {
					c := 0
					for _, tp := range a.TopicPartitions {
						c += len(tp.Partitions)
						if tp.Topic != topic {
							t.Errorf("assignment names topic %q", tp.Topic)
						}
					}
					return c
				}
				line += fmt.Sprintf(" [%s epoch=%d client=%s topics=%v assigned=%d target=%d type=%d]", m.MemberID, m.MemberEpoch, m.ClientID, m.SubscribedTopics, n(m.Assignment), n(m.TargetAssignment), m.MemberType)
			}
			out = append(out, line)
		}
	}

	// Request validation.
	hb("join without owned partitions", hbArgs{member: "m1", join: true, nullOwnedJoin: true})
	hb("epoch -3", hbArgs{member: "m1", epoch: -3})
	hb("static leave without instance", hbArgs{member: "m1", epoch: -2})
	hb("unknown assignor", hbArgs{member: "m1", join: true, assignor: kmsg.StringPtr("sticky")})
	hb("unknown group", hbArgs{member: "m1", epoch: 3, group: "kip848-no-such-group"})

	// Two members share the topic: m2's partitions come only after m1
	// gave them up.
	hb("m1 joins", hbArgs{member: "m1", join: true})
	describe("one member")
	hb("m2 joins", hbArgs{member: "m2", join: true})
	describe("m2 joined")
	hb("m1 still owns all", hbArgs{member: "m1", epoch: 1, owned: []int32{0, 1, 2, 3}})
	keep := last["m1"]
	hb("m1 again", hbArgs{member: "m1", epoch: 1, owned: []int32{0, 1, 2, 3}})
	hb("m2 waits", hbArgs{member: "m2", epoch: 2, owned: []int32{}})
	hb("m1 revoked", hbArgs{member: "m1", epoch: 1, owned: keep})
	hb("m2 gets its share", hbArgs{member: "m2", epoch: 2, owned: []int32{}})
	hb("m2 owns its share", hbArgs{member: "m2", epoch: 2, owned: last["m2"]})
	describe("stable")

	// Fencing.
	hb("epoch ahead", hbArgs{member: "m1", epoch: 9, owned: keep})
	hb("previous epoch, subset", hbArgs{member: "m1", epoch: 1, owned: keep})
	hb("previous epoch, too much", hbArgs{member: "m1", epoch: 1, owned: []int32{0, 1, 2, 3}})
	hb("unknown member", hbArgs{member: "m9", epoch: 2, owned: []int32{}})

	// Offsets with member epochs.
	commit := func(what, member string, epoch int32) {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 9
		req.Group, req.MemberID, req.Generation = group, member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = keep[0], 5
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := request(req).(*kmsg.OffsetCommitResponse)
		out = append(out, fmt.Sprintf("%s: commit %s", what, errName(resp.Topics[0].Partitions[0].ErrorCode)))
	}
	commit("commit at the member epoch", "m1", 2)
	commit("commit from an unknown member", "m9", 2)

	// The classic APIs' view of a consumer group.
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{group}
	// At v5, the highest Strom serves.
	v5 := kversion.Stable()
	v5.SetMaxKeyVersion(dg.Key(), 5)
	dcl := testkit.NewClient(t, addr, kgo.MaxVersions(v5))
	defer dcl.Close()
	dresp, err := dg.RequestWith(ctx, dcl)
	if err != nil {
		t.Fatalf("DescribeGroups: %v", err)
	}
	out = append(out, fmt.Sprintf("DescribeGroups: %s state=%s members=%d", errName(dresp.Groups[0].ErrorCode), dresp.Groups[0].State, len(dresp.Groups[0].Members)))
	lg := kmsg.NewPtrListGroupsRequest()
	lg.TypesFilter = []string{"consumer"}
	lresp := request(lg).(*kmsg.ListGroupsResponse)
	for _, g := range lresp.Groups {
		if g.Group == group {
			out = append(out, fmt.Sprintf("ListGroups: %s type=%s protocol-type=%s state=%s", g.Group, g.GroupType, g.ProtocolType, g.GroupState))
		}
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{group}
	delResp := request(del).(*kmsg.DeleteGroupsResponse)
	out = append(out, fmt.Sprintf("DeleteGroups with members: %s", errName(delResp.Groups[0].ErrorCode)))

	// m2 leaves: m1 takes everything over.
	hb("m2 leaves", hbArgs{member: "m2", epoch: -1})
	hb("m1 after m2 left", hbArgs{member: "m1", epoch: 2, owned: keep})
	describe("after leave")
	hb("m1 leaves", hbArgs{member: "m1", epoch: -1})
	describe("empty")
	delResp = request(del).(*kmsg.DeleteGroupsResponse)
	out = append(out, fmt.Sprintf("DeleteGroups when empty: %s", errName(delResp.Groups[0].ErrorCode)))

	// A static member leaves for now (epoch -2) and a new process with
	// its instance id takes its place and partitions.
	inst := kmsg.StringPtr("instance-1")
	hb("static s1 joins", hbArgs{member: "s1", instance: inst, join: true})
	hb("s2 with s1's instance id", hbArgs{member: "s2", instance: inst, join: true})
	hb("s1 with another instance id", hbArgs{member: "s1", instance: kmsg.StringPtr("instance-2"), epoch: 5, owned: []int32{}})
	hb("s1 leaves for now", hbArgs{member: "s1", instance: inst, epoch: -2})
	describe("static member away")
	hb("s2 takes s1's place", hbArgs{member: "s2", instance: inst, join: true})
	hb("s1 comes back late", hbArgs{member: "s1", instance: inst, epoch: 5, owned: []int32{}})
	describe("static member replaced")
	hb("s2 leaves", hbArgs{member: "s2", instance: inst, epoch: -1})
	return out
}

func errName(code int16) string {
	if code == 0 {
		return "OK"
	}
	return kerr.ErrorForCode(code).Error()
}
