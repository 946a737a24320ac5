package storage

import (
	"fmt"
	"slices"

	"github.com/strom-broker/strom/internal/record"
)

// AppendInfo describes an append.
type AppendInfo struct {
	FirstOffset, LastOffset int64
	MaxTimestamp            int64 // largest batch MaxTimestamp, -1 when none
	NumBatches              int
}

// Append appends one or more concatenated batches, already checked with
// record.Validate, assigning base offsets from the log end offset in order and
// setting their partition leader epoch to epoch. It rewrites those fields in
// batches. The batches go to the file in one write; the segment is rolled
// first if they would not fit or it is too old. A newer epoch is recorded in
// the leader-epoch checkpoint.
func (l *Log) Append(batches []byte, epoch int32) (AppendInfo, error) {
	return l.append(batches, epoch, false)
}

// AppendAsFollower appends batches keeping their offsets and epochs, for
// replication. Each batch is checked with record.Validate (a fetch response's
// trailing partial batch must be cut off first, see record.SplitPartial); base
// offsets must be at least the log end offset and increase (gaps are allowed:
// compaction leaves them, also before the first batch of a fetch). New epochs found in the batches are
// recorded in the leader-epoch checkpoint.
func (l *Log) AppendAsFollower(batches []byte) (AppendInfo, error) {
	return l.append(batches, -1, true)
}

func (l *Log) append(batches []byte, epoch int32, follower bool) (AppendInfo, error) {
	info := AppendInfo{FirstOffset: -1, LastOffset: -1, MaxTimestamp: -1}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.checkWritableLocked()
	leo, cfg, latest := l.mu.leo, l.mu.cfg, l.mu.epochs.latest()
	l.mu.RUnlock()
	if err != nil {
		return info, fmt.Errorf("append: %w", err)
	}
	if len(batches) == 0 {
		return info, nil
	}
	next := leo
	newEpochs := l.epochScratch[:0]
	if !follower && epoch > latest {
		newEpochs = append(newEpochs, epochEntry{epoch: epoch, start: leo})
	}
	err = record.Split(batches, func(b []byte, h record.BatchHeader) error {
		if follower {
			// The leader's bytes are stored as they are: check them as a produce would.
			// validateStored: a leader's compacted batches hold fewer records than their offset span.
			if _, err := validateStored(b); err != nil {
				return err
			}
			// A gap, even before the first batch, is what compaction leaves (Kafka allows it too).
			if h.BaseOffset < next {
				return fmt.Errorf("batch base offset %d at log end offset %d: %w", h.BaseOffset, next, ErrOffsetMismatch)
			}
			if e := h.PartitionLeaderEpoch; e > latest {
				newEpochs = append(newEpochs, epochEntry{epoch: e, start: h.BaseOffset})
				latest = e
			}
		} else {
			record.SetBaseOffset(b, next)
			record.SetPartitionLeaderEpoch(b, epoch)
			h.BaseOffset = next
		}
		if info.NumBatches == 0 {
			info.FirstOffset = h.BaseOffset
		}
		next = h.LastOffset() + 1
		info.LastOffset = next - 1
		info.MaxTimestamp = max(info.MaxTimestamp, h.MaxTimestamp)
		info.NumBatches++
		return nil
	})
	l.epochScratch = newEpochs
	if err != nil {
		return AppendInfo{FirstOffset: -1, LastOffset: -1, MaxTimestamp: -1}, fmt.Errorf("append: %w", err)
	}
	if err := l.maybeRoll(cfg, int64(len(batches)), info.LastOffset); err != nil {
		return info, fmt.Errorf("append: %w", err)
	}
	if len(newEpochs) > 0 {
		if err := l.assignEpochs(newEpochs); err != nil {
			return info, fmt.Errorf("append: %w", err)
		}
	}
	if err := l.writeAndPublish(batches, next, cfg.IndexIntervalBytes); err != nil {
		return info, fmt.Errorf("append: %w", err)
	}
	return info, nil
}

// writeAndPublish writes batches at the end of the active segment, then makes
// them visible to readers. Needs appendMu.
func (l *Log) writeAndPublish(batches []byte, next int64, interval int32) error {
	act := l.mu.segments[len(l.mu.segments)-1] // stable: appendMu held
	pos := act.size
	if _, err := act.log.WriteAt(batches, pos); err != nil {
		werr := fmt.Errorf("write %s at %d: %w", act.logPath(), pos, err)
		// Drop a partial write so the next append lands on a batch boundary.
		if terr := act.log.Truncate(pos); terr != nil {
			return l.fail(fmt.Errorf("%w; truncate after failed write: %w", werr, terr))
		}
		return werr
	}
	l.mu.Lock()
	if act.size == 0 {
		act.rollBaseMs = l.now().UnixMilli()
	}
	_ = record.Split(batches, func(_ []byte, h record.BatchHeader) error {
		act.observe(h, pos, interval)
		pos += int64(h.TotalSize())
		return nil
	})
	l.mu.leo = next
	l.mu.Unlock()
	return nil
}

// assignEpochs records new leader epochs and persists the checkpoint. When
// the checkpoint cannot be written the new entries are taken back, so that
// the next append of that epoch writes it again (rewriting the whole file
// from memory, which a failed fsync of the discarded temporary file does not
// taint); kept, they would let batches of an epoch the file does not know
// survive a crash, answered for by OffsetForLeaderEpoch as the epoch before.
func (l *Log) assignEpochs(entries []epochEntry) error {
	l.mu.Lock()
	prev := slices.Clone(l.mu.epochs.entries)
	for _, e := range entries {
		l.mu.epochs.assign(e.epoch, e.start)
	}
	snap := l.mu.epochs.clone()
	l.mu.Unlock()
	if err := snap.save(); err != nil {
		l.mu.Lock()
		l.mu.epochs.entries = prev
		l.mu.Unlock()
		return err
	}
	return nil
}

// maybeRoll starts a new active segment if size more bytes ending at
// lastOffset should not go into the current one. Needs appendMu.
func (l *Log) maybeRoll(cfg Config, size, lastOffset int64) error {
	act := l.mu.segments[len(l.mu.segments)-1]
	if act.size == 0 {
		return nil
	}
	nowMs := l.now().UnixMilli()
	roll := act.size+size > cfg.SegmentBytes ||
		(cfg.SegmentMs > 0 && act.rollBaseMs >= 0 && nowMs-act.rollBaseMs > cfg.SegmentMs) ||
		act.indexFull(cfg.MaxIndexBytes) ||
		relOverflow(act.base, lastOffset)
	if !roll {
		return nil
	}
	return l.roll()
}

// roll writes the active segment's indexes and starts a new segment at the
// log end offset. Needs appendMu.
func (l *Log) roll() error {
	old := l.mu.segments[len(l.mu.segments)-1]
	l.mu.Lock()
	old.maybeAddTimeEntry()
	leo := l.mu.leo
	l.mu.Unlock()
	if err := old.writeIndexes(); err != nil {
		return fmt.Errorf("roll segment %s: %w", old.logPath(), err)
	}
	s, err := createSegment(l.fs, l.dir, leo)
	if err != nil {
		return fmt.Errorf("roll: %w", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.decRef()
		_ = s.removeFiles()
		return fmt.Errorf("roll: %w", err)
	}
	l.mu.Lock()
	l.mu.segments = append(l.mu.segments, s)
	l.mu.unsynced = append(l.mu.unsynced, old)
	l.mu.Unlock()
	l.logger.Debug("rolled segment", "base_offset", leo)
	return nil
}
