package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/vfs"
)

// Checkpoint files: small text files in the log directory, all in one
// format (docs/storage-format.md, "Checkpoint files"), all read by
// readCheckpoint and replaced whole with vfs.WriteAtomic.

// Names of the per-partition metadata files.
const (
	epochCheckpointFile = "leader-epoch-checkpoint"
	logStartOffsetFile  = "log-start-offset"
	recoveryPointFile   = "recovery-point"
	cleanShutdownFile   = ".clean-shutdown"
	checkpointVersion   = 0

	// HighWatermarkFile is the high-watermark checkpoint of a replicated
	// partition (Kafka's replication-offset-checkpoint, one file per
	// partition here): see ReadHighWatermark.
	HighWatermarkFile = "replication-high-watermark"
)

// epochEntry says that leader epoch epoch started at offset start.
type epochEntry struct {
	epoch ids.LeaderEpoch
	start int64
}

// epochCache is the in-memory form of leader-epoch-checkpoint. Guarded by Log.mu.
type epochCache struct {
	fs      vfs.FS
	path    string
	entries []epochEntry // ascending in both epoch and start
}

// clone is a copy to save outside Log.mu.
func (c *epochCache) clone() epochCache {
	return epochCache{fs: c.fs, path: c.path, entries: slices.Clone(c.entries)}
}

func (c *epochCache) latest() ids.LeaderEpoch {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].epoch
}

// assign records that epoch starts at start, if epoch is newer than the latest.
// It reports whether the cache changed.
func (c *epochCache) assign(epoch ids.LeaderEpoch, start int64) bool {
	if epoch < 0 || epoch <= c.latest() {
		return false
	}
	// An entry starting at or after start is stale (follower truncation missed it).
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].start >= start {
		c.entries = c.entries[:len(c.entries)-1]
	}
	c.entries = append(c.entries, epochEntry{epoch: epoch, start: start})
	return true
}

// truncateFromEnd drops entries starting at or after leo.
func (c *epochCache) truncateFromEnd(leo int64) bool {
	n := len(c.entries)
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].start >= leo {
		c.entries = c.entries[:len(c.entries)-1]
	}
	return n != len(c.entries)
}

// truncateFromStart drops entries wholly below lso, moving the start of the
// entry covering lso up to lso.
func (c *epochCache) truncateFromStart(lso int64) bool {
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].start > lso })
	if i == 0 {
		return false
	}
	keep := c.entries[i-1]
	if keep.start == lso && i == 1 {
		return false
	}
	keep.start = lso
	c.entries = append([]epochEntry{keep}, c.entries[i:]...)
	return true
}

// endOffsetFor implements OffsetForLeaderEpoch: the end offset of the largest
// epoch <= epoch, i.e. the start offset of the next higher epoch, or leo for
// the latest epoch.
func (c *epochCache) endOffsetFor(epoch ids.LeaderEpoch, leo int64) (ids.LeaderEpoch, int64) {
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	if epoch == c.latest() {
		return epoch, leo
	}
	hi := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].epoch > epoch })
	if hi == len(c.entries) {
		return -1, -1
	}
	if hi == 0 {
		return epoch, c.entries[0].start
	}
	return c.entries[hi-1].epoch, c.entries[hi].start
}

// save writes the checkpoint in Kafka's text format: version, count, then
// "epoch start" per line.
func (c *epochCache) save() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	return vfs.WriteAtomic(c.fs, c.path, b.Bytes(), vfs.Durable)
}

func loadEpochCache(fsys vfs.FS, dir string) (*epochCache, error) {
	c := &epochCache{fs: fsys, path: filepath.Join(dir, epochCheckpointFile)}
	lines, err := readCheckpoint(fsys, c.path)
	if err != nil || lines == nil {
		return c, err
	}
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("read %s: line %d: %q: %w", c.path, i+3, l, errCheckpoint)
		}
		ep, err1 := strconv.ParseInt(f[0], 10, 32)
		st, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || ep < 0 || st < 0 {
			return nil, fmt.Errorf("read %s: line %d: %q: %w", c.path, i+3, l, errCheckpoint)
		}
		// Entries go through assign, as Kafka's cache loads its
		// checkpoint: one that does not move both epoch and start
		// forward drops what it conflicts with, so the cache stays
		// ascending in both whatever the file says.
		c.assign(ids.LeaderEpoch(ep), st)
	}
	return c, nil
}

var errCheckpoint = errors.New("malformed checkpoint file")

// readCheckpoint reads a "version\ncount\nline*count" file and returns the
// entry lines; nil, nil when the file does not exist. It is the one reader
// of every checkpoint file.
func readCheckpoint(fsys vfs.FS, path string) ([]string, error) {
	data, err := vfs.ReadFile(fsys, path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 || lines[0] != strconv.Itoa(checkpointVersion) {
		return nil, fmt.Errorf("read %s: header: %w", path, errCheckpoint)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("read %s: count %q for %d lines: %w", path, lines[1], len(lines)-2, errCheckpoint)
	}
	return lines[2:], nil
}

// readOffsetFile reads a single-offset checkpoint ("0\n1\n<offset>\n"); ok is
// false when the file does not exist.
func readOffsetFile(fsys vfs.FS, path string) (off int64, ok bool, err error) {
	lines, err := readCheckpoint(fsys, path)
	if err != nil || lines == nil {
		return 0, false, err
	}
	if len(lines) != 1 {
		return 0, false, fmt.Errorf("read %s: %d entries: %w", path, len(lines), errCheckpoint)
	}
	off, err = strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	if err != nil || off < 0 {
		return 0, false, fmt.Errorf("read %s: offset %q: %w", path, lines[0], errCheckpoint)
	}
	return off, true, nil
}

// writeOffsetFile replaces a single-offset checkpoint.
func writeOffsetFile(fsys vfs.FS, path string, off int64, d vfs.Durability) error {
	return vfs.WriteAtomic(fsys, path, fmt.Appendf(nil, "%d\n1\n%d\n", checkpointVersion, off), d)
}

// ReadHighWatermark returns the high watermark last checkpointed with
// WriteHighWatermark; ok is false when there is none. An error means the
// file is there but unreadable or malformed: callers treat it as none.
func (l *Log) ReadHighWatermark() (hw ids.Offset, ok bool, err error) {
	off, ok, err := readOffsetFile(l.fs, l.path(HighWatermarkFile))
	return ids.Offset(off), ok, err
}

// WriteHighWatermark checkpoints the high watermark. It does not fsync:
// after a crash the file may be missing, empty, or a prefix of what was
// written, all of which read as no checkpoint or a lower offset (a prefix
// of a decimal number is smaller), which is safe; and a broker checkpoints
// every replicated partition on one ticker.
func (l *Log) WriteHighWatermark(hw ids.Offset) error {
	l.hwMu.Lock()
	defer l.hwMu.Unlock()
	return writeOffsetFile(l.fs, l.path(HighWatermarkFile), int64(hw), vfs.NotSynced)
}
