package replication

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/storage"
	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

// A follower whose fdatasync fails must not fetch again: the leader counts
// a follower's fetch offset as on its disk, so fetching on from its log end
// (written, never made durable) would let acks=all be answered for a write
// that is durable on the leader only. The follower stays out until
// reopened; the leader's lag check then takes it out of the ISR.
func TestFollowerSyncFailureHoldsHighWatermark(t *testing.T) {
	fs := errorfs.Wrap(vfs.Default, nil)
	c := newClusterFS(t, 2, time.Minute, nil, map[ids.NodeID]vfs.FS{2: fs})
	c.acksAll(1, c.produce(1, 3, "a"))

	fs.SetInjector(errorfs.Times(1, errorfs.Fail(syscall.EIO,
		errorfs.And(errorfs.Ops(errorfs.OpSyncData), errorfs.PathMatch("*.log")))))
	last := c.produce(1, 3, "b")
	waitFor(t, "the follower to fail", func() bool { return c.part(2).Failed() != nil })
	if err := c.part(2).Failed(); !errors.Is(err, storage.ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("follower failed with %v, want storage.ErrFailed wrapping EIO", err)
	}
	if c.part(2).LogEndOffset() <= last {
		t.Fatalf("follower log end %d: the batch at %d was not appended before its sync", c.part(2).LogEndOffset(), last)
	}

	// Fetches go on every 20ms (the backoff) unless the follower stops.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.part(1).WaitVisible(ctx, last); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acks=all for a write the follower failed to sync: %v, want a timeout", err)
	}
	if hw, leo := c.part(1).HighWatermark(), c.part(1).FollowerLEO(2); hw > last || leo > last {
		t.Fatalf("leader high watermark %d, follower fetch offset %d: counted the unsynced batch ending at %d", hw, leo, last)
	}
	if n := fs.Injected(); n != 1 {
		t.Fatalf("%d injected failures, want 1", n)
	}
}
