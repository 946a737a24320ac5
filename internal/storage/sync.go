package storage

import (
	"fmt"
	"slices"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metrics"
	"github.com/strom-broker/strom/internal/vfs"
)

// SyncTo returns once everything below offset is durable (offset <= FlushedOffset),
// typically called with AppendInfo.LastOffset+1. Concurrent callers share one
// fdatasync round: a caller that arrives while a round runs waits for it, and
// if that round did not cover its offset, one of the waiters runs the next
// round for all of them. Offsets above the log end offset are clamped to it.
//
// A failed fdatasync fails the log (ErrFailed): this call, every waiter of
// its round and every later call return an error, and the flushed offset
// never moves again, even though a retried fdatasync would likely succeed
// (the kernel may have dropped the pages it could not write).
func (l *Log) SyncTo(offset ids.Offset) error {
	return l.syncTo(int64(offset), false)
}

// syncTo implements SyncTo; own makes the caller run a round of its own even
// if the offset is already flushed (used by Close to sync rolled segments).
func (l *Log) syncTo(offset int64, own bool) error {
	offset = min(offset, int64(l.LogEndOffset()))
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	for {
		if !own && l.flushed.Load() >= offset {
			return nil
		}
		if l.syncing {
			l.syncWaiters++
			l.syncCond.Wait()
			l.syncWaiters--
			continue
		}
		l.syncing = true
		l.syncMu.Unlock()
		target, err := l.syncRound()
		l.syncMu.Lock()
		l.syncing = false
		if err == nil && target > l.flushed.Load() {
			l.flushed.Store(target)
		}
		l.syncCond.Broadcast()
		if err != nil || own {
			return err
		}
	}
}

// syncRound fdatasyncs the rolled-but-unsynced segments and the active one,
// and returns the log end offset that is now durable. Only one round runs at a time.
func (l *Log) syncRound() (int64, error) {
	l.mu.RLock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.RUnlock()
		return 0, fmt.Errorf("sync: %w", err)
	}
	segs := append(l.syncScratch[:0], l.mu.unsynced...)
	rolled := len(segs)
	act := l.activeLocked()
	segs = append(segs, act)
	for _, s := range segs {
		s.incRef()
	}
	target := l.mu.leo
	l.mu.RUnlock()
	l.syncScratch = segs

	defer func() {
		for i, s := range segs {
			s.decRef()
			segs[i] = nil
		}
	}()
	if l.beforeSync != nil {
		l.beforeSync()
	}
	start := time.Now()
	for _, s := range segs {
		if err := s.log.SyncData(); err != nil {
			return 0, fmt.Errorf("sync: %w", l.fail(err))
		}
	}
	metrics.LogFlushSeconds.Observe(time.Since(start).Seconds())
	if n := target - l.flushed.Load(); n > 0 {
		metrics.LogFlushRecords.Observe(float64(n))
	}
	l.syncs.Add(1)
	if rolled > 0 {
		l.mu.Lock()
		l.mu.unsynced = slices.DeleteFunc(l.mu.unsynced, func(s *segment) bool {
			return slices.Contains(segs[:rolled], s)
		})
		l.mu.Unlock()
		if err := l.writeRecoveryPointIfCurrent(act); err != nil {
			return 0, fmt.Errorf("sync: %w", err)
		}
	}
	return target, nil
}

// writeRecoveryPointIfCurrent writes act's base as the recovery point unless
// a truncation removed act meanwhile (it then wrote a lower one itself).
func (l *Log) writeRecoveryPointIfCurrent(act *segment) error {
	l.rpMu.Lock()
	defer l.rpMu.Unlock()
	l.mu.RLock()
	current := slices.Contains(l.mu.segments, act)
	l.mu.RUnlock()
	if !current {
		return nil
	}
	return writeOffsetFile(l.fs, l.path(recoveryPointFile), act.base, vfs.Durable)
}

// writeRecoveryPoint persists the base offset below which every segment and
// its index files are durable, lowering it being always safe.
func (l *Log) writeRecoveryPoint(rp int64) error {
	l.rpMu.Lock()
	defer l.rpMu.Unlock()
	return writeOffsetFile(l.fs, l.path(recoveryPointFile), rp, vfs.Durable)
}

// FlushedOffset is the offset below which everything is durable.
func (l *Log) FlushedOffset() ids.Offset { return ids.Offset(l.flushed.Load()) }

// UnflushedMessages is the number of offsets appended but not yet durable.
func (l *Log) UnflushedMessages() int64 {
	return max(int64(l.LogEndOffset())-l.flushed.Load(), 0)
}

// SyncCount returns how many fdatasync rounds ran, for metrics and tests.
func (l *Log) SyncCount() int64 { return l.syncs.Load() }
