package quota_test

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// rawConn speaks the Kafka protocol over one TCP connection with a fixed
// client id, at exactly the versions asked, so what the broker does with
// the connection (the mute) is what the test sees.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	f    *kmsg.RequestFormatter
	corr int32
}

func dialRaw(t *testing.T, addr, clientID string) *rawConn {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
}

func (r *rawConn) send(req kmsg.Request) int32 {
	r.t.Helper()
	r.corr++
	r.c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := r.c.Write(r.f.AppendRequest(nil, req, r.corr)); err != nil {
		r.t.Fatal(err)
	}
	return r.corr
}

func (r *rawConn) recv(req kmsg.Request, corr int32) kmsg.Response {
	r.t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		r.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, body); err != nil {
		r.t.Fatal(err)
	}
	rd := kbin.Reader{Src: body}
	if got := rd.Int32(); got != corr {
		r.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		kmsg.SkipTags(&rd)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		r.t.Fatal(err)
	}
	return resp
}

func (r *rawConn) call(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	return r.recv(req, r.send(req))
}

func createTopicsReq(version int16, name string, partitions int32) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(version)
	req.TimeoutMillis = 30000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, t)
	return req
}

// TestControllerMutationQuota: controller_mutation_rate as Kafka applies
// it (KIP-599): an old CreateTopics (v5) is taken and throttled, the
// connection muted for the throttle time after the answer (KIP-219);
// meanwhile the same client's strict requests (CreateTopics v6,
// CreatePartitions v3, DeleteTopics v5) are refused with
// THROTTLING_QUOTA_EXCEEDED and a throttle time, and another client is
// untouched.
func TestControllerMutationQuota(t *testing.T) {
	t.Parallel()
	b := testkit.StartBroker(t)
	ctx := ctxFor(t, time.Minute)
	adm := admin(t, b.Addr())
	// 1 partition/s: a burst of 11 (11 windows of 1 s).
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: ent("client-id", "mut"), Ops: []kadm.AlterClientQuotaOp{set("controller_mutation_rate", 1)}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, res)
	}
	c1 := dialRaw(t, b.Addr(), "mut")
	// 15 partitions: the bucket goes to -4, a throttle of 4 s.
	ct := c1.call(createTopicsReq(5, "mut-a", 15)).(*kmsg.CreateTopicsResponse)
	if ct.Topics[0].ErrorCode != 0 {
		t.Fatalf("permissive create: %v", kerr.ErrorForCode(ct.Topics[0].ErrorCode))
	}
	// 4 s less the time the creation took.
	if ct.ThrottleMillis < 1000 || ct.ThrottleMillis > 4000 {
		t.Fatalf("permissive create: throttle %d ms, want up to 4000", ct.ThrottleMillis)
	}
	sent := time.Now()
	corr := c1.send(kmsg.NewPtrApiVersionsRequest())

	// The same client on another connection: strict versions refused.
	c2 := dialRaw(t, b.Addr(), "mut")
	st := c2.call(createTopicsReq(6, "mut-b", 1)).(*kmsg.CreateTopicsResponse)
	if st.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || st.ThrottleMillis <= 0 || st.Topics[0].ErrorMessage == nil || *st.Topics[0].ErrorMessage != "The throttling quota has been exceeded." {
		t.Errorf("strict create: %v %v throttle %d", kerr.ErrorForCode(st.Topics[0].ErrorCode), st.Topics[0].ErrorMessage, st.ThrottleMillis)
	}
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.SetVersion(3)
	cp.TimeoutMillis = 30000
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "mut-a", 16
	cp.Topics = append(cp.Topics, cpt)
	c3 := dialRaw(t, b.Addr(), "mut")
	cpr := c3.call(cp).(*kmsg.CreatePartitionsResponse)
	if cpr.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || cpr.ThrottleMillis <= 0 {
		t.Errorf("strict create partitions: %v throttle %d", kerr.ErrorForCode(cpr.Topics[0].ErrorCode), cpr.ThrottleMillis)
	}
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.SetVersion(5)
	dt.TimeoutMillis = 30000
	dt.TopicNames = []string{"mut-a"}
	c4 := dialRaw(t, b.Addr(), "mut")
	dtr := c4.call(dt).(*kmsg.DeleteTopicsResponse)
	if dtr.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || dtr.ThrottleMillis <= 0 {
		t.Errorf("strict delete: %v throttle %d", kerr.ErrorForCode(dtr.Topics[0].ErrorCode), dtr.ThrottleMillis)
	}
	// Another client id has no quota: never throttled.
	other := dialRaw(t, b.Addr(), "other").call(createTopicsReq(6, "other-a", 20)).(*kmsg.CreateTopicsResponse)
	if other.Topics[0].ErrorCode != 0 || other.ThrottleMillis != 0 {
		t.Errorf("unlimited create: %v throttle %d", kerr.ErrorForCode(other.Topics[0].ErrorCode), other.ThrottleMillis)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("mut-b") || !topics.Has("mut-a") || len(topics["mut-a"].Partitions) != 15 {
		t.Errorf("topics after the refusals: %v", topics.Names())
	}

	// The muted connection answered nothing until the throttle time had
	// passed since the throttled answer.
	c1.recv(kmsg.NewPtrApiVersionsRequest(), corr)
	if waited := time.Since(sent); waited < time.Duration(ct.ThrottleMillis-200)*time.Millisecond {
		t.Errorf("the throttled connection answered after %v, throttle %d ms", waited, ct.ThrottleMillis)
	}
}
