package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/vfs"
)

// load reads the directory into l. Only Open calls it.
func (l *Log) load() error {
	_, err := l.fs.Stat(l.path(cleanShutdownFile))
	clean := err == nil
	// A malformed checkpoint is replaced by what the log itself says (each
	// file is rewritten below): the first segment's base for the log start
	// (records a DeleteRecords removed may come back, none is altered), a
	// full recovery scan for the recovery point, the batches' own leader
	// epochs for the epoch checkpoint. An I/O error reading one is fatal.
	lso, hasLSO, err := readOffsetFile(l.fs, l.path(logStartOffsetFile))
	if errors.Is(err, errCheckpoint) {
		l.logger.Warn("malformed log start offset checkpoint; using the first segment's base offset", "file", l.path(logStartOffsetFile), "why", err)
		lso, hasLSO, err = 0, false, nil
	}
	if err != nil {
		return err
	}
	rp, _, err := readOffsetFile(l.fs, l.path(recoveryPointFile))
	if errors.Is(err, errCheckpoint) {
		l.logger.Warn("malformed recovery point; recovering every segment", "file", l.path(recoveryPointFile), "why", err)
		rp, clean, err = 0, false, nil
	}
	if err != nil {
		return err
	}
	rebuildEpochs := false
	if l.mu.epochs, err = loadEpochCache(l.fs, l.dir); errors.Is(err, errCheckpoint) {
		l.logger.Warn("malformed leader epoch checkpoint; rebuilding it from the batches' leader epochs", "file", filepath.Join(l.dir, epochCheckpointFile), "why", err)
		l.mu.epochs, err = &epochCache{fs: l.fs, path: filepath.Join(l.dir, epochCheckpointFile)}, nil
		rebuildEpochs = true
	}
	if err != nil {
		return err
	}
	if err := completeSwaps(l.fs, l.dir, l.logger); err != nil {
		return err
	}
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	if !clean && len(bases) > 0 {
		l.logger.Info("log not closed cleanly, recovering", "recovery_point", rp)
	}
	for i, base := range bases {
		last := i == len(bases)-1
		// Only the tail written since the last sync can be torn, and only
		// by a crash: damage anywhere else was acknowledged data.
		s, err := l.loadSegment(base, last && !clean, clean || base < rp)
		if err != nil {
			return err
		}
		if !last {
			s.next = max(s.next, bases[i+1])
		}
		l.mu.segments = append(l.mu.segments, s)
	}
	if len(l.mu.segments) == 0 {
		s, err := createSegment(l.fs, l.dir, lso)
		if err != nil {
			return err
		}
		l.mu.segments = append(l.mu.segments, s)
	}
	if rebuildEpochs {
		if err := l.rebuildEpochsLocked(); err != nil {
			return err
		}
	}
	act := l.activeLocked()
	l.mu.leo = act.next
	if !hasLSO || lso < l.mu.segments[0].base {
		lso = l.mu.segments[0].base
	}
	l.mu.lso = lso
	if lso > l.mu.leo {
		if err := l.restartAtLocked(lso); err != nil {
			return err
		}
	}
	if err := l.finishLoad(clean, rp); err != nil {
		return err
	}
	l.flushed.Store(l.mu.leo)
	return nil
}

// rebuildEpochsLocked rebuilds the leader-epoch cache from the partition
// leader epoch of every batch, the way a Kafka follower learns them.
func (l *Log) rebuildEpochsLocked() error {
	for _, s := range l.mu.segments {
		if _, err := walkHeaders(s.log, 0, s.size, func(_ int64, h record.BatchHeader) bool {
			l.mu.epochs.assign(ids.LeaderEpoch(h.PartitionLeaderEpoch), h.BaseOffset)
			return true
		}); err != nil {
			return fmt.Errorf("rebuild leader epochs from %s: %w", s.logPath(), err)
		}
	}
	return nil
}

// finishLoad makes the recovered state durable and removes the clean marker,
// so that a crash from here on is detected.
func (l *Log) finishLoad(clean bool, rp int64) error {
	act := l.activeLocked()
	if !clean {
		for _, s := range l.mu.segments {
			if s.base < rp {
				continue
			}
			if err := s.log.SyncData(); err != nil {
				return err
			}
			if s != act {
				if err := s.writeIndexes(); err != nil {
					return err
				}
			}
		}
	}
	if err := writeOffsetFile(l.fs, l.path(recoveryPointFile), act.base, vfs.Durable); err != nil {
		return err
	}
	l.mu.epochs.truncateFromStart(l.mu.lso)
	l.mu.epochs.truncateFromEnd(l.mu.leo)
	if err := l.mu.epochs.save(); err != nil {
		return err
	}
	if err := l.persistLSOLocked(); err != nil {
		return err
	}
	if err := l.fs.Remove(l.path(cleanShutdownFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove clean-shutdown marker: %w", err)
	}
	return l.fs.SyncDir(l.dir)
}

// listSegments returns the base offsets of the .log files in ascending order,
// removing leftover temporary files and indexes without a log.
func (l *Log) listSegments() ([]int64, error) {
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", l.dir, err)
	}
	var bases []int64
	logs := map[string]bool{}
	for _, e := range ents {
		if base, ok := parseSegmentName(e.Name(), logSuffix); ok {
			bases = append(bases, base)
			logs[segmentName(base)] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		stale := strings.HasSuffix(name, vfs.TempSuffix)
		for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if base, ok := parseSegmentName(name, suf); ok && !logs[segmentName(base)] {
				stale = true
			}
		}
		if stale {
			_ = l.fs.Remove(filepath.Join(l.dir, name))
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// loadSegment opens one segment. When trusted (clean shutdown, or below the
// recovery point) it loads the index files and only walks the headers after
// the last index entry of the last segment; otherwise it CRC-scans the file.
// tail says a bad batch may be a torn tail, cut off; otherwise it is damage
// (a *DamageError).
func (l *Log) loadSegment(base int64, tail, trusted bool) (*segment, error) {
	name := filepath.Join(l.dir, segmentName(base)+logSuffix)
	f, err := l.fs.OpenReadWrite(name)
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", name, err)
	}
	s := newSegmentStruct(l.fs, l.dir, base, f)
	fi, err := f.Stat()
	if err != nil {
		s.decRef()
		return nil, fmt.Errorf("stat segment %s: %w", name, err)
	}
	s.size = fi.Size()
	if trusted {
		err := s.loadIndexes()
		if err == nil {
			if err = l.walkTail(s); err == nil {
				s.indexDirty = false
				l.initRollBase(s)
				return s, nil
			}
		}
		l.logger.Warn("rebuilding the indexes of a segment from its batches", "file", s.logPath(), "index", s.indexPath(), "why", err)
	}
	l.scanned++
	if err := l.recoverSegment(s, tail); err != nil {
		s.decRef()
		return nil, err
	}
	l.initRollBase(s)
	return s, nil
}

// walkTail finds the end of a trusted segment by walking the headers after the
// last index entry; an end short of the file size means it was not trusted after all.
func (l *Log) walkTail(s *segment) error {
	start := int64(0)
	if n := len(s.index); n > 0 {
		start = int64(s.index[n-1].pos)
	}
	s.next = s.base
	s.bytesSinceIndex = 0
	end, err := walkHeaders(s.log, start, s.size, func(pos int64, h record.BatchHeader) bool {
		s.next = h.LastOffset() + 1
		if pos > start {
			s.bytesSinceIndex += int64(h.TotalSize())
		}
		return true
	})
	if err == nil && end != s.size {
		err = fmt.Errorf("segment %s ends at %d of %d: %w", s.logPath(), end, s.size, record.ErrCorrupt)
	}
	return err
}

// initRollBase sets when segment.ms starts counting for a reopened segment:
// the first batch's timestamp, as Kafka does, or now for an empty segment.
func (l *Log) initRollBase(s *segment) {
	s.rollBaseMs = l.now().UnixMilli()
	var hdr [record.BatchHeaderSize]byte
	if _, err := s.log.ReadAt(hdr[:], 0); err == nil {
		if h, _ := record.ParseHeader(hdr[:]); h.MaxTimestamp >= 0 {
			s.rollBaseMs = h.MaxTimestamp
		}
	}
}

// recoverSegment CRC-scans the whole segment and rebuilds its in-memory
// state. A bad batch in the tail (the last segment after a crash) is cut off
// there; anywhere else it is a *DamageError naming the file, position and
// offset.
func (l *Log) recoverSegment(s *segment, tail bool) error {
	fileSize := s.size
	s.resetState()
	cfg := l.mu.cfg
	br := bufio.NewReaderSize(io.NewSectionReader(s.log, 0, fileSize), 1<<20)
	var buf []byte
	pos := int64(0)
	var bad error
	for pos < fileSize {
		var err error
		buf, err = readBatch(br, buf[:0], fileSize-pos)
		var h record.BatchHeader
		if err == nil {
			h, err = validateStored(buf)
		}
		if err == nil && (h.BaseOffset < s.next || relOverflow(s.base, h.LastOffset())) {
			err = fmt.Errorf("batch offset %d, expected at least %d: %w", h.BaseOffset, s.next, record.ErrCorrupt)
		}
		if err != nil {
			bad = err
			break
		}
		s.observe(h, pos, cfg.IndexIntervalBytes)
		pos += int64(h.TotalSize())
	}
	if bad == nil {
		return nil
	}
	if !tail {
		d := &DamageError{File: s.logPath(), Position: pos, Offset: ids.Offset(s.next), Err: bad}
		l.logger.Error("damaged segment: a batch below the log end is not readable", "file", d.File, "position", d.Position, "offset", d.Offset, "why", bad)
		return d
	}
	l.logger.Warn("truncating corrupt log tail", "file", s.logPath(), "position", pos,
		"dropped_bytes", fileSize-pos, "err", bad)
	if err := s.log.Truncate(pos); err != nil {
		return fmt.Errorf("truncate segment %s at %d: %w", s.logPath(), pos, err)
	}
	s.size = pos
	return nil
}

// readBatch reads one batch of at most avail bytes from r into dst.
func readBatch(r *bufio.Reader, dst []byte, avail int64) ([]byte, error) {
	if avail < record.BatchHeaderSize {
		return dst, fmt.Errorf("%d trailing bytes: %w", avail, record.ErrCorrupt)
	}
	var prefix [record.LogOverhead]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return dst, fmt.Errorf("read batch: %w", err)
	}
	length := int64(int32(binary.BigEndian.Uint32(prefix[8:])))
	size := length + record.LogOverhead
	if size < record.BatchHeaderSize || size > avail {
		return dst, fmt.Errorf("batch length %d with %d bytes left: %w", length, avail, record.ErrCorrupt)
	}
	dst = slices.Grow(dst[:0], int(size))[:size]
	copy(dst, prefix[:])
	if _, err := io.ReadFull(r, dst[record.LogOverhead:]); err != nil {
		return dst, fmt.Errorf("read batch: %w", err)
	}
	return dst, nil
}

// rebuildFromHeaders computes a segment's in-memory state from the batch
// headers in [0, end) without CRC checks, into a new struct sharing the file.
func (l *Log) rebuildFromHeaders(s *segment, end int64, interval int32) (*segment, error) {
	t := &segment{base: s.base, dir: s.dir, fs: s.fs, log: s.log, osf: s.osf, next: s.base,
		maxTs: -1, maxTsOffset: -1, rollBaseMs: s.rollBaseMs}
	_, err := walkHeaders(s.log, 0, end, func(pos int64, h record.BatchHeader) bool {
		t.observe(h, pos, interval)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("rebuild segment %s: %w", s.logPath(), err)
	}
	return t, nil
}

// adoptState copies the in-memory state of t into s. Needs mu held.
func (s *segment) adoptStateLocked(t *segment) {
	s.size, s.next = t.size, t.next
	s.index, s.tindex = t.index, t.tindex
	s.bytesSinceIndex = t.bytesSinceIndex
	s.maxTs, s.maxTsOffset = t.maxTs, t.maxTsOffset
	s.indexDirty = true
}
