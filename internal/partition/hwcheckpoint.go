package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The high-watermark checkpoint (Kafka's replication-offset-checkpoint,
// one file per partition here) lets a replicated partition that restarts
// expose what was committed before, instead of nothing until its ISR has
// fetched again. It is written every hwCheckpointInterval and on a clean
// close; a lost or stale one only makes the HW start lower. Format: the
// single-offset checkpoint text of the other per-partition files,
// "0\n1\n<offset>\n".
const (
	hwCheckpointFile     = "replication-high-watermark"
	hwCheckpointInterval = 5 * time.Second // replica.high.watermark.checkpoint.interval.ms
)

// readHWCheckpoint returns the checkpointed high watermark of the log in
// dir; ok is false when there is none or it cannot be read.
func readHWCheckpoint(dir string) (hw int64, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, hwCheckpointFile))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != "0" || lines[1] != "1" {
		return 0, false
	}
	hw, err = strconv.ParseInt(lines[2], 10, 64)
	if err != nil || hw < 0 {
		return 0, false
	}
	return hw, true
}

// writeHWCheckpoint replaces the checkpoint (write, rename). It does not
// fsync: after a crash the file may be missing, empty, or a prefix of
// what was written, all of which read as no checkpoint or a lower offset
// (a prefix of a decimal number is smaller), which is safe; and many
// partitions checkpoint on one ticker.
func writeHWCheckpoint(dir string, hw int64) error {
	path := filepath.Join(dir, hwCheckpointFile)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := fmt.Fprintf(f, "0\n1\n%d\n", hw)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// restoreHW sets the starting high watermark of a replicated partition
// just opened: the checkpoint, within the log's bounds, or the log start.
// What lies above it may be an uncommitted tail; the leader's HW rule
// moves it up once the ISR has fetched.
func (p *Partition) restoreHW() {
	lso, leo := p.log.LogStartOffset(), p.log.LogEndOffset()
	hw := lso
	if cp, ok := readHWCheckpoint(p.log.Dir()); ok {
		hw = max(min(cp, leo), lso)
	}
	p.mu.Lock()
	p.mu.hw = hw
	p.mu.checkpointedHW = hw
	p.mu.replicated = true
	p.mu.Unlock()
}

// checkpointHW writes the high watermark if it moved since the last write
// and force or the interval has passed.
func (p *Partition) checkpointHW(now time.Time, force bool) {
	p.mu.Lock()
	hw, last, at, replicated := p.mu.hw, p.mu.checkpointedHW, p.mu.checkpointedAt, p.mu.replicated
	p.mu.Unlock()
	if !replicated || hw == last || (!force && now.Sub(at) < hwCheckpointInterval) {
		return
	}
	if err := writeHWCheckpoint(p.log.Dir(), hw); err != nil {
		p.logger.Warn("high-watermark checkpoint failed", "topic", p.Topic, "partition", p.Index, "err", err)
		return
	}
	p.mu.Lock()
	p.mu.checkpointedHW, p.mu.checkpointedAt = hw, now
	p.mu.Unlock()
}
