package security_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/testkit"
)

func franzClient(t *testing.T, addr string, tlsCfg *tls.Config, m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append(opts, kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.RetryTimeout(5*time.Second))
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// roundTrip produces one record to a new topic and reads it back.
func roundTrip(t *testing.T, cl *kgo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topic := testkit.TopicName(t, "")
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("secret payload")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "secret payload" {
		t.Fatalf("read back %d records", len(recs))
	}
}

// TestFranzSASLSSL: franz-go over SASL_SSL with SCRAM-SHA-512 (and, in
// the full run, SCRAM-SHA-256 and PLAIN) produces and consumes; a wrong
// password is refused with SASL_AUTHENTICATION_FAILED; each listener's
// Metadata names its own address.
func TestFranzSASLSSL(t *testing.T) {
	sb := startSecureBroker(t, "none")
	mechs := map[string]sasl.Mechanism{"SCRAM-SHA-512": scram.Auth{User: "admin", Pass: adminPassword}.AsSha512Mechanism()}
	if full() {
		mechs["SCRAM-SHA-256"] = scram.Auth{User: "admin", Pass: adminPassword}.AsSha256Mechanism()
		mechs["PLAIN"] = plain.Auth{User: "admin", Pass: adminPassword}.AsMechanism()
	}
	for name, m := range mechs {
		t.Run(name, func(t *testing.T) {
			roundTrip(t, franzClient(t, sb.client, sb.clientTLS(), m))
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		for _, m := range []sasl.Mechanism{
			scram.Auth{User: "admin", Pass: "nope"}.AsSha512Mechanism(),
			plain.Auth{User: "admin", Pass: "nope"}.AsMechanism(),
			scram.Auth{User: "mallory", Pass: "nope"}.AsSha256Mechanism(),
		} {
			cl := franzClient(t, sb.client, sb.clientTLS(), m)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := cl.Ping(ctx)
			cancel()
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("%s with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", m.Name(), err)
			}
		}
	})
	t.Run("listener addresses", func(t *testing.T) {
		for _, c := range []struct {
			addr string
			cl   *kgo.Client
		}{
			{sb.client, franzClient(t, sb.client, sb.clientTLS(), scram.Auth{User: "admin", Pass: adminPassword}.AsSha512Mechanism())},
			{sb.internal, franzClient(t, sb.internal, nil, nil)},
			{sb.saslPlain, franzClient(t, sb.saslPlain, nil, plain.Auth{User: "admin", Pass: adminPassword}.AsMechanism())},
		} {
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), c.cl)
			if err != nil {
				t.Fatalf("metadata via %s: %v", c.addr, err)
			}
			if len(resp.Brokers) != 1 || net.JoinHostPort(resp.Brokers[0].Host, itoa(resp.Brokers[0].Port)) != c.addr {
				t.Fatalf("metadata via %s names %+v", c.addr, resp.Brokers)
			}
		}
	})
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }

// TestScramCredentialAPIs: AlterUserScramCredentials creates a user who
// then logs in with SCRAM; Describe lists it; the bootstrap user is not
// overwritten on restart; bad alterations get Kafka's codes.
func TestScramCredentialAPIs(t *testing.T) {
	sb := startSecureBroker(t, "none")
	raw := franzClient(t, sb.internal, nil, nil)
	admin := kadm.NewClient(raw)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "bob-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if e := res["bob"].Err; e != nil {
		t.Fatalf("bob: %v", e)
	}
	// kadm refuses these before sending; the broker must too.
	bad := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, u := range []struct {
		name       string
		mech       int8
		iterations int32
	}{{"carol", 2, 100}, {"dave", 2, 20000}, {"", 1, 4096}, {"erin", 9, 4096}, {"frank", 1, 4096}, {"frank", 2, 4096}} {
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = u.name, u.mech, u.iterations, []byte("salt"), make([]byte, 32)
		bad.Upsertions = append(bad.Upsertions, up)
	}
	badResp, err := bad.RequestWith(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		code int16
		msg  string
	}{
		"carol": {kerr.UnacceptableCredential.Code, "Too few iterations"},
		"dave":  {kerr.UnacceptableCredential.Code, "Too many iterations"},
		"":      {kerr.UnacceptableCredential.Code, "Username must not be empty"},
		"erin":  {kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism"},
		"frank": {kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request"},
	}
	if len(badResp.Results) != len(want) {
		t.Fatalf("results %+v", badResp.Results)
	}
	for _, r := range badResp.Results {
		w := want[r.User]
		if r.ErrorCode != w.code || r.ErrorMessage == nil || *r.ErrorMessage != w.msg {
			t.Errorf("%q: %d %v, want %d %q", r.User, r.ErrorCode, r.ErrorMessage, w.code, w.msg)
		}
	}
	del, err := admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "nobody", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || !errors.Is(del["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("deleting an unknown user: %v %+v", err, del)
	}
	desc, err := admin.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := desc["bob"]; d.Err != nil || len(d.CredInfos) != 1 || d.CredInfos[0].Mechanism != kadm.ScramSha256 || d.CredInfos[0].Iterations != 8192 {
		t.Fatalf("bob described as %+v", d)
	}
	if d := desc["admin"]; d.Err != nil || len(d.CredInfos) != 2 {
		t.Fatalf("admin described as %+v", d)
	}
	roundTrip(t, franzClient(t, sb.client, sb.clientTLS(), scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha256Mechanism()))

	// A password changed through the API survives a restart with the
	// bootstrap [[sasl.users]] entry still in the config.
	if _, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "admin", Mechanism: kadm.ScramSha512, Password: "rotated"}}); err != nil {
		t.Fatal(err)
	}
	sb.Restart(t)
	cl := franzClient(t, sb.client, sb.clientTLS(), scram.Auth{User: "admin", Pass: "rotated"}.AsSha512Mechanism())
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("rotated password after restart: %v", err)
	}
}

// rawConn speaks the Kafka protocol by hand, for what clients do not do:
// the v0 handshake with raw tokens and requests before authentication.
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func (c *rawConn) send(req kmsg.Request, corr int32) {
	c.t.Helper()
	body := req.AppendTo(nil)
	var hdr []byte
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(req.Key()))
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(req.GetVersion()))
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(corr))
	hdr = binary.BigEndian.AppendUint16(hdr, 4)
	hdr = append(hdr, "test"...)
	if req.IsFlexible() {
		hdr = append(hdr, 0)
	}
	c.write(append(hdr, body...))
}

func (c *rawConn) write(frame []byte) {
	c.t.Helper()
	out := binary.BigEndian.AppendUint32(nil, uint32(len(frame)))
	if _, err := c.nc.Write(append(out, frame...)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next frame, or an error once the broker closed.
func (c *rawConn) read() ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c.nc, buf)
	return buf, err
}

func (c *rawConn) response(resp kmsg.Response, version int16) {
	c.t.Helper()
	frame, err := c.read()
	if err != nil {
		c.t.Fatalf("read %s response: %v", kmsg.Key(resp.Key()).Name(), err)
	}
	resp.SetVersion(version)
	skip := 4
	if resp.IsFlexible() {
		skip = 5
	}
	if err := resp.ReadFrom(frame[skip:]); err != nil {
		c.t.Fatalf("decode %s response: %v", kmsg.Key(resp.Key()).Name(), err)
	}
}

func (c *rawConn) expectClosed() {
	c.t.Helper()
	if _, err := c.read(); err == nil {
		c.t.Fatal("connection still open")
	}
}

func dialRaw(t *testing.T, addr string) *rawConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

// TestSASLProtocolEdges: Kafka's behaviour where clients differ — the v0
// handshake followed by raw tokens (old clients), an unknown mechanism,
// a request before authentication, and SaslHandshake after it.
func TestSASLProtocolEdges(t *testing.T) {
	sb := startSecureBroker(t, "none")
	t.Run("v0 raw PLAIN token", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, "PLAIN"
		c.send(hs, 1)
		hr := kmsg.NewPtrSASLHandshakeResponse()
		c.response(hr, 0)
		if hr.ErrorCode != 0 || len(hr.SupportedMechanisms) != 1 || hr.SupportedMechanisms[0] != "PLAIN" {
			t.Fatalf("handshake: %+v", hr)
		}
		c.write([]byte("\x00admin\x00" + adminPassword))
		if tok, err := c.read(); err != nil || len(tok) != 0 {
			t.Fatalf("raw PLAIN answer %q, %v", tok, err)
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 1
		c.send(md, 2)
		mr := kmsg.NewPtrMetadataResponse()
		c.response(mr, 1)
		if len(mr.Brokers) != 1 {
			t.Fatalf("metadata after v0 authentication: %+v", mr.Brokers)
		}
		// SaslHandshake once authenticated: ILLEGAL_SASL_STATE.
		hs2 := kmsg.NewPtrSASLHandshakeRequest()
		hs2.Version, hs2.Mechanism = 1, "PLAIN"
		c.send(hs2, 3)
		hr2 := kmsg.NewPtrSASLHandshakeResponse()
		c.response(hr2, 1)
		if hr2.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake after authentication: error %d", hr2.ErrorCode)
		}
	})
	t.Run("v0 raw PLAIN token, wrong password", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, "PLAIN"
		c.send(hs, 1)
		c.response(kmsg.NewPtrSASLHandshakeResponse(), 0)
		c.write([]byte("\x00admin\x00wrong"))
		c.expectClosed()
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "GSSAPI"
		c.send(hs, 1)
		hr := kmsg.NewPtrSASLHandshakeResponse()
		c.response(hr, 1)
		if hr.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(hr.SupportedMechanisms) != 1 {
			t.Fatalf("GSSAPI: %+v", hr)
		}
		c.expectClosed()
	})
	t.Run("wrong password message", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		c.send(hs, 1)
		c.response(kmsg.NewPtrSASLHandshakeResponse(), 1)
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 2, []byte("\x00admin\x00wrong")
		c.send(au, 2)
		ar := kmsg.NewPtrSASLAuthenticateResponse()
		c.response(ar, 2)
		if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil || *ar.ErrorMessage != "Authentication failed: Invalid username or password" {
			t.Fatalf("wrong password: %d %v", ar.ErrorCode, ar.ErrorMessage)
		}
		c.expectClosed()
	})
	t.Run("request before authentication", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 1
		c.send(md, 1)
		c.expectClosed()
	})
	t.Run("plaintext bytes to the TLS port", func(t *testing.T) {
		c := dialRaw(t, sb.client)
		c.send(kmsg.NewPtrApiVersionsRequest(), 1)
		c.expectClosed()
	})
}
