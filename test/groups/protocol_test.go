package groups_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// rawConn sends requests at exact versions, which a client library would
// negotiate away.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	f    *kmsg.RequestFormatter
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))}
}

// do sends req at version v and decodes the response.
func (rc *rawConn) do(req kmsg.Request, v int16) kmsg.Response {
	rc.t.Helper()
	return rc.recv(req, v, rc.send(req, v))
}

// send writes req at version v without waiting for its answer and returns
// its correlation id.
func (rc *rawConn) send(req kmsg.Request, v int16) int32 {
	rc.t.Helper()
	req.SetVersion(v)
	rc.corr++
	rc.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := rc.c.Write(rc.f.AppendRequest(nil, req, rc.corr)); err != nil {
		rc.t.Fatalf("write %s v%d: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	return rc.corr
}

// recv reads the next response, which must answer req (sent at version v
// with correlation id corr).
func (rc *rawConn) recv(req kmsg.Request, v int16, corr int32) kmsg.Response {
	rc.t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err != nil {
		rc.t.Fatalf("read %s v%d: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.r, buf); err != nil {
		rc.t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != corr {
		rc.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	buf = buf[4:]
	resp := req.ResponseKind()
	resp.SetVersion(v)
	if resp.IsFlexible() {
		buf = buf[1:] // empty response header tags
	}
	if err := resp.ReadFrom(buf); err != nil {
		rc.t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	return resp
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wc := int16(0)
	if want != nil {
		wc = want.Code
	}
	if got != wc {
		t.Errorf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

func TestFindCoordinatorMatchesMetadata(t *testing.T) {
	b := startBroker(t)
	rc := dialRaw(t, b.Addr())
	host, port, _ := net.SplitHostPort(b.Addr())
	md := rc.do(kmsg.NewPtrMetadataRequest(), 12).(*kmsg.MetadataResponse)
	if len(md.Brokers) != 1 || md.Brokers[0].Host != host || strconv.Itoa(int(md.Brokers[0].Port)) != port {
		t.Fatalf("metadata brokers %+v", md.Brokers)
	}
	node := md.Brokers[0].NodeID
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "some-group"
		resp := rc.do(req, v).(*kmsg.FindCoordinatorResponse)
		wantCode(t, "v"+strconv.Itoa(int(v)), resp.ErrorCode, nil)
		if resp.NodeID != node || resp.Host != host || strconv.Itoa(int(resp.Port)) != port {
			t.Errorf("v%d: coordinator %d %s:%d, metadata says %d %s", v, resp.NodeID, resp.Host, resp.Port, node, b.Addr())
		}
	}
	for v := int16(4); v <= 6; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{"a", "b", ""}
		resp := rc.do(req, v).(*kmsg.FindCoordinatorResponse)
		if len(resp.Coordinators) != 3 {
			t.Fatalf("v%d: %d coordinators for 3 keys", v, len(resp.Coordinators))
		}
		for _, c := range resp.Coordinators {
			wantCode(t, "key "+c.Key, c.ErrorCode, nil)
			if c.NodeID != node || c.Host != host || strconv.Itoa(int(c.Port)) != port {
				t.Errorf("v%d key %q: coordinator %d %s:%d", v, c.Key, c.NodeID, c.Host, c.Port)
			}
		}
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys, req.CoordinatorType = []string{"txn"}, 1
	resp := rc.do(req, 4).(*kmsg.FindCoordinatorResponse)
	// The transaction coordinator: __transaction_state is created on this
	// first use, and its leader (this node) named, as Metadata names it.
	c := resp.Coordinators[0]
	wantCode(t, "transaction coordinator", c.ErrorCode, nil)
	if c.NodeID != node || c.Host != host || strconv.Itoa(int(c.Port)) != port {
		t.Errorf("transaction coordinator %d %s:%d, metadata says %d %s", c.NodeID, c.Host, c.Port, node, b.Addr())
	}
	req.CoordinatorType = 9
	resp = rc.do(req, 4).(*kmsg.FindCoordinatorResponse)
	wantCode(t, "unknown key type", resp.Coordinators[0].ErrorCode, kerr.InvalidRequest)
}

func TestGroupErrorsOnTheWire(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	rc := dialRaw(t, b.Addr())
	g := groupName(t)

	join := func(v int16, memberID string, session int32) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = g, memberID, session, 10000
		req.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", (&kmsg.ConsumerMemberMetadata{Topics: []string{topic}}).AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		return rc.do(req, v).(*kmsg.JoinGroupResponse)
	}
	wantCode(t, "join with a 1s session", join(9, "", 1000).ErrorCode, kerr.InvalidSessionTimeout)
	first := join(9, "", 10000)
	wantCode(t, "v9 join without member id", first.ErrorCode, kerr.MemberIDRequired)
	if first.MemberID == "" {
		t.Fatal("MEMBER_ID_REQUIRED without a member id")
	}
	wantCode(t, "join with an unknown member id", join(9, "stranger", 10000).ErrorCode, kerr.UnknownMemberID)
	j := join(9, first.MemberID, 10000)
	wantCode(t, "join with the given id", j.ErrorCode, nil)
	if j.Generation != 1 || j.LeaderID != first.MemberID || len(j.Members) != 1 || j.Protocol == nil || *j.Protocol != "range" {
		t.Fatalf("join answer %+v", j)
	}

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = g, 1, "stranger"
	wantCode(t, "heartbeat unknown member", rc.do(hb, 4).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = g, 1, j.MemberID
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = j.MemberID, []byte("assignment")
	sync.GroupAssignment = append(sync.GroupAssignment, a)
	s := rc.do(sync, 5).(*kmsg.SyncGroupResponse)
	wantCode(t, "sync", s.ErrorCode, nil)
	if string(s.MemberAssignment) != "assignment" {
		t.Fatalf("sync assignment %q", s.MemberAssignment)
	}
	sync.Generation = 2
	wantCode(t, "sync at a future generation", rc.do(sync, 5).(*kmsg.SyncGroupResponse).ErrorCode, kerr.IllegalGeneration)

	commit := func(v int16, group string, gen int32, member, topic string) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation, req.MemberID = group, gen, member
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 1, 42
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.do(req, v).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "commit v9 unknown group", commit(9, "nobody", 1, "m", topic), kerr.GroupIDNotFound)
	wantCode(t, "commit v8 unknown group", commit(8, "nobody", 1, "m", topic), kerr.IllegalGeneration)
	wantCode(t, "commit unknown topic", commit(9, g, 1, j.MemberID, "no-such-topic"), kerr.UnknownTopicOrPartition)
	wantCode(t, "commit wrong generation", commit(9, g, 5, j.MemberID, topic), kerr.IllegalGeneration)
	wantCode(t, "commit as the member", commit(9, g, 1, j.MemberID, topic), nil)
	wantCode(t, "simple commit", commit(2, "simple-"+g, -1, "", topic), nil)
	wantCode(t, "commit v0", commit(0, "v0-"+g, -1, "", topic), nil)

	// OffsetFetch v8: batched groups, null topics for everything.
	of := kmsg.NewPtrOffsetFetchRequest()
	for _, id := range []string{g, "unknown-" + g} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = id
		of.Groups = append(of.Groups, rg)
	}
	ofr := rc.do(of, 8).(*kmsg.OffsetFetchResponse)
	if len(ofr.Groups) != 2 || len(ofr.Groups[0].Topics) != 1 || ofr.Groups[0].Topics[0].Partitions[0].Offset != 42 || len(ofr.Groups[1].Topics) != 0 {
		t.Fatalf("offset fetch v8 %+v", ofr.Groups)
	}
	// OffsetFetch v1: a partition with no commit gets -1.
	of1 := kmsg.NewPtrOffsetFetchRequest()
	of1.Group = "v0-" + g
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = topic, []int32{0, 1}
	of1.Topics = append(of1.Topics, ft)
	p1 := rc.do(of1, 1).(*kmsg.OffsetFetchResponse).Topics[0].Partitions
	if p1[0].Offset != -1 || p1[1].Offset != 42 {
		t.Fatalf("offset fetch v1 %+v", p1)
	}

	lg := kmsg.NewPtrListGroupsRequest()
	lg.StatesFilter, lg.TypesFilter = []string{"stable"}, []string{"Classic"}
	lgr := rc.do(lg, 5).(*kmsg.ListGroupsResponse)
	if len(lgr.Groups) != 1 || lgr.Groups[0].Group != g || lgr.Groups[0].ProtocolType != "consumer" || lgr.Groups[0].GroupType != "classic" {
		t.Fatalf("list groups (Stable) %+v", lgr.Groups)
	}

	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{g, "unknown-" + g}
	dgr := rc.do(dg, 5).(*kmsg.DescribeGroupsResponse)
	if d := dgr.Groups[0]; d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 1 || string(d.Members[0].MemberAssignment) != "assignment" || d.Members[0].ClientHost != "/127.0.0.1" {
		t.Fatalf("describe %+v", d)
	}
	if d := dgr.Groups[1]; d.State != "Dead" || d.ErrorCode != 0 {
		t.Fatalf("describe unknown %+v", d)
	}

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{g, "simple-" + g, "unknown-" + g}
	delr := rc.do(del, 2).(*kmsg.DeleteGroupsResponse)
	wantCode(t, "delete group with members", delr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "delete simple group", delr.Groups[1].ErrorCode, nil)
	wantCode(t, "delete unknown group", delr.Groups[2].ErrorCode, kerr.GroupIDNotFound)

	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = g
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}
	od.Topics = append(od.Topics, odt)
	odr := rc.do(od, 0).(*kmsg.OffsetDeleteResponse)
	wantCode(t, "offset delete, top level", odr.ErrorCode, nil)
	wantCode(t, "offset delete of a subscribed topic", odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)

	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group = g
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = j.MemberID
	lv.Members = append(lv.Members, m, kmsg.LeaveGroupRequestMember{MemberID: "ghost"})
	lvr := rc.do(lv, 5).(*kmsg.LeaveGroupResponse)
	wantCode(t, "leave", lvr.Members[0].ErrorCode, nil)
	wantCode(t, "leave of an unknown member", lvr.Members[1].ErrorCode, kerr.UnknownMemberID)
	// Now Empty: its offsets can go, then the group.
	odr = rc.do(od, 0).(*kmsg.OffsetDeleteResponse)
	wantCode(t, "offset delete of an empty group", odr.Topics[0].Partitions[0].ErrorCode, nil)
	del.Groups = []string{g}
	wantCode(t, "delete emptied group", rc.do(del, 2).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := testkit.NewAdmin(t, b.Addr()).ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ls[g]; ok {
		t.Fatalf("deleted group still listed: %v", ls.Groups())
	}
}
