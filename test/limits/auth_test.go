package limits_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

const password = "s3cret"

// saslBroker starts a broker whose only listener is SASL_PLAINTEXT with
// PLAIN, the user "alice", and the given failed-authentication delay.
func saslBroker(t *testing.T, delay time.Duration) *testkit.Broker {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "alice.password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	return testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.Listeners = []config.Listener{{Name: "SASL", Address: addr, Protocol: "SASL_PLAINTEXT", SASLMechanisms: []string{"PLAIN"}}}
		c.Listen = addr
		c.SASL.Users = []config.SASLUser{{Name: "alice", PasswordFile: pw, Mechanisms: []string{"PLAIN"}}}
		c.ConnFailedAuthDelay = delay
	}))
}

// failPlain sends a SaslHandshake for mech and, when the mechanism is
// PLAIN, a SaslAuthenticate with a wrong password; it returns when the
// last request is sent.
func failPlain(t *testing.T, nc net.Conn, mech string) {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech
	if err := sendRequest(nc, hs, 1); err != nil {
		t.Fatal(err)
	}
	if mech != "PLAIN" {
		return
	}
	if err := readResponse(nc, kmsg.NewPtrSASLHandshakeResponse(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("\x00alice\x00wrong")
	if err := sendRequest(nc, au, 2); err != nil {
		t.Fatal(err)
	}
}

// TestFailedAuthenticationDelay: a wrong password (raw socket, and
// franz-go) and an unsupported mechanism get their error no earlier than
// connection_failed_authentication_delay after the request, and the
// connection closes after it; lower bounds only.
func TestFailedAuthenticationDelay(t *testing.T) {
	t.Parallel()
	const delay = 400 * time.Millisecond
	b := saslBroker(t, delay)

	nc := mustDialFrom(t, "127.0.0.2", b.Addr())
	failPlain(t, nc, "PLAIN")
	sent := time.Now()
	ar := kmsg.NewPtrSASLAuthenticateResponse()
	if err := readResponse(nc, ar, 60*time.Second); err != nil || ar.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("wrong password: error code %d, %v; want SASL_AUTHENTICATION_FAILED", ar.ErrorCode, err)
	}
	if got := time.Since(sent); got < delay {
		t.Fatalf("wrong password answered after %s, before the %s delay", got, delay)
	}
	if err := closedByPeer(nc, 60*time.Second); err != nil {
		t.Fatalf("after a failed authentication: %v", err)
	}
	if got := time.Since(sent); got < delay {
		t.Fatalf("closed after %s, before the %s delay", got, delay)
	}

	nc = mustDialFrom(t, "127.0.0.2", b.Addr())
	failPlain(t, nc, "GSSAPI")
	sent = time.Now()
	hr := kmsg.NewPtrSASLHandshakeResponse()
	if err := readResponse(nc, hr, 60*time.Second); err != nil || hr.ErrorCode != kerr.UnsupportedSaslMechanism.Code {
		t.Fatalf("unknown mechanism: error code %d, %v; want UNSUPPORTED_SASL_MECHANISM", hr.ErrorCode, err)
	}
	if got := time.Since(sent); got < delay {
		t.Fatalf("unknown mechanism answered after %s, before the %s delay", got, delay)
	}
	if err := closedByPeer(nc, 60*time.Second); err != nil {
		t.Fatalf("after an unknown mechanism: %v", err)
	}

	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.SASL(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = cl.Ping(ctx)
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("franz-go with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if got := time.Since(start); got < delay {
		t.Fatalf("franz-go got its failure after %s, before the %s delay", got, delay)
	}
	// The refusal is counted when the broker closes the connection, just
	// after the client has its answer: wait for the count.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := metric(t, b.AdminAddr(), "strom_connections_rejected_total", `reason="authentication_failed"`)
		if got >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("strom_connections_rejected_total{reason=authentication_failed} = %v, want >= 3", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFailedAuthenticationDelayHoldsNoOneElse: connections waiting out the
// delay after a wrong password do not hold up anyone else: with the
// delay at a minute, a client with the right password authenticates,
// produces and consumes while every failed one is still waiting for its
// answer (none has been answered or closed).
func TestFailedAuthenticationDelayHoldsNoOneElse(t *testing.T) {
	t.Parallel()
	b := saslBroker(t, time.Minute)
	var failing []net.Conn
	for range 20 {
		nc := mustDialFrom(t, "127.0.0.2", b.Addr())
		failPlain(t, nc, "PLAIN")
		failing = append(failing, nc)
	}
	roundTrip(t, b.Addr(), "during-delay", 100, kgo.SASL(plain.Auth{User: "alice", Pass: password}.AsMechanism()))
	for i, nc := range failing {
		nc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		var buf [1]byte
		if n, err := nc.Read(buf[:]); n > 0 || !isTimeout(err) {
			t.Fatalf("failed connection %d answered or closed before its delay: %d bytes, %v", i, n, err)
		}
	}
}
