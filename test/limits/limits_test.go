package limits_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestPerIPLimit: once 127.0.0.2 holds max_connections_per_ip
// connections, its further connections are closed at once, counted and
// logged once (not once each), while franz-go from 127.0.0.1 (an
// override above the default) is served; an override of 0 shuts an
// address out; a closed connection frees its address's slot.
func TestPerIPLimit(t *testing.T) {
	t.Parallel()
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.MaxConnectionsPerIP = 3
		c.MaxConnectionsPerIPOverrides = "127.0.0.1:1000,127.0.0.3:0"
	}))
	var held []net.Conn
	for i := range 3 {
		nc := mustDialFrom(t, "127.0.0.2", b.Addr())
		if err := apiVersions(nc, 30*time.Second); err != nil {
			t.Fatalf("connection %d from 127.0.0.2, within its limit: %v", i+1, err)
		}
		held = append(held, nc)
	}
	const over = 20
	for i := range over {
		nc := mustDialFrom(t, "127.0.0.2", b.Addr())
		if err := closedByPeer(nc, 30*time.Second); err != nil {
			t.Fatalf("connection %d from 127.0.0.2 over max_connections_per_ip: %v", 4+i, err)
		}
	}
	nc := mustDialFrom(t, "127.0.0.3", b.Addr())
	if err := closedByPeer(nc, 30*time.Second); err != nil {
		t.Fatalf("connection from 127.0.0.3 (override 0): %v", err)
	}
	roundTrip(t, b.Addr(), "per-ip", 100)
	for _, nc := range held {
		if err := apiVersions(nc, 30*time.Second); err != nil {
			t.Fatalf("a connection within the limit stopped being served: %v", err)
		}
	}
	if got := metric(t, b.AdminAddr(), "strom_connections_rejected_total", `reason="max_connections_per_ip"`); got != over+1 {
		t.Fatalf("strom_connections_rejected_total{reason=max_connections_per_ip} = %v, want %d", got, over+1)
	}
	if n := strings.Count(b.Logs(), "refused connection: address already has its maximum"); n < 1 || n > 2 {
		t.Fatalf("%d log lines for %d refused connections, want one per interval", n, over+1)
	}
	held[0].Close()
	eventually(t, "a new connection from 127.0.0.2 after one closed", func() error {
		nc, err := dialFrom("127.0.0.2", b.Addr())
		if err != nil {
			return err
		}
		defer nc.Close()
		return apiVersions(nc, 5*time.Second)
	})
}

// TestBrokerWideAndListenerLimits: at max_connections (or a listener's
// max_connections) a new client is not served until a connection
// closes, then it is; the wait is counted in
// strom_acceptor_blocked_seconds_total.
func TestBrokerWideAndListenerLimits(t *testing.T) {
	t.Parallel()
	var client, small string
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		client, small = freeAddr(t), freeAddr(t)
		c.Listeners = []config.Listener{
			{Name: "CLIENT", Address: client, Protocol: "PLAINTEXT"},
			{Name: "SMALL", Address: small, Protocol: "PLAINTEXT", MaxConnections: 1},
		}
		c.Listen = client
		c.MaxConnections = 4
	}))
	// held checks that nc gets no answer while the limit holds: a broker
	// that served it would answer within the wait, so this never fails
	// for a slow machine, only for a broker that does not hold back.
	held := func(nc net.Conn, what string) {
		t.Helper()
		if err := sendRequest(nc, kmsg.NewPtrApiVersionsRequest(), 1); err != nil {
			t.Fatal(err)
		}
		if err := readResponse(nc, kmsg.NewPtrApiVersionsResponse(), 500*time.Millisecond); err == nil || !isTimeout(err) {
			t.Fatalf("%s: answered (%v) while at the limit", what, err)
		}
	}
	answered := func(nc net.Conn, what string) {
		t.Helper()
		resp := kmsg.NewPtrApiVersionsResponse()
		if err := readResponse(nc, resp, 60*time.Second); err != nil || len(resp.ApiKeys) == 0 {
			t.Fatalf("%s: not answered once a slot freed: %v", what, err)
		}
	}
	s1 := mustDialFrom(t, "127.0.0.2", small)
	if err := apiVersions(s1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s2 := mustDialFrom(t, "127.0.0.2", small)
	held(s2, "second connection to a listener with max_connections 1")
	s1.Close()
	answered(s2, "second connection to SMALL")

	var cs []net.Conn
	for range 3 { // 3 + SMALL's 1 = max_connections
		nc := mustDialFrom(t, "127.0.0.2", client)
		if err := apiVersions(nc, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, nc)
	}
	extra := mustDialFrom(t, "127.0.0.3", client)
	held(extra, "a connection over max_connections")
	cs[0].Close()
	answered(extra, "the connection over max_connections")
	if got := metric(t, b.AdminAddr(), "strom_acceptor_blocked_seconds_total"); got <= 0 {
		t.Fatalf("strom_acceptor_blocked_seconds_total = %v after the listeners waited", got)
	}
	if !strings.Contains(b.Logs(), "connection limit reached") {
		t.Fatal("no log line when the limit was reached")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// TestIdleAndSlowFrames: a connection that sends nothing, and one that
// sends a frame's size and then a byte at a time, are closed after
// connections_max_idle; a franz-go client is served meanwhile.
func TestIdleAndSlowFrames(t *testing.T) {
	t.Parallel()
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.ConnMaxIdle = 2 * time.Second
	}))
	idle := mustDialFrom(t, "127.0.0.2", b.Addr())
	slow := mustDialFrom(t, "127.0.0.2", b.Addr())
	stop := make(chan struct{})
	defer close(stop)
	go slowloris(slow, 100<<20, 200*time.Millisecond, stop)
	roundTrip(t, b.Addr(), "idle", 50)
	if err := closedByPeer(idle, 60*time.Second); err != nil {
		t.Fatalf("idle connection: %v", err)
	}
	if err := closedByPeer(slow, 60*time.Second); err != nil {
		t.Fatalf("slow partial frame: %v", err)
	}
	eventually(t, "idle closes counted", func() error {
		if got := metric(t, b.AdminAddr(), "strom_connections_rejected_total", `reason="idle"`); got < 2 {
			return fmt.Errorf("strom_connections_rejected_total{reason=idle} = %v, want >= 2", got)
		}
		return nil
	})
}

// slowloris announces a frame of size bytes and then sends one byte per
// every until stop or a write fails.
func slowloris(nc net.Conn, size uint32, every time.Duration, stop <-chan struct{}) {
	hdr := []byte{byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size)}
	if _, err := nc.Write(hdr); err != nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := nc.Write([]byte{0}); err != nil {
				return
			}
		}
	}
}

// TestConnectionCreationRate: with max_connection_creation_rate = 50,
// 100 clients connecting at once are all served, the last no earlier
// than (100 - 50) / 50 s = 1 s after the first could be (a lower bound:
// a second's worth at once, then one per 20 ms).
func TestConnectionCreationRate(t *testing.T) {
	t.Parallel()
	const rate, n = 50, 100
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) { c.MaxConnectionCreationRate = rate }))
	start := time.Now()
	errs := make(chan error, n)
	for range n {
		go func() {
			nc, err := dialFrom("127.0.0.2", b.Addr())
			if err == nil {
				defer nc.Close()
				err = apiVersions(nc, 60*time.Second)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got, want := time.Since(start), time.Duration(n-rate)*time.Second/rate; got < want {
		t.Fatalf("%d connections served in %s, faster than %d a second allows (%s)", n, got, rate, want)
	}
	if got := metric(t, b.AdminAddr(), "strom_acceptor_blocked_seconds_total"); got <= 0 {
		t.Fatalf("strom_acceptor_blocked_seconds_total = %v after the listener waited", got)
	}
}
