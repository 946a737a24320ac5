package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
)

// ReadResult is a range of one segment file holding whole batches. It holds a
// reference on the file: call Release when done (it is safe to call twice).
// The zero value is an empty result.
type ReadResult struct {
	seg         *segment
	pos         int64
	size        int
	FirstOffset ids.Offset // base offset of the first batch; -1 when empty
	LastOffset  ids.Offset // last offset of the last batch; -1 when empty
}

// Size is the number of bytes in the range.
func (r *ReadResult) Size() int { return r.size }

// File is the segment file holding the range, nil when empty; for sendfile.
func (r *ReadResult) File() *os.File {
	if r.seg == nil {
		return nil
	}
	return r.seg.osf
}

// Pos is the position of the range in File.
func (r *ReadResult) Pos() int64 { return r.pos }

// AppendTo reads the range and appends it to dst.
func (r *ReadResult) AppendTo(dst []byte) ([]byte, error) {
	if r.size == 0 {
		return dst, nil
	}
	dst = slices.Grow(dst, r.size)
	n := len(dst)
	dst = dst[:n+r.size]
	if _, err := r.seg.log.ReadAt(dst[n:], r.pos); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // truncated under us
		}
		return dst[:n], fmt.Errorf("read %s at %d: %w", r.seg.logPath(), r.pos, err)
	}
	return dst, nil
}

// Release drops the reference on the file.
func (r *ReadResult) Release() {
	if r.seg != nil {
		r.seg.decRef()
		r.seg = nil
	}
}

func emptyResult() ReadResult { return ReadResult{FirstOffset: -1, LastOffset: -1} }

// Read returns whole batches from one segment, starting with the batch that
// contains offset: at most maxBytes, but at least one whole batch when minOne;
// only batches whose last offset is below maxOffset (the high watermark; pass
// LogEndOffset for no bound). It fails with ErrOffsetOutOfRange when offset is
// below the log start offset or above the log end offset; offset == log end
// or >= maxOffset gives an empty result.
func (l *Log) Read(offset ids.Offset, maxBytes int32, maxOffset ids.Offset, minOne bool) (ReadResult, error) {
	off, maxOff := int64(offset), int64(maxOffset)
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return emptyResult(), fmt.Errorf("read offset %d: %w", off, ErrClosed)
	}
	if off < l.mu.lso || off > l.mu.leo {
		lso, leo := l.mu.lso, l.mu.leo
		l.mu.RUnlock()
		return emptyResult(), fmt.Errorf("read offset %d, log has [%d, %d]: %w", off, lso, leo, ErrOffsetOutOfRange)
	}
	if off >= l.mu.leo || off >= maxOff {
		l.mu.RUnlock()
		return emptyResult(), nil
	}
	i := l.segmentForLocked(off)
	for {
		s := l.mu.segments[i]
		s.incRef()
		start, end := s.lookup(off), s.size
		l.mu.RUnlock()
		res, found, err := readSegment(s, off, start, end, maxBytes, maxOff, minOne)
		if err != nil || res.seg != nil || found {
			if res.seg == nil {
				s.decRef()
			}
			return res, err
		}
		s.decRef()
		// Every batch of s is below offset: it starts in a later segment.
		l.mu.RLock()
		i = slices.IndexFunc(l.mu.segments, func(n *segment) bool { return n.base > s.base })
		if i < 0 {
			l.mu.RUnlock()
			return emptyResult(), nil
		}
	}
}

// readSegment walks s from start to end for the batches to return. found
// reports that the batch containing offset was reached even if not returned.
// A returned non-empty result takes over the caller's reference on s.
func readSegment(s *segment, offset, start, end int64, maxBytes int32, maxOffset int64, minOne bool) (ReadResult, bool, error) {
	res := emptyResult()
	found := false
	var total int64
	_, err := walkHeaders(s.log, start, end, func(pos int64, h record.BatchHeader) bool {
		last := h.LastOffset()
		if last < offset {
			return true
		}
		found = true
		size := int64(h.TotalSize())
		if last >= maxOffset || (total+size > int64(maxBytes) && (total > 0 || !minOne)) {
			return false
		}
		if total == 0 {
			res.pos, res.FirstOffset = pos, ids.Offset(h.BaseOffset)
		}
		total += size
		res.LastOffset = ids.Offset(last)
		return true
	})
	if err != nil {
		return emptyResult(), found, fmt.Errorf("read offset %d: %w", offset, err)
	}
	if total == 0 {
		return emptyResult(), found, nil
	}
	res.seg, res.size = s, int(total)
	return res, true, nil
}

// ScanBatches calls fn with the header of every batch whose base offset is >=
// from, in offset order. An error from fn stops the scan and is returned.
func (l *Log) ScanBatches(from ids.Offset, fn func(h record.BatchHeader) error) error {
	return l.scanBatches(from, false, func(h record.BatchHeader, _ []byte) error { return fn(h) })
}

// ScanWithControl is ScanBatches that also hands fn the bytes of every
// control batch (nil for the others): what rebuilding transaction state
// needs, since a marker's type is in its record's key. Control batches
// are one small record each, so this reads little more than the headers.
func (l *Log) ScanWithControl(from ids.Offset, fn func(h record.BatchHeader, control []byte) error) error {
	return l.scanBatches(from, true, fn)
}

func (l *Log) scanBatches(from ids.Offset, control bool, fn func(h record.BatchHeader, control []byte) error) error {
	first := int64(from)
	l.mu.RLock()
	if len(l.mu.segments) == 0 || l.mu.closed {
		l.mu.RUnlock()
		return fmt.Errorf("scan batches: %w", ErrClosed)
	}
	i := l.segmentForLocked(first)
	for {
		s := l.mu.segments[i]
		s.incRef()
		start, end := s.lookup(first), s.size
		l.mu.RUnlock()
		var ferr error
		_, err := walkHeaders(s.log, start, end, func(pos int64, h record.BatchHeader) bool {
			if h.BaseOffset < first {
				return true
			}
			var cb []byte
			if control && h.IsControl() {
				cb = make([]byte, h.TotalSize())
				if _, rerr := s.log.ReadAt(cb, pos); rerr != nil {
					ferr = fmt.Errorf("read control batch of %s at %d: %w", s.log.Name(), pos, rerr)
					return false
				}
			}
			ferr = fn(h, cb)
			return ferr == nil
		})
		s.decRef()
		if err != nil {
			return fmt.Errorf("scan batches: %w", err)
		}
		if ferr != nil {
			return ferr
		}
		l.mu.RLock()
		i = slices.IndexFunc(l.mu.segments, func(n *segment) bool { return n.base > s.base })
		if i < 0 {
			l.mu.RUnlock()
			return nil
		}
	}
}

// recordTimestamp returns a record's timestamp as clients see it.
func recordTimestamp(h record.BatchHeader, r record.Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.FirstTimestamp + r.TimestampDelta
}

// OffsetForTimestamp returns the first offset (at or after the log start
// offset) whose record timestamp is >= ts, with that timestamp, for
// ListOffsets; found is false when there is none.
func (l *Log) OffsetForTimestamp(ts int64) (ids.Offset, int64, bool, error) {
	l.mu.RLock()
	lso := l.mu.lso
	i := slices.IndexFunc(l.mu.segments, func(s *segment) bool { return s.maxTs >= ts })
	for i >= 0 {
		s := l.mu.segments[i]
		s.incRef()
		start, end := s.timeLookup(ts), s.size
		l.mu.RUnlock()
		offset, timestamp, found, err := findInSegment(s, start, end, func(h record.BatchHeader) bool {
			return h.MaxTimestamp >= ts && h.LastOffset() >= lso
		}, func(off, rts int64) bool { return off >= lso && rts >= ts })
		s.decRef()
		if err != nil || found {
			return ids.Offset(offset), timestamp, found, err
		}
		l.mu.RLock()
		i = slices.IndexFunc(l.mu.segments, func(n *segment) bool { return n.base > s.base && n.maxTs >= ts })
	}
	l.mu.RUnlock()
	return -1, -1, false, nil
}

// MaxTimestamp returns the largest record timestamp in the log and the offset
// of the first record carrying it (KIP-734); -1, -1 when the log is empty.
func (l *Log) MaxTimestamp() (ts int64, offset ids.Offset) {
	l.mu.RLock()
	var best *segment
	for _, s := range l.mu.segments {
		if s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		l.mu.RUnlock()
		return -1, -1
	}
	best.incRef()
	ts, batchLast := best.maxTs, best.maxTsOffset
	start, end := best.lookup(batchLast), best.size
	l.mu.RUnlock()
	defer best.decRef()
	off, _, found, err := findInSegment(best, start, end, func(h record.BatchHeader) bool {
		return h.LastOffset() >= batchLast
	}, func(_, rts int64) bool { return rts == ts })
	if err != nil || !found {
		return ts, ids.Offset(batchLast)
	}
	return ts, ids.Offset(off)
}

// findInSegment finds the first batch in [start, end) matching batchOK and, in
// it, the first record matching recOK, returning its offset and timestamp.
func findInSegment(s *segment, start, end int64, batchOK func(record.BatchHeader) bool,
	recOK func(off, ts int64) bool) (int64, int64, bool, error) {
	var (
		buf          []byte
		off, ts      int64
		found        bool
		ferr         error
		stopSentinel = errors.New("found")
	)
	_, err := walkHeaders(s.log, start, end, func(pos int64, h record.BatchHeader) bool {
		if !batchOK(h) {
			return true
		}
		buf = slices.Grow(buf[:0], h.TotalSize())[:h.TotalSize()]
		if _, ferr = s.log.ReadAt(buf, pos); ferr != nil {
			ferr = fmt.Errorf("read %s at %d: %w", s.logPath(), pos, ferr)
			return false
		}
		ferr = record.Records(buf, func(r record.Record) error {
			o, t := h.BaseOffset+int64(r.OffsetDelta), recordTimestamp(h, r)
			if recOK(o, t) {
				off, ts, found = o, t, true
				return stopSentinel
			}
			return nil
		})
		if errors.Is(ferr, stopSentinel) {
			ferr = nil
		} else if ferr != nil {
			ferr = fmt.Errorf("%s at %d: %w", s.logPath(), pos, ferr)
		}
		return !found && ferr == nil
	})
	if err == nil {
		err = ferr
	}
	return off, ts, found, err
}
