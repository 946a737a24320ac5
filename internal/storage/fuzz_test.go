package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
	"github.com/strom-broker/strom/internal/vfs"
)

// noSyncFS is the OS file system without fsync: fuzzing tests decoding,
// not durability, and thousands of fsyncs a second would only slow it.
type noSyncFS struct{ vfs.FS }

type noSyncFile struct{ vfs.File }

func (noSyncFS) SyncDir(string) error { return nil }
func (n noSyncFS) Create(name string) (vfs.File, error) {
	return noSync(n.FS.Create(name))
}
func (n noSyncFS) Open(name string) (vfs.File, error) { return noSync(n.FS.Open(name)) }
func (n noSyncFS) OpenReadWrite(name string) (vfs.File, error) {
	return noSync(n.FS.OpenReadWrite(name))
}
func noSync(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}
func (noSyncFile) Sync() error        { return nil }
func (noSyncFile) SyncData() error    { return nil }
func (f noSyncFile) OSFile() *os.File { return vfs.OSFile(f.File) }

var fuzzFS = noSyncFS{vfs.Default}

// FuzzCheckpoint feeds one file to the checkpoint readers: the
// leader-epoch checkpoint and the single-offset files (recovery point, log
// start offset, high watermark). A malformed file is errCheckpoint; what
// they accept is well formed and reads back the same once written.
func FuzzCheckpoint(f *testing.F) {
	fuzzseed.Add(f, []byte("0\n2\n0 0\n3 120\n"))
	fuzzseed.Add(f, []byte("0\n1\n4096\n"))
	fuzzseed.Add(f, []byte("0\n0\n"))
	fuzzseed.Add(f, []byte("0\n2\n5 10\n4 20\n"))
	fuzzseed.Add(f, []byte("1\n1\n7\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, epochCheckpointFile)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := loadEpochCache(fuzzFS, dir)
		if err != nil && !errors.Is(err, errCheckpoint) {
			t.Fatalf("leader-epoch checkpoint: %v is not errCheckpoint", err)
		}
		if err == nil {
			for i, e := range c.entries {
				if e.epoch < 0 || e.start < 0 || (i > 0 && (e.epoch <= c.entries[i-1].epoch || e.start <= c.entries[i-1].start)) {
					t.Fatalf("loaded entries %v: not ascending and non-negative", c.entries)
				}
			}
			if err := c.save(); err != nil {
				t.Fatal(err)
			}
			back, err := loadEpochCache(fuzzFS, dir)
			if err != nil || len(back.entries) != len(c.entries) {
				t.Fatalf("saved %v, read back %v, %v", c.entries, back, err)
			}
			for i := range back.entries {
				if back.entries[i] != c.entries[i] {
					t.Fatalf("saved %v, read back %v", c.entries, back.entries)
				}
			}
		}

		path = filepath.Join(dir, recoveryPointFile)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		off, ok, err := readOffsetFile(fuzzFS, path)
		if err != nil && !errors.Is(err, errCheckpoint) {
			t.Fatalf("offset checkpoint: %v is not errCheckpoint", err)
		}
		if err != nil || !ok {
			return
		}
		if off < 0 {
			t.Fatalf("offset checkpoint read %d", off)
		}
		if err := writeOffsetFile(fuzzFS, path, off, vfs.NotSynced); err != nil {
			t.Fatal(err)
		}
		if back, ok, err := readOffsetFile(fuzzFS, path); back != off || !ok || err != nil {
			t.Fatalf("wrote %d, read back %d %v %v", off, back, ok, err)
		}
	})
}

// logFiles are the files of a one-segment log that FuzzOpenLog writes.
var logFiles = []string{
	segmentName(0) + logSuffix, segmentName(0) + indexSuffix, segmentName(0) + timeIndexSuffix,
	epochCheckpointFile, recoveryPointFile, logStartOffsetFile, HighWatermarkFile,
}

// FuzzOpenLog opens a log directory whose segment, indexes and checkpoints
// are the fuzzer's: the recovery scan, the index readers and the checkpoint
// readers together. Open either fails with an error naming corruption or a
// malformed checkpoint, or gives a log whose every offset from start to end
// reads back as whole batches, CRC-checked unless the directory claims a
// clean shutdown, and which reopens to the same offsets.
func FuzzOpenLog(f *testing.F) {
	for _, clean := range []bool{true, false} {
		dir := f.TempDir()
		l, err := Open(dir, testConfig(), nil)
		if err != nil {
			f.Fatal(err)
		}
		for i, codec := range []record.Codec{record.CodecNone, record.CodecZstd, record.CodecNone} {
			mustAppend(f, l, makeBatch(f, 2+i, baseTs+int64(i), codec), ids.LeaderEpoch(i))
		}
		if err := l.WriteHighWatermark(4); err != nil {
			f.Fatal(err)
		}
		if clean {
			if err := l.Close(); err != nil {
				f.Fatal(err)
			}
		} else {
			crash(l)
		}
		var args []any
		for _, name := range logFiles {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			args = append(args, b)
		}
		fuzzseed.Add(f, append(args, clean)...)
		// A torn tail.
		args[0] = args[0].([]byte)[:len(args[0].([]byte))-7]
		fuzzseed.Add(f, append(args, false)...)
	}
	f.Fuzz(func(t *testing.T, seg, index, tindex, epochs, rp, lso, hw []byte, clean bool) {
		// The fuzzing engine has no hang detection: crash instead, so
		// it keeps the input.
		watchdog := time.AfterFunc(20*time.Second, func() {
			panic(fmt.Sprintf("no progress in 20s: seg %x index %x tindex %x epochs %q rp %q lso %q hw %q clean %v",
				seg, index, tindex, epochs, rp, lso, hw, clean))
		})
		defer watchdog.Stop()
		dir := t.TempDir()
		for i, data := range [][]byte{seg, index, tindex, epochs, rp, lso, hw} {
			if err := os.WriteFile(filepath.Join(dir, logFiles[i]), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if clean {
			if err := os.WriteFile(filepath.Join(dir, cleanShutdownFile), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		l, err := OpenFS(fuzzFS, dir, testConfig(), nil)
		if err != nil {
			if !errors.Is(err, ErrCorruptSegment) && !errors.Is(err, record.ErrCorrupt) && !errors.Is(err, errCheckpoint) {
				t.Fatalf("open: %v names neither corruption nor a malformed checkpoint", err)
			}
			return
		}
		if _, _, err := l.ReadHighWatermark(); err != nil && !errors.Is(err, errCheckpoint) {
			t.Fatalf("high watermark: %v", err)
		}
		start, end := l.LogStartOffset(), l.LogEndOffset()
		if start > end {
			t.Fatalf("log start %d above log end %d", start, end)
		}
		checkCRC := !clean
		for off := start; off < end; {
			rr, err := l.Read(off, 1<<20, end, true)
			if err != nil {
				if errors.Is(err, ErrCorruptSegment) && clean {
					break // a trusted segment found corrupt on read: refused, not served
				}
				t.Fatalf("read %d of [%d, %d): %v", off, start, end, err)
			}
			buf, err := rr.AppendTo(nil)
			rr.Release()
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			if len(buf) == 0 {
				break // the rest lies in no batch (offsets skipped)
			}
			last := off - 1
			if err := record.Split(buf, func(b []byte, h record.BatchHeader) error {
				if checkCRC {
					if _, err := record.Validate(b); err != nil {
						return err
					}
				}
				last = ids.Offset(h.LastOffset())
				return nil
			}); err != nil && !clean {
				t.Fatalf("read %d served a bad range: %v", off, err)
			} else if err != nil {
				break
			}
			if last < off {
				t.Fatalf("read %d returned batches ending at %d", off, last)
			}
			off = last + 1
		}
		if err := l.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		again, err := OpenFS(fuzzFS, dir, testConfig(), nil)
		if err != nil {
			t.Fatalf("reopen after a clean close: %v", err)
		}
		defer again.Close()
		if s, e := again.LogStartOffset(), again.LogEndOffset(); s != start || e != end {
			t.Fatalf("reopened as [%d, %d), was [%d, %d)", s, e, start, end)
		}
	})
}

// TestEpochCheckpointOutOfOrder: a leader-epoch checkpoint whose entries
// go backwards (found by FuzzCheckpoint) loads as an ascending cache, so
// OffsetForLeaderEpoch's binary search stays right; a negative entry is a
// malformed file.
func TestEpochCheckpointOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, epochCheckpointFile)
	for _, tc := range []struct {
		data string
		want []epochEntry
	}{
		{"0\n2\n5 10\n4 20\n", []epochEntry{{5, 10}}},
		{"0\n3\n1 0\n3 50\n4 20\n", []epochEntry{{1, 0}, {4, 20}}},
	} {
		if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := loadEpochCache(fuzzFS, dir)
		if err != nil || !slices.Equal(c.entries, tc.want) {
			t.Errorf("%q loaded as %v, %v; want %v", tc.data, c, err, tc.want)
		}
	}
	if err := os.WriteFile(path, []byte("0\n1\n-1 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadEpochCache(fuzzFS, dir); !errors.Is(err, errCheckpoint) {
		t.Errorf("negative epoch: %v, want errCheckpoint", err)
	}
}
