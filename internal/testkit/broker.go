package testkit

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/broker"
	"github.com/strom-broker/strom/internal/config"
)

// Option adjusts the configuration of a broker started by StartBroker.
type Option func(*config.Config)

// WithConfig applies f to the broker configuration before it starts.
func WithConfig(f func(*config.Config)) Option { return Option(f) }

// WithPartitions sets the default partition count for auto-created topics.
func WithPartitions(n int32) Option {
	return func(c *config.Config) { c.DefaultPartitions = n }
}

// Broker is an in-process broker on a loopback port with a temporary data
// directory. It is shut down by the test's cleanup.
type Broker struct {
	cfg  config.Config
	logs *logBuffer
	b    *broker.Broker
	addr string
}

// StartBroker starts a single-node broker on 127.0.0.1 with a fresh data
// directory and fails the test if it cannot.
func StartBroker(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "debug"
	for _, o := range opts {
		o(&cfg)
	}
	tb := &Broker{cfg: cfg, logs: newLogBuffer()}
	dumpOnFailure(t, "broker", tb.logs)
	tb.start(t)
	t.Cleanup(func() { tb.shutdown(t) })
	return tb
}

// Addr is the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// AdminAddr is the host:port of the broker's admin HTTP listener.
func (b *Broker) AdminAddr() string { return b.b.AdminAddr() }

// Config is the configuration the broker runs with (Listen holds the bound
// address once started).
func (b *Broker) Config() config.Config { return b.cfg }

// Restart shuts the broker down and starts a new one on the same address and
// data directory, as a process restart would.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.Shutdown(t)
	b.start(t)
}

// Shutdown stops the broker cleanly and fails the test if that fails. It is
// a no-op on a broker that is not running.
func (b *Broker) Shutdown(t testing.TB) {
	t.Helper()
	if err := b.shutdown(t); err != nil {
		t.Fatalf("broker shutdown: %v", err)
	}
}

func (b *Broker) start(t testing.TB) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	br, err := broker.New(b.cfg, logger)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	if err := br.Start(context.Background()); err != nil {
		t.Fatalf("broker start on %s: %v", b.cfg.Listen, err)
	}
	b.b = br
	b.addr = br.Addr().String()
	// A restart must come back on the same address so clients reconnect.
	b.cfg.Listen = b.addr
}

func (b *Broker) shutdown(t testing.TB) error {
	if b.b == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := b.b.Shutdown(ctx)
	b.b = nil
	return err
}
