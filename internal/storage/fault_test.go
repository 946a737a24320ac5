package storage

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

// A failed fdatasync is never reported as durable, not even by a retry that
// the file system would let succeed: the log stays failed until reopened.
func TestFailedSyncFailsLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		victim string // the segment file whose fdatasync fails
		roll   bool   // roll a segment after the first sync, so there is a rolled unsynced one
	}{
		{"active segment", segmentName(0) + logSuffix, false},
		{"rolled segment", segmentName(0) + logSuffix, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := errorfs.Wrap(vfs.Default, nil)
			l, err := OpenFS(fs, dir, testConfig(), nil)
			if err != nil {
				t.Fatal(err)
			}
			b := makeBatch(t, 5, baseTs, record.CodecNone)
			mustAppend(t, l, b, 1)
			if err := l.SyncTo(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
			durable := l.FlushedOffset()
			if tc.roll {
				for l.NumSegments() < 2 {
					mustAppend(t, l, b, 1)
				}
			} else {
				mustAppend(t, l, b, 1)
			}
			leo := l.LogEndOffset()

			// One fdatasync fails; any later one would succeed, as the kernel
			// lets it after dropping the pages it could not write.
			fs.SetInjector(errorfs.Times(1, errorfs.Fail(syscall.EIO,
				errorfs.And(errorfs.Ops(errorfs.OpSyncData), errorfs.PathMatch(tc.victim)))))
			release := make(chan struct{})
			var once sync.Once
			l.beforeSync = func() { once.Do(func() { <-release }) }
			const waiters = 4
			errs := make(chan error, waiters)
			for range waiters {
				go func() { errs <- l.SyncTo(leo) }()
			}
			waitFor(t, func() bool {
				l.syncMu.Lock()
				defer l.syncMu.Unlock()
				return l.syncing && l.syncWaiters == waiters-1
			})
			close(release)
			for range waiters {
				if err := <-errs; !errors.Is(err, ErrFailed) {
					t.Errorf("SyncTo with a failed fdatasync: %v, want ErrFailed", err)
				}
			}
			if fs.Injected() != 1 {
				t.Fatalf("%d injected failures, want 1", fs.Injected())
			}
			// The retry: the file system would say yes now; the log must not ask.
			if err := l.SyncTo(leo); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
				t.Errorf("SyncTo after the failure: %v, want ErrFailed wrapping EIO", err)
			}
			if got := l.FlushedOffset(); got != durable {
				t.Errorf("flushed offset %d after a failed sync, want %d", got, durable)
			}
			if err := l.Failed(); !errors.Is(err, ErrFailed) {
				t.Errorf("Failed() = %v", err)
			}
			if _, err := appendBatch(l, b, 1); !errors.Is(err, ErrFailed) {
				t.Errorf("append to a failed log: %v", err)
			}
			if err := l.Truncate(0); !errors.Is(err, ErrFailed) {
				t.Errorf("truncate of a failed log: %v", err)
			}
			if err := l.TruncateFullyAndStartAt(100); !errors.Is(err, ErrFailed) {
				t.Errorf("full truncation of a failed log: %v", err)
			}
			if err := l.SetLogStartOffset(1); !errors.Is(err, ErrFailed) {
				t.Errorf("raising the log start of a failed log: %v", err)
			}
			// Reads go on.
			if rr, err := l.Read(0, 1<<20, l.LogEndOffset(), true); err != nil || rr.Size() == 0 {
				t.Errorf("read from a failed log: %d bytes, %v", rr.Size(), err)
			} else {
				rr.Release()
			}
			if err := l.Close(); !errors.Is(err, ErrFailed) {
				t.Errorf("close of a failed log: %v, want ErrFailed", err)
			}
			if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed log was marked clean: %v", err)
			}

			// Reopening recovers from what the files hold and takes writes again.
			l = openLog(t, dir, testConfig())
			defer l.Close()
			if l.scanned == 0 {
				t.Error("reopened without a recovery scan")
			}
			mustAppend(t, l, b, 1)
			if err := l.SyncTo(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A write that fails (disk full, even halfway) is dropped from the file, so
// the log stays on batch boundaries and takes the next append.
func TestFailedWriteIsCutOff(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	l, err := OpenFS(fs, dir, testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b := makeBatch(t, 3, baseTs, record.CodecNone)
	mustAppend(t, l, b, 1)
	leo, size := l.LogEndOffset(), l.Size()
	fs.SetInjector(errorfs.Times(1, errorfs.Fail(errorfs.ShortWrite(10, syscall.ENOSPC),
		errorfs.And(errorfs.Ops(errorfs.OpWrite), errorfs.PathMatch("*"+logSuffix)))))
	if _, err := appendBatch(l, b, 1); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if l.Failed() != nil || l.LogEndOffset() != leo {
		t.Fatalf("after a failed write: failed %v, log end %d (want %d)", l.Failed(), l.LogEndOffset(), leo)
	}
	if fi, err := os.Stat(filepath.Join(dir, segmentName(0)+logSuffix)); err != nil || fi.Size() != size {
		t.Fatalf("segment holds %d bytes after a failed write, want %d (%v)", fi.Size(), size, err)
	}
	mustAppend(t, l, b, 1)
	if err := l.SyncTo(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, readAll(t, l, 0), 0, 6)
}

// When the partial write cannot be cut off either, the log's end on disk
// is unknown: it fails.
func TestFailedWriteThatCannotBeCutFailsLog(t *testing.T) {
	fs := errorfs.Wrap(vfs.Default, nil)
	l, err := OpenFS(fs, t.TempDir(), testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := makeBatch(t, 3, baseTs, record.CodecNone)
	mustAppend(t, l, b, 1)
	segs := errorfs.PathMatch("*" + logSuffix)
	fs.SetInjector(errorfs.Any(
		errorfs.Fail(errorfs.ShortWrite(-1, syscall.EIO), errorfs.And(errorfs.Ops(errorfs.OpWrite), segs)),
		errorfs.Fail(syscall.EIO, errorfs.And(errorfs.Ops(errorfs.OpTruncate), segs))))
	if _, err := appendBatch(l, b, 1); !errors.Is(err, ErrFailed) {
		t.Fatalf("append whose partial write cannot be cut off: %v, want ErrFailed", err)
	}
	fs.SetInjector(nil)
	if _, err := appendBatch(l, b, 1); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after an uncut partial write: %v, want ErrFailed", err)
	}
	if err := l.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("close: %v", err)
	}
}

// A leader-epoch checkpoint that cannot be written is written again by the
// next append of that epoch, instead of being taken as written.
func TestEpochCheckpointWriteRetried(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	l, err := OpenFS(fs, dir, testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b := makeBatch(t, 2, baseTs, record.CodecNone)
	mustAppend(t, l, b, 1)
	fs.SetInjector(errorfs.Times(1, errorfs.Fail(syscall.EIO,
		errorfs.And(errorfs.Ops(errorfs.OpSync), errorfs.PathMatch(epochCheckpointFile+vfs.TempSuffix)))))
	if _, err := appendBatch(l, b, 2); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with a failing epoch checkpoint: %v", err)
	}
	if got := l.LatestEpoch(); got != 1 {
		t.Fatalf("latest epoch %d after the checkpoint failed, want 1", got)
	}
	mustAppend(t, l, b, 2)
	c, err := loadEpochCache(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []epochEntry{{1, 0}, {2, 2}}; !slicesEqual(c.entries, want) {
		t.Fatalf("checkpoint holds %v, want %v", c.entries, want)
	}
}

func slicesEqual(a, b []epochEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHighWatermarkCheckpoint(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	l, err := OpenFS(fs, dir, testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, ok, err := l.ReadHighWatermark(); ok || err != nil {
		t.Fatalf("no checkpoint yet: ok %v, %v", ok, err)
	}
	// Written on a ticker for every partition: never fsynced.
	fs.SetInjector(errorfs.Fail(syscall.EIO, errorfs.Syncs))
	if err := l.WriteHighWatermark(1234); err != nil {
		t.Fatal(err)
	}
	fs.SetInjector(nil)
	if fs.Injected() != 0 {
		t.Errorf("the high-watermark checkpoint was synced")
	}
	raw, err := os.ReadFile(filepath.Join(dir, HighWatermarkFile))
	if err != nil || string(raw) != "0\n1\n1234\n" {
		t.Fatalf("checkpoint file %q, %v", raw, err)
	}
	if hw, ok, err := l.ReadHighWatermark(); hw != 1234 || !ok || err != nil {
		t.Fatalf("read back %d, %v, %v", hw, ok, err)
	}
	// What a crash may leave of an unsynced write reads as nothing or as less.
	for _, tc := range []struct {
		data string
		hw   ids.Offset
		ok   bool
	}{
		{"", 0, false}, {"0\n", 0, false}, {"0\n1\n", 0, false}, {"0\n1\n12", 12, true},
		{"1\n1\n5\n", 0, false}, {"0\n2\n5\n6\n", 0, false}, {"0\n1\n-5\n", 0, false},
	} {
		if err := os.WriteFile(filepath.Join(dir, HighWatermarkFile), []byte(tc.data), 0o644); err != nil {
			t.Fatal(err)
		}
		hw, ok, err := l.ReadHighWatermark()
		if hw != tc.hw || ok != tc.ok || (err != nil) == tc.ok {
			t.Errorf("%q: %d, %v, %v; want %d, %v", tc.data, hw, ok, err, tc.hw, tc.ok)
		}
	}
}
