package storage

// Truncation: everything that cuts a log back or restarts it elsewhere.
//
//   - Truncate: a follower drops its divergent tail (found by leader epoch,
//     docs/replication.md) at and above an offset.
//   - TruncateFullyAndStartAt: a follower empties its log and restarts it at
//     the leader's log start offset, which may be past its log end.
//   - restartAtLocked: the same at Open, when the log start offset file is
//     past the last segment.
//
// (A torn tail found at Open is cut by recovery, recover.go; raising the
// log start offset is retention.go's.)
//
// Each makes its result durable (the cut segment fdatasync'ed, the recovery
// point lowered, the epoch checkpoint rewritten) before the log takes
// appends again, so a crash cannot resurrect dropped batches; a failure
// there fails the log. A sync round running meanwhile is waited for and
// none starts until the truncation is done (pauseSync), so no round can
// publish a flushed offset for data the truncation removed.

import (
	"fmt"
	"slices"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
)

// Truncate drops everything at and above offset (follower truncation). If
// offset falls inside a batch, that whole batch goes, so the log end offset
// may end up below offset, as in Kafka. Offsets below the log start offset
// empty the log and restart it at offset.
func (l *Log) Truncate(offset ids.Offset) error {
	off := int64(offset)
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("truncate to %d: %w", off, err)
	}
	if off >= l.mu.leo {
		l.mu.Unlock()
		return nil
	}
	if off < 0 {
		l.mu.Unlock()
		return fmt.Errorf("truncate to %d: %w", off, ErrOffsetOutOfRange)
	}
	if off < l.mu.lso || off < l.mu.segments[0].base {
		l.mu.Unlock()
		return l.truncateFully(off)
	}
	l.cleanerTruncated(off) // a compaction run must not swap in what this removes
	i := l.segmentForLocked(off)
	s := l.mu.segments[i]
	start, cfg := s.lookup(off), l.mu.cfg
	l.mu.Unlock()

	cut, err := truncationPoint(s, off, start)
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", off, err)
	}
	t, err := l.rebuildFromHeaders(s, cut, cfg.IndexIntervalBytes)
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", off, err)
	}
	l.pauseSync()
	defer l.resumeSync()
	l.mu.Lock()
	removed := slices.Clone(l.mu.segments[i+1:])
	l.mu.segments = l.mu.segments[:i+1]
	l.mu.unsynced = slices.DeleteFunc(l.mu.unsynced, func(x *segment) bool { return x == s || slices.Contains(removed, x) })
	s.adoptStateLocked(t)
	s.aborted = slices.DeleteFunc(s.aborted, func(a AbortedTxn) bool { return a.LastOffset >= s.next })
	l.mu.leo = s.next
	l.mu.epochs.truncateFromEnd(l.mu.leo)
	snap := l.mu.epochs.clone()
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
	err = joinFirst(err, s.log.SyncData())
	// Its index files are stale now; a crash must rescan from this segment.
	_ = l.fs.Remove(s.indexPath())
	_ = l.fs.Remove(s.timeIndexPath())
	err = joinFirst(err, l.writeRecoveryPoint(s.base))
	err = joinFirst(err, snap.save())
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", off, l.fail(err))
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

// TruncateFullyAndStartAt empties the log and restarts it at offset, which
// may lie beyond the current log end: a follower whose leader's log start
// has moved past it (retention, DeleteRecords) starts over there, as
// Kafka's truncateFullyAndStartAt does.
func (l *Log) TruncateFullyAndStartAt(offset ids.Offset) error {
	off := int64(offset)
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	err := l.checkWritableLocked()
	l.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("truncate fully to %d: %w", off, err)
	}
	return l.truncateFully(off)
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
	snap := l.mu.epochs.clone()
	l.mu.Unlock()
	err = joinFirst(err, l.writeRecoveryPoint(offset))
	err = joinFirst(err, snap.save())
	err = joinFirst(err, l.fs.SyncDir(l.dir))
	if err != nil {
		return fmt.Errorf("truncate fully to %d: %w", offset, l.fail(err))
	}
	return nil
}

// restartAtLocked replaces every segment with one empty segment at offset.
func (l *Log) restartAtLocked(offset int64) error {
	for _, s := range l.mu.segments {
		if err := s.removeFiles(); err != nil {
			return err
		}
		s.decRef()
	}
	l.mu.segments, l.mu.unsynced = nil, nil
	s, err := createSegment(l.fs, l.dir, offset)
	if err != nil {
		return err
	}
	l.mu.segments = []*segment{s}
	l.mu.leo, l.mu.lso = offset, offset
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
