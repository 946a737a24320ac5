package storage

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/strom-broker/strom/internal/record"
)

// SetLogStartOffset raises the log start offset (DeleteRecords), persists it,
// and deletes the segments wholly below it. It fails with ErrOffsetOutOfRange
// when off is above the log end offset; a lower offset is a no-op.
func (l *Log) SetLogStartOffset(off int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("set log start offset: %w", err)
	}
	if off > l.mu.leo {
		leo := l.mu.leo
		l.mu.Unlock()
		return fmt.Errorf("set log start offset %d above log end offset %d: %w", off, leo, ErrOffsetOutOfRange)
	}
	if off <= l.mu.lso {
		l.mu.Unlock()
		return nil
	}
	l.mu.lso = off
	l.mu.Unlock()
	if err := l.afterLSOChange(); err != nil {
		return fmt.Errorf("set log start offset %d: %w", off, err)
	}
	segs := l.mu.segments // stable: appendMu held
	n := 0
	for n < len(segs)-1 && segs[n+1].base <= off {
		n++
	}
	if err := l.deleteOldest(n); err != nil {
		return fmt.Errorf("set log start offset %d: %w", off, err)
	}
	return nil
}

// afterLSOChange persists the log start offset and trims the epoch cache. Needs appendMu.
func (l *Log) afterLSOChange() error {
	l.mu.Lock()
	lso := l.mu.lso
	changed := l.mu.epochs.truncateFromStart(lso)
	snap := epochCache{path: l.mu.epochs.path, entries: slices.Clone(l.mu.epochs.entries)}
	l.mu.Unlock()
	if err := writeOffsetFile(l.path(logStartOffsetFile), lso); err != nil {
		return err
	}
	if changed {
		return snap.save()
	}
	return nil
}

// deleteOldest removes the n oldest segments (never the active one) and
// raises the log start offset to the new first segment. Needs appendMu.
func (l *Log) deleteOldest(n int) error {
	if n <= 0 {
		return nil
	}
	l.mu.Lock()
	n = min(n, len(l.mu.segments)-1)
	removed := slices.Clone(l.mu.segments[:n])
	l.mu.segments = slices.Delete(l.mu.segments, 0, n)
	l.mu.unsynced = slices.DeleteFunc(l.mu.unsynced, func(s *segment) bool { return slices.Contains(removed, s) })
	raised := l.mu.segments[0].base > l.mu.lso
	if raised {
		l.mu.lso = l.mu.segments[0].base
	}
	l.mu.Unlock()
	var err error
	if raised {
		err = l.afterLSOChange()
	}
	for _, s := range removed {
		if rerr := s.removeFiles(); rerr != nil && err == nil {
			err = rerr
		}
		s.decRef()
		l.logger.Debug("deleted segment", "base_offset", s.base)
	}
	return err
}

// ApplyRetention deletes the oldest segments whose largest timestamp is older
// than now minus RetentionMs, and while the log is larger than RetentionBytes
// without them; the active segment is never deleted. It returns the number of
// segments deleted.
func (l *Log) ApplyRetention(now time.Time) (int, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.RUnlock()
		return 0, fmt.Errorf("apply retention: %w", err)
	}
	cfg, segs := l.mu.cfg, l.mu.segments
	byTime := 0
	if cfg.RetentionMs >= 0 {
		cutoff := now.UnixMilli() - cfg.RetentionMs
		for byTime < len(segs)-1 && segmentTime(segs[byTime]) < cutoff {
			byTime++
		}
	}
	bySize := 0
	if cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range segs {
			total += s.size
		}
		diff := total - cfg.RetentionBytes
		for bySize < len(segs)-1 && diff-segs[bySize].size >= 0 {
			diff -= segs[bySize].size
			bySize++
		}
	}
	l.mu.RUnlock()
	n := max(byTime, bySize)
	if err := l.deleteOldest(n); err != nil {
		return n, fmt.Errorf("apply retention: %w", err)
	}
	return n, nil
}

// segmentTime is the time retention.ms counts from: the largest timestamp, or
// the file's modification time when no batch has one.
func segmentTime(s *segment) int64 {
	if s.maxTs >= 0 {
		return s.maxTs
	}
	fi, err := os.Stat(s.logPath())
	if err != nil {
		return -1 << 62
	}
	return fi.ModTime().UnixMilli()
}

// Truncate drops everything at and above offset (follower truncation). If
// offset falls inside a batch, that whole batch goes, so the log end offset
// may end up below offset, as in Kafka. Offsets below the log start offset
// empty the log and restart it at offset.
func (l *Log) Truncate(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	if offset >= l.mu.leo {
		l.mu.Unlock()
		return nil
	}
	if offset < 0 {
		l.mu.Unlock()
		return fmt.Errorf("truncate to %d: %w", offset, ErrOffsetOutOfRange)
	}
	if offset < l.mu.lso || offset < l.mu.segments[0].base {
		l.mu.Unlock()
		return l.truncateFully(offset)
	}
	l.cleanerTruncated(offset) // a compaction run must not swap in what this removes
	i := l.segmentForLocked(offset)
	s := l.mu.segments[i]
	start, cfg := s.lookup(offset), l.mu.cfg
	l.mu.Unlock()

	cut, err := truncationPoint(s, offset, start)
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	t, err := l.rebuildFromHeaders(s, cut, cfg.IndexIntervalBytes)
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	l.pauseSync()
	defer l.resumeSync()
	l.mu.Lock()
	removed := slices.Clone(l.mu.segments[i+1:])
	l.mu.segments = l.mu.segments[:i+1]
	l.mu.unsynced = slices.DeleteFunc(l.mu.unsynced, func(x *segment) bool { return x == s || slices.Contains(removed, x) })
	s.adoptStateLocked(t)
	l.mu.leo = s.next
	l.mu.epochs.truncateFromEnd(l.mu.leo)
	snap := epochCache{path: l.mu.epochs.path, entries: slices.Clone(l.mu.epochs.entries)}
	l.mu.Unlock()
	if l.flushed.Load() > s.next {
		l.flushed.Store(s.next)
	}
	for _, r := range removed {
		err = joinFirst(err, r.removeFiles())
		r.decRef()
	}
	err = joinFirst(err, s.log.Truncate(cut))
	// Durable before anyone appends again: a crash must not resurrect the dropped batches.
	err = joinFirst(err, fdatasync(s.log))
	// Its index files are stale now; a crash must rescan from this segment.
	_ = os.Remove(s.indexPath())
	_ = os.Remove(s.timeIndexPath())
	err = joinFirst(err, l.writeRecoveryPoint(s.base))
	err = joinFirst(err, snap.save())
	if err != nil {
		l.fail(err)
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	return nil
}

// truncationPoint is the position of the first batch whose last offset is >= offset.
func truncationPoint(s *segment, offset, start int64) (int64, error) {
	cut := s.size
	_, err := walkHeaders(s.log, start, s.size, func(pos int64, h record.BatchHeader) bool {
		if h.LastOffset() >= offset {
			cut = pos
			return false
		}
		return true
	})
	return cut, err
}

// truncateFully replaces the whole log by an empty one starting at offset. Needs appendMu.
func (l *Log) truncateFully(offset int64) error {
	l.cleanerTruncated(offset)
	l.pauseSync()
	defer l.resumeSync()
	l.mu.Lock()
	err := l.restartAtLocked(offset)
	if err == nil {
		l.mu.epochs.truncateFromEnd(offset)
		l.flushed.Store(offset)
		err = l.persistLSOLocked()
	}
	snap := epochCache{path: l.mu.epochs.path, entries: slices.Clone(l.mu.epochs.entries)}
	l.mu.Unlock()
	err = joinFirst(err, l.writeRecoveryPoint(offset))
	err = joinFirst(err, snap.save())
	err = joinFirst(err, syncDir(l.dir))
	if err != nil {
		l.fail(err)
		return fmt.Errorf("truncate fully to %d: %w", offset, err)
	}
	return nil
}

// pauseSync waits for a running sync round and keeps new ones from starting
// until resumeSync, so that a round cannot publish a flushed offset for data
// a truncation removes.
func (l *Log) pauseSync() {
	l.syncMu.Lock()
	for l.syncing {
		l.syncCond.Wait()
	}
	l.syncing = true
	l.syncMu.Unlock()
}

func (l *Log) resumeSync() {
	l.syncMu.Lock()
	l.syncing = false
	l.syncCond.Broadcast()
	l.syncMu.Unlock()
}

func joinFirst(err, next error) error {
	if err != nil {
		return err
	}
	return next
}
