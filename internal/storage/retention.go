package storage

import (
	"fmt"
	"slices"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/vfs"
)

// SetLogStartOffset raises the log start offset (DeleteRecords), persists it,
// and deletes the segments wholly below it. It fails with ErrOffsetOutOfRange
// when off is above the log end offset; a lower offset is a no-op.
func (l *Log) SetLogStartOffset(off ids.Offset) error {
	lso := int64(off)
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("set log start offset: %w", err)
	}
	if lso > l.mu.leo {
		leo := l.mu.leo
		l.mu.Unlock()
		return fmt.Errorf("set log start offset %d above log end offset %d: %w", lso, leo, ErrOffsetOutOfRange)
	}
	if lso <= l.mu.lso {
		l.mu.Unlock()
		return nil
	}
	l.mu.lso = lso
	l.mu.Unlock()
	if err := l.afterLSOChange(); err != nil {
		return fmt.Errorf("set log start offset %d: %w", lso, err)
	}
	segs := l.mu.segments // stable: appendMu held
	n := 0
	for n < len(segs)-1 && segs[n+1].base <= lso {
		n++
	}
	if err := l.deleteOldest(n); err != nil {
		return fmt.Errorf("set log start offset %d: %w", lso, err)
	}
	return nil
}

// afterLSOChange persists the log start offset and trims the epoch cache. Needs appendMu.
func (l *Log) afterLSOChange() error {
	l.mu.Lock()
	lso := l.mu.lso
	changed := l.mu.epochs.truncateFromStart(lso)
	snap := l.mu.epochs.clone()
	l.mu.Unlock()
	if err := writeOffsetFile(l.fs, l.path(logStartOffsetFile), lso, vfs.Durable); err != nil {
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
// without them; the active segment is never deleted, nor a segment with
// offsets at or above upTo (the partition passes its last stable offset:
// Kafka stops at the high watermark, so that the log start never passes
// it; stopping at the LSO also keeps the start of an open transaction, so
// that read_committed readers never see only its end). It returns the
// number of segments deleted.
func (l *Log) ApplyRetention(now time.Time, upTo ids.Offset) (int, error) {
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
	n := max(byTime, bySize)
	for n > 0 && segs[n].base > int64(upTo) { // segs[n] exists: n <= len(segs)-1
		n--
	}
	l.mu.RUnlock()
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
	fi, err := s.fs.Stat(s.logPath())
	if err != nil {
		return -1 << 62
	}
	return fi.ModTime().UnixMilli()
}
