package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/vfs"
)

// File name suffixes of a segment's files.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"

	indexEntrySize     = 8  // 4-byte relative offset, 4-byte position
	timeIndexEntrySize = 12 // 8-byte timestamp, 4-byte relative offset
)

// segmentName is the 20-digit, zero-padded base offset that names a segment's files.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseSegmentName returns the base offset of a file name like 00000000000000000042.log.
func parseSegmentName(name, suffix string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, suffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	return base, err == nil && base >= 0
}

// indexEntry maps the last offset of a batch (relative to the segment base) to
// the position of that batch in the segment file, as Kafka's offset index does.
type indexEntry struct {
	rel uint32
	pos uint32
}

// timeEntry records that the largest timestamp in the segment up to and
// including offset base+rel is ts.
type timeEntry struct {
	ts  int64
	rel uint32
}

// segment is one .log file with its in-memory indexes. The file is closed when
// the last reference is released: the Log holds one reference while the
// segment is in its list, and every ReadResult or sync in flight holds one.
type segment struct {
	base int64
	dir  string
	fs   vfs.FS
	log  vfs.File
	osf  *os.File // log's OS file, for sendfile (ReadResult.File)
	refs atomic.Int32

	// Guarded by Log.mu (written only with Log.appendMu held as well).
	size            int64
	next            int64 // offset after the last batch; base when empty
	index           []indexEntry
	tindex          []timeEntry
	bytesSinceIndex int64
	maxTs           int64        // largest batch MaxTimestamp, -1 when none
	maxTsOffset     int64        // last offset of the first batch that reached maxTs
	rollBaseMs      int64        // wall time that segment.ms counts from; -1 until the first append
	indexDirty      bool         // in-memory indexes differ from the index files
	aborted         []AbortedTxn // aborted transactions whose marker is here (txnindex.go)
}

func (s *segment) logPath() string   { return filepath.Join(s.dir, segmentName(s.base)+logSuffix) }
func (s *segment) indexPath() string { return filepath.Join(s.dir, segmentName(s.base)+indexSuffix) }
func (s *segment) timeIndexPath() string {
	return filepath.Join(s.dir, segmentName(s.base)+timeIndexSuffix)
}

func newSegmentStruct(fsys vfs.FS, dir string, base int64, f vfs.File) *segment {
	s := &segment{base: base, dir: dir, fs: fsys, log: f, osf: vfs.OSFile(f), next: base,
		maxTs: -1, maxTsOffset: -1, rollBaseMs: -1}
	s.refs.Store(1)
	return s
}

// createSegment creates an empty segment file at base, replacing stale files.
func createSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	name := filepath.Join(dir, segmentName(base)+logSuffix)
	f, err := fsys.Create(name)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	s := newSegmentStruct(fsys, dir, base, f)
	_ = fsys.Remove(s.indexPath())
	_ = fsys.Remove(s.timeIndexPath())
	_ = fsys.Remove(s.txnIndexPath())
	return s, nil
}

func (s *segment) incRef() { s.refs.Add(1) }

func (s *segment) decRef() {
	if s.refs.Add(-1) == 0 {
		_ = s.log.Close()
	}
}

// removeFiles unlinks the segment's files; open descriptors stay usable.
func (s *segment) removeFiles() error {
	var errs []error
	for _, p := range []string{s.logPath(), s.indexPath(), s.timeIndexPath(), s.txnIndexPath()} {
		if err := s.fs.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// resetState forgets everything known about the contents.
func (s *segment) resetState() {
	s.size, s.next = 0, s.base
	s.index, s.tindex = s.index[:0], s.tindex[:0]
	s.bytesSinceIndex = 0
	s.maxTs, s.maxTsOffset = -1, -1
	s.indexDirty = true
}

// observe updates the in-memory state for a batch written at pos.
// indexInterval is Config.IndexIntervalBytes.
func (s *segment) observe(h record.BatchHeader, pos int64, indexInterval int32) {
	size := int64(h.TotalSize())
	last := h.LastOffset()
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOffset = h.MaxTimestamp, last
	}
	if len(s.index) == 0 || s.bytesSinceIndex >= int64(indexInterval) {
		s.index = append(s.index, indexEntry{rel: uint32(last - s.base), pos: uint32(pos)})
		s.bytesSinceIndex = 0
		s.maybeAddTimeEntry()
	}
	s.bytesSinceIndex += size
	s.size = pos + size
	s.next = last + 1
	s.indexDirty = true
}

// firstBatchTs is the max timestamp of the segment's first batch, -1 when
// unknown: the first time index entry, written with the first offset
// index entry, which every segment's first batch gets. Needs Log.mu.
func (s *segment) firstBatchTs() int64 {
	if len(s.tindex) == 0 {
		return -1
	}
	return s.tindex[0].ts
}

// maybeAddTimeEntry appends a time index entry when the largest timestamp grew.
func (s *segment) maybeAddTimeEntry() {
	if s.maxTs < 0 {
		return
	}
	if n := len(s.tindex); n == 0 || s.tindex[n-1].ts < s.maxTs {
		s.tindex = append(s.tindex, timeEntry{ts: s.maxTs, rel: uint32(s.maxTsOffset - s.base)})
		s.indexDirty = true
	}
}

// lookup returns the file position to scan from to find offset: the position
// of the batch of the largest index entry whose offset is <= offset.
func (s *segment) lookup(offset int64) int64 {
	if offset < s.base {
		return 0
	}
	rel := offset - s.base
	i := sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].rel) > rel })
	if i == 0 {
		return 0
	}
	return int64(s.index[i-1].pos)
}

// timeLookup returns the position to scan from for the first batch with a
// timestamp >= ts: after the largest time entry whose timestamp is < ts, all
// earlier records are known to be older.
func (s *segment) timeLookup(ts int64) int64 {
	i := sort.Search(len(s.tindex), func(i int) bool { return s.tindex[i].ts >= ts })
	if i == 0 {
		return 0
	}
	return s.lookup(s.base + int64(s.tindex[i-1].rel))
}

// indexFull reports whether either index reached maxIndexBytes.
func (s *segment) indexFull(maxIndexBytes int32) bool {
	return int64(len(s.index)+1)*indexEntrySize > int64(maxIndexBytes) ||
		int64(len(s.tindex)+1)*timeIndexEntrySize > int64(maxIndexBytes)
}

// writeIndexes writes both index files from memory and fsyncs them.
func (s *segment) writeIndexes() error {
	return s.writeIndexesTo(s.indexPath(), s.timeIndexPath())
}

// writeIndexesTo is writeIndexes to the given paths (compaction writes a
// rewritten segment's indexes under temporary names).
func (s *segment) writeIndexesTo(indexPath, timeIndexPath string) error {
	buf := make([]byte, 0, len(s.index)*indexEntrySize)
	for _, e := range s.index {
		buf = binary.BigEndian.AppendUint32(buf, e.rel)
		buf = binary.BigEndian.AppendUint32(buf, e.pos)
	}
	if err := vfs.WriteAtomic(s.fs, indexPath, buf, vfs.Durable); err != nil {
		return err
	}
	buf = make([]byte, 0, len(s.tindex)*timeIndexEntrySize)
	for _, e := range s.tindex {
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.ts))
		buf = binary.BigEndian.AppendUint32(buf, e.rel)
	}
	if err := vfs.WriteAtomic(s.fs, timeIndexPath, buf, vfs.Durable); err != nil {
		return err
	}
	s.indexDirty = false
	return nil
}

// loadIndexes reads both index files, checking that entries are ascending and
// within the log. An error says which file is missing or not sane and why;
// the caller then rebuilds both from the log.
func (s *segment) loadIndexes() error {
	if s.size == 0 {
		// An empty segment has nothing to index; its files may never
		// have been written.
		s.index, s.tindex = s.index[:0], s.tindex[:0]
		return nil
	}
	ib, err := vfs.ReadFile(s.fs, s.indexPath())
	if err != nil {
		return err
	}
	if len(ib)%indexEntrySize != 0 {
		return fmt.Errorf("index %s: size %d is not a multiple of %d", s.indexPath(), len(ib), indexEntrySize)
	}
	tb, err := vfs.ReadFile(s.fs, s.timeIndexPath())
	if err != nil {
		return err
	}
	if len(tb)%timeIndexEntrySize != 0 {
		return fmt.Errorf("time index %s: size %d is not a multiple of %d", s.timeIndexPath(), len(tb), timeIndexEntrySize)
	}
	s.index = s.index[:0]
	for p := ib; len(p) > 0; p = p[indexEntrySize:] {
		e := indexEntry{rel: binary.BigEndian.Uint32(p), pos: binary.BigEndian.Uint32(p[4:])}
		if n := len(s.index); int64(e.pos) >= s.size || (n > 0 && (e.rel <= s.index[n-1].rel || e.pos <= s.index[n-1].pos)) {
			return fmt.Errorf("index %s: entry %d (offset +%d at position %d) is beyond the segment's %d bytes or not ascending",
				s.indexPath(), n, e.rel, e.pos, s.size)
		}
		s.index = append(s.index, e)
	}
	s.tindex = s.tindex[:0]
	for p := tb; len(p) > 0; p = p[timeIndexEntrySize:] {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(p)), rel: binary.BigEndian.Uint32(p[8:])}
		if n := len(s.tindex); n > 0 && (e.ts <= s.tindex[n-1].ts || e.rel < s.tindex[n-1].rel) {
			return fmt.Errorf("time index %s: entry %d (time %d, offset +%d) is not ascending", s.timeIndexPath(), n, e.ts, e.rel)
		}
		s.tindex = append(s.tindex, e)
	}
	if n := len(s.tindex); n > 0 {
		s.maxTs, s.maxTsOffset = s.tindex[n-1].ts, s.base+int64(s.tindex[n-1].rel)
	}
	return nil
}

// walkWindow is how much walkHeaders reads at a time.
const walkWindow = 16 << 10

var walkBufs = sync.Pool{New: func() any { b := make([]byte, walkWindow); return &b }}

// walkHeaders calls fn with the position and header of each batch from start
// up to end, reading headers in windows so that small batches cost no syscall
// each. It stops without error at a batch that does not fit before end, or when
// fn returns false. A length smaller than a header is ErrCorruptSegment with the position.
func walkHeaders(f vfs.File, start, end int64, fn func(pos int64, h record.BatchHeader) bool) (int64, error) {
	bp := walkBufs.Get().(*[]byte)
	defer walkBufs.Put(bp)
	buf := *bp
	winStart, winLen := int64(0), 0
	pos := start
	for end-pos >= record.BatchHeaderSize {
		if pos < winStart || pos+record.BatchHeaderSize > winStart+int64(winLen) {
			n := min(int64(len(buf)), end-pos)
			m, err := f.ReadAt(buf[:n], pos)
			if err != nil && !(errors.Is(err, io.EOF) && m >= record.BatchHeaderSize) {
				return pos, fmt.Errorf("read %s at %d: %w", f.Name(), pos, err)
			}
			winStart, winLen = pos, m
		}
		h, _ := record.ParseHeader(buf[pos-winStart : winLen])
		if h.Length < record.BatchHeaderSize-record.LogOverhead {
			return pos, fmt.Errorf("%s at %d: batch length %d: %w", f.Name(), pos, h.Length, ErrCorruptSegment)
		}
		size := int64(h.TotalSize())
		if pos+size > end {
			return pos, nil
		}
		if !fn(pos, h) {
			return pos, nil
		}
		pos += size
	}
	return pos, nil
}

// relOverflow reports whether offset cannot be stored relative to base.
func relOverflow(base, offset int64) bool { return offset-base > math.MaxInt32 || offset < base }
