package partition

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/storage"
	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

// A failed fdatasync is never reported as durable: the produces waiting
// for it (acks=all on WaitVisible, acks=1 on WaitDurable) get an error,
// the partition refuses appends, and nothing that follows — a retried
// produce, another sync that the file system would let succeed — makes
// the data count as durable until the partition is reopened
// (PostgreSQL's "fsyncgate": after a failed fsync the kernel may drop the
// dirty pages, and the next fsync succeeds without them).
func TestFailedSyncFailsPartition(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	fs := errorfs.Wrap(vfs.Default, nil)
	cfg := config.Default().Log.TopicConfig() // flush.messages=1
	logger := slog.New(slog.DiscardHandler)
	p, err := OpenFS(fs, dir, "t", testTopicID, 0, cfg, 0, logger)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	b1 := batch(t, 3, 7, 0, "a")
	res1, err := p.Append(b1, FromClient)
	must(t, err)
	must(t, p.WaitVisible(ctx, res1.LastOffset))
	durable := res1.LastOffset + 1

	// The next fdatasync of the segment waits until the produces below
	// are waiting for it, then fails; any later one would succeed.
	entered, gate := make(chan struct{}), make(chan struct{})
	fs.SetInjector(errorfs.Times(1, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind != errorfs.OpSyncData || !strings.HasSuffix(op.Path, ".log") {
			return nil
		}
		close(entered)
		<-gate
		return syscall.EIO
	})))
	b2 := batch(t, 3, 7, 3, "b")
	res2, err := p.Append(b2, FromClient)
	must(t, err)
	<-entered
	visible, durableErr := make(chan error, 1), make(chan error, 1)
	go func() { visible <- p.WaitVisible(ctx, res2.LastOffset) }()    // acks=all
	go func() { durableErr <- p.WaitDurable(ctx, res2.LastOffset) }() // acks=1
	waitFor(t, "produces waiting", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.mu.waiters[BoundHighWatermark]) == 1 && len(p.mu.syncWaiters) == 1
	})
	close(gate)
	for what, ch := range map[string]chan error{"WaitVisible": visible, "WaitDurable": durableErr} {
		if err := <-ch; !errors.Is(err, storage.ErrFailed) || !errors.Is(err, syscall.EIO) {
			t.Errorf("%s for a write whose sync failed: %v, want storage.ErrFailed wrapping EIO", what, err)
		}
	}

	checkFailed := func(when string) {
		t.Helper()
		if err := p.Failed(); !errors.Is(err, storage.ErrFailed) {
			t.Errorf("%s: Failed() = %v", when, err)
		}
		if hw, flushed := p.HighWatermark(), p.FlushedOffset(); hw != durable || flushed != durable {
			t.Errorf("%s: high watermark %d, flushed %d; want both at %d", when, hw, flushed, durable)
		}
		if err := p.WaitVisible(ctx, res2.LastOffset); !errors.Is(err, storage.ErrFailed) {
			t.Errorf("%s: WaitVisible: %v", when, err)
		}
		if err := p.WaitDurable(ctx, res2.LastOffset); !errors.Is(err, storage.ErrFailed) {
			t.Errorf("%s: WaitDurable: %v", when, err)
		}
		// What was acknowledged before the failure stays acknowledged.
		must(t, p.WaitVisible(ctx, res1.LastOffset))
	}
	checkFailed("after the failed sync")

	// The producer retries the batch (same sequence) and sends the next:
	// both are refused, not answered as duplicates or appended.
	if _, err := p.Append(b2, FromClient); !errors.Is(err, storage.ErrFailed) {
		t.Errorf("retried produce: %v, want storage.ErrFailed", err)
	}
	b3 := batch(t, 3, 7, 6, "c")
	if _, err := p.Append(b3, FromClient); !errors.Is(err, storage.ErrFailed) {
		t.Errorf("produce after the failure: %v, want storage.ErrFailed", err)
	}
	// Another sync, by the flusher or a caller, would succeed at the file
	// system; it must not be tried, let alone believed.
	p.requestFlush()
	if err := p.SyncTo(res2.LastOffset + 1); !errors.Is(err, storage.ErrFailed) {
		t.Errorf("SyncTo after the failure: %v", err)
	}
	if n := fs.Injected(); n != 1 {
		t.Errorf("%d injected failures, want 1", n)
	}
	checkFailed("after retries")

	if err := p.Close(); !errors.Is(err, storage.ErrFailed) {
		t.Errorf("Close of a failed partition: %v, want storage.ErrFailed", err)
	}

	// Reopened, the partition recovers from what the files hold and works.
	p, err = Open(dir, "t", testTopicID, 0, cfg, 0, logger)
	must(t, err)
	defer func() { must(t, p.Close()) }()
	if err := p.Failed(); err != nil {
		t.Fatalf("reopened partition failed: %v", err)
	}
	b4 := batch(t, 1, -1, -1, "d")
	res4, err := p.Append(b4, FromClient)
	must(t, err)
	must(t, p.WaitVisible(ctx, res4.LastOffset))
}
