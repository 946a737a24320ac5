package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
)

func newTestLimits(t *testing.T, mod func(*config.Config)) *ConnLimits {
	t.Helper()
	cfg := config.Default()
	mod(&cfg)
	l, err := NewConnLimits(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func never() bool { return false }

// TestConnLimitsPerIP: an address at its limit (or override) is refused,
// others are not, and a closed connection frees its slot.
func TestConnLimitsPerIP(t *testing.T) {
	l := newTestLimits(t, func(c *config.Config) {
		c.MaxConnectionsPerIP = 2
		c.MaxConnectionsPerIPOverrides = "127.0.0.3:0, 127.0.0.4:3"
	})
	q := l.listener("CLIENT", 0, 0, false)
	a, c, d := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")
	for i, want := range []bool{true, true, false, false} {
		if got := l.acquire(q, a, "a", never, nil); got != want {
			t.Fatalf("connection %d from %s: admitted %v, want %v", i+1, a, got, want)
		}
	}
	if l.acquire(q, c, "c", never, nil) {
		t.Fatalf("%s has an override of 0 but was admitted", c)
	}
	for i := range 3 {
		if !l.acquire(q, d, "d", never, nil) {
			t.Fatalf("connection %d from %s refused under its override of 3", i+1, d)
		}
	}
	if l.acquire(q, d, "d", never, nil) {
		t.Fatalf("4th connection from %s admitted over its override of 3", d)
	}
	l.release(q, a)
	if !l.acquire(q, a, "a", never, nil) {
		t.Fatal("a closed connection did not free its address's slot")
	}
	if n, total := l.Count(a); n != 2 || total != 5 {
		t.Fatalf("counts: %s %d, total %d; want 2 and 5", a, n, total)
	}
}

// TestConnLimitsSlots: the broker-wide and listener limits hold back new
// connections; the inter-broker listener ignores the broker-wide limit
// once another listener exists (Kafka's protectedListener), not its own.
func TestConnLimitsSlots(t *testing.T) {
	l := newTestLimits(t, func(c *config.Config) { c.MaxConnections = 3 })
	client := l.listener("CLIENT", 0, 0, false)
	small := l.listener("SMALL", 1, 0, false)
	repl := l.listener("replication", 2, 0, true)
	ip := netip.MustParseAddr("127.0.0.1")
	take := func(q *listenerQuota) {
		t.Helper()
		if !l.acquire(q, ip, "x", never, nil) {
			t.Fatalf("acquire on %s refused", q.name)
		}
	}
	check := func(q *listenerQuota, want bool) {
		t.Helper()
		l.mu.Lock()
		got := l.slotLocked(q)
		l.mu.Unlock()
		if got != want {
			t.Fatalf("%s has a slot: %v, want %v (total %d)", q.name, got, want, l.total)
		}
	}
	take(small)
	check(small, false) // its own limit
	take(client)
	take(client)
	check(client, false) // broker-wide: 3 of 3
	check(repl, true)    // exempt from the broker-wide limit
	take(repl)
	take(repl)
	check(repl, false) // but not from its own
	l.release(client, ip)
	l.release(repl, ip)
	check(client, false) // 4 of 3: still over
	l.release(repl, ip)
	check(client, true)
	check(small, false)
	l.release(small, ip)
	check(small, true)
}

// TestConnLimitsWaitEndsOnStop: an acceptor waiting for a slot returns
// when its server stops.
func TestConnLimitsWaitEndsOnStop(t *testing.T) {
	l := newTestLimits(t, func(c *config.Config) { c.MaxConnections = 1 })
	q := l.listener("CLIENT", 0, 0, false)
	ip := netip.MustParseAddr("127.0.0.1")
	if !l.acquire(q, ip, "x", never, nil) {
		t.Fatal("first connection refused")
	}
	stop := make(chan struct{})
	done := make(chan bool)
	go func() {
		done <- l.waitSlot(q, func() bool {
			select {
			case <-stop:
				return true
			default:
				return false
			}
		}, nil)
	}()
	close(stop)
	l.wake()
	if <-done {
		t.Fatal("waitSlot reported a slot after the server stopped")
	}
	go func() { done <- l.waitSlot(q, never, nil) }()
	l.release(q, ip)
	if !<-done {
		t.Fatal("waitSlot did not return a freed slot")
	}
}

// TestConnLimitsOverrideHostName: an override may name a host, resolved
// once.
func TestConnLimitsOverrideHostName(t *testing.T) {
	l := newTestLimits(t, func(c *config.Config) { c.MaxConnectionsPerIPOverrides = "localhost:7" })
	if l.overrides[netip.MustParseAddr("127.0.0.1")] != 7 {
		t.Fatalf("overrides %v: localhost not resolved to 127.0.0.1", l.overrides)
	}
}

// TestReadFrameGrowsWithData: a peer that announces 100 MB and sends 10
// bytes makes the reader allocate about a read buffer, not 100 MB; a
// frame that arrives whole is read whole.
func TestReadFrameGrowsWithData(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readFrame(bytes.NewReader(make([]byte, 10)), 100<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("readFrame of a short frame: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("a 10-byte partial frame announced as 100 MiB allocated %d bytes", got)
	}
	want := make([]byte, 3<<20+5)
	for i := range want {
		want[i] = byte(i * 7)
	}
	fp, err := readFrame(newLazyReader(bytes.NewReader(want)), len(want))
	if err != nil || !bytes.Equal(*fp, want) {
		t.Fatalf("readFrame of %d bytes: err %v, equal %v", len(want), err, err == nil && bytes.Equal(*fp, want))
	}
}

// TestRateLimit: a second's worth of connections at once, then one per
// interval; a pause refills the burst.
func TestRateLimit(t *testing.T) {
	r := newRateLimit(4) // 250ms apart, bursts of 4
	now := time.Unix(1000, 0)
	for i := range 4 {
		if d := r.wait(now); d > 0 {
			t.Fatalf("connection %d of the burst waits %s", i+1, d)
		}
		r.take(now)
	}
	if d := r.wait(now); d != 250*time.Millisecond {
		t.Fatalf("after the burst: wait %s, want 250ms", d)
	}
	now = now.Add(250 * time.Millisecond)
	if d := r.wait(now); d > 0 {
		t.Fatalf("an interval later: wait %s", d)
	}
	r.take(now)
	now = now.Add(2 * time.Second)
	for i := range 4 {
		if d := r.wait(now); d > 0 {
			t.Fatalf("after a pause, connection %d waits %s", i+1, d)
		}
		r.take(now)
	}
	if u := newRateLimit(config.Unlimited); u.wait(now) != 0 {
		t.Fatal("the default rate limits")
	}
}
