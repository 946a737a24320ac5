package storage

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

// logSink collects a log for tests.
type logSink struct{ bytes.Buffer }

func newLogger(sink *logSink) *slog.Logger {
	return slog.New(slog.NewTextHandler(&sink.Buffer, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fillSegments appends batches of 2 records until the log has n segments.
func fillSegments(t *testing.T, l *Log, n int) {
	t.Helper()
	b := makeBatch(t, 2, baseTs, record.CodecNone)
	for l.NumSegments() < n {
		mustAppend(t, l, b, 1)
	}
}

// A full disk on a segment roll: whatever the roll cannot write (the rolled
// segment's indexes, the new segment, the recovery point after the sync of
// the rolled segment) fails that produce or is written again later; the log
// never fails for good, loses nothing acknowledged and goes on once there is
// space.
func TestNoSpaceOnRoll(t *testing.T) {
	for _, tc := range []struct {
		name string
		when errorfs.Predicate
	}{
		{"rolled segment's index", errorfs.And(errorfs.Ops(errorfs.OpWrite, errorfs.OpCreate), errorfs.PathMatch("*"+indexSuffix+vfs.TempSuffix))},
		{"new segment", errorfs.And(errorfs.Ops(errorfs.OpCreate), errorfs.PathMatch("*"+logSuffix))},
		{"recovery point", errorfs.And(errorfs.Ops(errorfs.OpWrite, errorfs.OpCreate), errorfs.PathMatch(recoveryPointFile+vfs.TempSuffix))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := errorfs.Wrap(vfs.Default, nil)
			l, err := OpenFS(fs, dir, testConfig(), nil)
			if err != nil {
				t.Fatal(err)
			}
			b := makeBatch(t, 5, baseTs, record.CodecNone)
			// Fill the first segment up to the byte before the roll.
			for {
				mustAppend(t, l, b, 1)
				if l.Size()+2*int64(len(b)) > testConfig().SegmentBytes {
					break
				}
			}
			if err := l.SyncTo(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
			fs.SetInjector(errorfs.Fail(syscall.ENOSPC, tc.when))
			full := false
			for range 4 {
				if _, err := appendBatch(l, b, 1); err != nil {
					if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrFailed) {
						t.Fatalf("append on a full disk: %v, want ENOSPC (not a failed log)", err)
					}
					full = true
					continue
				}
				if err := l.SyncTo(l.LogEndOffset()); err != nil {
					t.Fatalf("sync on a full disk: %v", err)
				}
			}
			if !full && fs.Injected() == 0 {
				t.Fatal("the full disk was never hit")
			}
			if err := l.Failed(); err != nil {
				t.Fatalf("a full disk failed the log: %v", err)
			}
			fs.SetInjector(nil)
			for l.NumSegments() < 3 {
				mustAppend(t, l, b, 1)
			}
			if err := l.SyncTo(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
			rp, _, err := readOffsetFile(vfs.Default, filepath.Join(dir, recoveryPointFile))
			if err != nil || rp != l.mu.segments[l.NumSegments()-1].base {
				t.Errorf("recovery point %d (%v) once space is back, want the active segment's base %d", rp, err, l.mu.segments[l.NumSegments()-1].base)
			}
			leo := l.LogEndOffset()
			checkContiguous(t, readAll(t, l, 0), 0, leo)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, testConfig())
			defer l.Close()
			if l.LogEndOffset() != leo {
				t.Fatalf("reopened at log end %d, want %d", l.LogEndOffset(), leo)
			}
			checkContiguous(t, readAll(t, l, 0), 0, leo)
		})
	}
}

// Garbage in a checkpoint file is not fatal when the log itself can say
// what the file said: a recovery point is replaced by a full recovery scan,
// leader epochs are rebuilt from the batches (each carries its leader
// epoch), a log start offset falls back to the first segment. Each is
// logged with the file and why, and the file is rewritten.
func TestGarbageCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, l *Log)
	}{
		{recoveryPointFile, func(t *testing.T, l *Log) {
			if l.scanned != l.NumSegments() {
				t.Errorf("%d of %d segments scanned after a garbage recovery point", l.scanned, l.NumSegments())
			}
		}},
		{epochCheckpointFile, func(t *testing.T, l *Log) {
			if e, end := l.EndOffsetForEpoch(1); e != 1 || end != 10 {
				t.Errorf("epoch 1 ends at %d (epoch %d), want 10", end, e)
			}
			if got := l.LatestEpoch(); got != 2 {
				t.Errorf("latest epoch %d, want 2", got)
			}
		}},
		{logStartOffsetFile, func(t *testing.T, l *Log) {
			if got := l.LogStartOffset(); got != 0 {
				t.Errorf("log start %d, want 0", got)
			}
		}},
	} {
		for _, garbage := range []string{"", "\x00\x00\x00\x00", "0\n1\nbanana\n", "7\n"} {
			t.Run(tc.file+"/"+strings.ReplaceAll(garbage, "\n", `\n`), func(t *testing.T) {
				dir := t.TempDir()
				l := openLog(t, dir, testConfig())
				b := makeBatch(t, 5, baseTs, record.CodecNone)
				mustAppend(t, l, b, 1)
				mustAppend(t, l, b, 1)
				for range 8 {
					mustAppend(t, l, b, 2)
				}
				leo := l.LogEndOffset()
				if err := l.SyncTo(l.LogEndOffset()); err != nil {
					t.Fatal(err)
				}
				crash(l)
				path := filepath.Join(dir, tc.file)
				if err := os.WriteFile(path, []byte(garbage), 0o644); err != nil {
					t.Fatal(err)
				}
				var sink logSink
				l, err := OpenFS(vfs.Default, dir, testConfig(), newLogger(&sink))
				if err != nil {
					t.Fatalf("open with a garbage %s: %v", tc.file, err)
				}
				defer l.Close()
				if l.LogEndOffset() != leo {
					t.Fatalf("log end %d, want %d", l.LogEndOffset(), leo)
				}
				checkContiguous(t, readAll(t, l, 0), 0, leo)
				tc.check(t, l)
				if garbage != "" && !strings.Contains(sink.String(), path) {
					t.Errorf("the log does not name %s:\n%s", path, sink.String())
				}
				if _, err := readCheckpoint(vfs.Default, path); err != nil {
					t.Errorf("%s not rewritten: %v", tc.file, err)
				}
			})
		}
	}
}

// A missing or garbage index file is rebuilt from the segment, saying so.
func TestGarbageIndexRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string) error
	}{
		{"missing", os.Remove},
		{"odd size", func(p string) error { return os.WriteFile(p, []byte{1, 2, 3}, 0o644) }},
		{"not ascending", func(p string) error {
			return os.WriteFile(p, []byte{0, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 1}, 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testConfig())
			fillSegments(t, l, 3)
			leo := l.LogEndOffset()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, segmentName(0)+indexSuffix)
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			var sink logSink
			l, err := OpenFS(vfs.Default, dir, testConfig(), newLogger(&sink))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.scanned != 1 {
				t.Errorf("%d segments scanned, want the one with the damaged index", l.scanned)
			}
			checkContiguous(t, readAll(t, l, 0), 0, leo)
			for off := ids.Offset(0); off < leo; off += 5 {
				rr, err := l.Read(off, 1, leo, true)
				if err != nil || rr.Size() == 0 {
					t.Fatalf("read at %d: %v", off, err)
				}
				rr.Release()
			}
			if !strings.Contains(sink.String(), path) {
				t.Errorf("the log does not name the index %s:\n%s", path, sink.String())
			}
		})
	}
}

// flipByte damages one byte of a batch body in path.
func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
}

// Damage that a torn write cannot explain — in a closed segment, or in the
// last segment of a log closed cleanly, where every byte was synced and
// acknowledged — is never cut off as a torn tail: Open fails with a
// DamageError naming the file, position and offset, and logs them.
// TruncateDamage then cuts the log at the last good batch below it, as a
// replica does before it fetches the rest again.
func TestDamageBelowLogEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clean bool
		seg   int // which segment to damage: 0 first, -1 last
		batch int // which batch of it
	}{
		// Unsynced: the recovery point is still at 0, recovery scans all.
		{"closed segment after a crash", false, 0, 1},
		// The last segment is walked after the last index entry: a
		// broken batch length there is found.
		{"last segment after a clean stop", true, -1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testConfig())
			b := makeBatch(t, 2, baseTs, record.CodecNone)
			fillSegments(t, l, 3)
			for range 3 {
				mustAppend(t, l, b, 1)
			}
			segBase := l.mu.segments[0].base
			if tc.seg < 0 {
				segBase = l.mu.segments[l.NumSegments()-1].base
			}
			if tc.clean {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				crash(l)
			}
			file := filepath.Join(dir, segmentName(segBase)+logSuffix)
			pos := int64(tc.batch * len(b))
			wantOffset := ids.Offset(segBase + int64(2*tc.batch))
			// A batch's body, or after a clean stop its length.
			if tc.clean {
				flipByte(t, file, pos+8)
			} else {
				flipByte(t, file, pos+record.BatchHeaderSize+5)
			}

			var sink logSink
			_, err := OpenFS(vfs.Default, dir, testConfig(), newLogger(&sink))
			var d *DamageError
			if !errors.As(err, &d) || !errors.Is(err, ErrCorruptSegment) {
				t.Fatalf("open of a damaged log: %v, want a DamageError", err)
			}
			if d.File != file || d.Position != pos || d.Offset != wantOffset {
				t.Fatalf("damage at %s:%d offset %d, want %s:%d offset %d", d.File, d.Position, d.Offset, file, pos, wantOffset)
			}
			for _, want := range []string{file, "position=" + strconv.FormatInt(pos, 10), "offset=" + strconv.FormatInt(int64(wantOffset), 10)} {
				if !strings.Contains(sink.String(), want) {
					t.Errorf("the log lacks %q:\n%s", want, sink.String())
				}
			}
			// Nothing was cut: a second open finds the same damage.
			if _, err := Open(dir, testConfig(), nil); !errors.As(err, &d) {
				t.Fatalf("second open: %v", err)
			}
			if err := TruncateDamage(vfs.Default, dir, d); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, testConfig())
			defer l.Close()
			if l.LogEndOffset() != d.Offset {
				t.Fatalf("log end %d after cutting the damage, want %d", l.LogEndOffset(), d.Offset)
			}
			checkContiguous(t, readAll(t, l, 0), 0, d.Offset)
			if got := l.NumSegments(); segBase == 0 && got != 1 {
				t.Errorf("%d segments after cutting at the first, want 1", got)
			}
		})
	}
}
