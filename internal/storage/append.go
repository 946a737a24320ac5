package storage

import (
	"fmt"
	"slices"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
)

// AppendInfo describes an append.
type AppendInfo struct {
	FirstOffset, LastOffset ids.Offset
	MaxTimestamp            int64 // largest batch MaxTimestamp, -1 when none
	NumBatches              int
}

// Append appends one or more concatenated batches, already checked with
// record.Validate, whose headers, in order, are headers: the caller parsed
// them once, Append parses none. It assigns base offsets from the log end
// offset in order and sets the partition leader epoch to epoch, in the
// batches and in headers. The batches go to the file in one write; the
// segment is rolled first if they would not fit or it is too old. A newer
// epoch is recorded in the leader-epoch checkpoint.
func (l *Log) Append(batches []byte, headers []record.BatchHeader, epoch ids.LeaderEpoch) (AppendInfo, error) {
	size := 0
	for _, h := range headers {
		size += h.TotalSize()
	}
	if size != len(batches) {
		return AppendInfo{FirstOffset: -1, LastOffset: -1, MaxTimestamp: -1},
			fmt.Errorf("append: %d bytes, headers say %d: %w", len(batches), size, record.ErrCorrupt)
	}
	return l.append(batches, headers, epoch)
}

// AppendAsFollower appends batches keeping their offsets and epochs, for
// replication. Each batch is checked with record.Validate (a fetch response's
// trailing partial batch must be cut off first, see record.SplitPartial); base
// offsets must be at least the log end offset and increase (gaps are allowed:
// compaction leaves them, also before the first batch of a fetch). New epochs found in the batches are
// recorded in the leader-epoch checkpoint.
func (l *Log) AppendAsFollower(batches []byte) (AppendInfo, error) {
	return l.append(batches, nil, -1)
}

// append appends the leader's batches with their headers leader, or (leader
// nil) a follower's batches, parsing each header once.
func (l *Log) append(batches []byte, leader []record.BatchHeader, epoch ids.LeaderEpoch) (AppendInfo, error) {
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
	newEpochs := l.epochScratch[:0]
	var headers []record.BatchHeader
	if leader != nil {
		headers = leader
		next, pos := leo, 0
		for i := range headers {
			h := &headers[i]
			record.SetBaseOffset(batches[pos:], next)
			record.SetPartitionLeaderEpoch(batches[pos:], int32(epoch))
			h.BaseOffset, h.PartitionLeaderEpoch = next, int32(epoch)
			next, pos = h.LastOffset()+1, pos+h.TotalSize()
		}
		if epoch > latest {
			newEpochs = append(newEpochs, epochEntry{epoch: epoch, start: leo})
		}
	} else {
		hs, next := l.headerScratch[:0], leo
		err = record.Split(batches, func(b []byte, h record.BatchHeader) error {
			// The leader's bytes are stored as they are: check them as a produce would.
			// validateStored: a leader's compacted batches hold fewer records than their offset span.
			if _, err := validateStored(b); err != nil {
				return err
			}
			// A gap, even before the first batch, is what compaction leaves (Kafka allows it too).
			if h.BaseOffset < next {
				return fmt.Errorf("batch base offset %d at log end offset %d: %w", h.BaseOffset, next, ErrOffsetMismatch)
			}
			if e := ids.LeaderEpoch(h.PartitionLeaderEpoch); e > latest {
				newEpochs = append(newEpochs, epochEntry{epoch: e, start: h.BaseOffset})
				latest = e
			}
			next = h.LastOffset() + 1
			hs = append(hs, h)
			return nil
		})
		l.headerScratch, headers = hs, hs
	}
	l.epochScratch = newEpochs
	if err != nil {
		return info, fmt.Errorf("append: %w", err)
	}
	info.FirstOffset, info.LastOffset = ids.Offset(headers[0].BaseOffset), ids.Offset(headers[len(headers)-1].LastOffset())
	for _, h := range headers {
		info.MaxTimestamp = max(info.MaxTimestamp, h.MaxTimestamp)
	}
	info.NumBatches = len(headers)
	if err := l.maybeRoll(cfg, int64(len(batches)), int64(info.LastOffset)); err != nil {
		return info, fmt.Errorf("append: %w", err)
	}
	if len(newEpochs) > 0 {
		if err := l.assignEpochs(newEpochs); err != nil {
			return info, fmt.Errorf("append: %w", err)
		}
	}
	if err := l.writeAndPublish(batches, headers, cfg.IndexIntervalBytes); err != nil {
		return info, fmt.Errorf("append: %w", err)
	}
	return info, nil
}

// writeAndPublish writes batches, whose headers are headers, at the end of
// the active segment, then makes them visible to readers. Needs appendMu.
func (l *Log) writeAndPublish(batches []byte, headers []record.BatchHeader, interval int32) error {
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
	for _, h := range headers {
		act.observe(h, pos, interval)
		pos += int64(h.TotalSize())
	}
	l.mu.leo = headers[len(headers)-1].LastOffset() + 1
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
