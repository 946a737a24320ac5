package security_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

func reauthAfter(d time.Duration) func(*config.Config) {
	return func(c *config.Config) { c.ConnMaxReauth = d }
}

// authenticatePlain runs SaslHandshake v1 and SaslAuthenticate v2 with
// PLAIN on c and returns the answer.
func authenticatePlain(c *rawConn, user, password string, corr int32) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	c.send(hs, corr)
	hr := kmsg.NewPtrSASLHandshakeResponse()
	c.response(hr, 1)
	if hr.ErrorCode != 0 {
		c.t.Fatalf("handshake: error %d", hr.ErrorCode)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 2, []byte("\x00"+user+"\x00"+password)
	c.send(au, corr+1)
	ar := kmsg.NewPtrSASLAuthenticateResponse()
	c.response(ar, 2)
	return ar
}

func metadataOK(c *rawConn, corr int32) error {
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 1
	c.send(md, corr)
	frame, err := c.read()
	if err != nil {
		return err
	}
	mr := kmsg.NewPtrMetadataResponse()
	mr.Version = 1
	return mr.ReadFrom(frame[4:])
}

// TestReauthentication (KIP-368): with connections_max_reauth set,
// SaslAuthenticate announces the session lifetime, a client re-authenticates
// on the same connection as the same principal (another principal is
// refused with Kafka's message), and a session left to expire is closed
// at its next request.
func TestReauthentication(t *testing.T) {
	sb := startSecureBroker(t, "none", reauthAfter(time.Minute))
	t.Run("same principal", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		if ar := authenticatePlain(c, "admin", adminPassword, 1); ar.ErrorCode != 0 || ar.SessionLifetimeMillis != 60000 {
			t.Fatalf("authenticate: error %d lifetime %d", ar.ErrorCode, ar.SessionLifetimeMillis)
		}
		if ar := authenticatePlain(c, "admin", adminPassword, 3); ar.ErrorCode != 0 || ar.SessionLifetimeMillis != 60000 {
			t.Fatalf("re-authenticate: error %d lifetime %d", ar.ErrorCode, ar.SessionLifetimeMillis)
		}
		if err := metadataOK(c, 5); err != nil {
			t.Fatalf("metadata after re-authentication: %v", err)
		}
	})
	t.Run("other principal", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		authenticatePlain(c, "admin", adminPassword, 1)
		ar := authenticatePlain(c, "bea", adminPassword, 3)
		if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil || *ar.ErrorMessage != "Cannot change principals during re-authentication from User:admin: User:bea" {
			t.Fatalf("re-authenticate as bea: %d %v", ar.ErrorCode, ar.ErrorMessage)
		}
		c.expectClosed()
	})

	short := startSecureBroker(t, "none", reauthAfter(time.Second))
	t.Run("expired session", func(t *testing.T) {
		c := dialRaw(t, short.saslPlain)
		if ar := authenticatePlain(c, "admin", adminPassword, 1); ar.ErrorCode != 0 || ar.SessionLifetimeMillis != 1000 {
			t.Fatalf("authenticate: error %d lifetime %d", ar.ErrorCode, ar.SessionLifetimeMillis)
		}
		deadline := time.Now().Add(15 * time.Second)
		for corr := int32(3); ; corr++ {
			if err := metadataOK(c, corr); err != nil {
				break // closed once the session expired
			}
			if time.Now().After(deadline) {
				t.Fatal("connection still served after its session expired")
			}
			time.Sleep(100 * time.Millisecond) // pacing the polls, not waiting for a condition
		}
	})
	t.Run("franz-go re-authenticates", func(t *testing.T) {
		if !full() {
			t.Skip("STROM_SECURITY=full (make security-test)")
		}
		cl := franzClient(t, short.client, short.clientTLS(), scram.Auth{User: "admin", Pass: adminPassword}.AsSha512Mechanism())
		topic := testkit.TopicName(t, "")
		testkit.CreateTopic(t, short.internal, topic, 1, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatalf("produce across session lifetimes: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
