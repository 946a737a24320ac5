package storage

// The aborted-transaction index: per segment, the transactions whose ABORT
// marker lies in that segment, in Kafka's .txnindex format
// (docs/storage-format.md). The partition, which tracks transactions,
// adds an entry when it appends an ABORT marker (AddAbortedTxn) and hands
// the complete list it rebuilt from the log at open and after truncation
// (SetAbortedTxns); read_committed fetches ask for the entries that
// overlap their range (AbortedTxns). The files are derived data: every
// open rebuilds them from the log, so they are written without fsync.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/vfs"
)

const (
	txnIndexSuffix = ".txnindex"
	// txnEntrySize is one entry: version int16, producer id, first offset,
	// last offset, last stable offset (int64 each), as Kafka's AbortedTxn.
	txnEntrySize    = 34
	txnEntryVersion = 0
)

// AbortedTxn is one aborted transaction of a partition: its producer, its
// first offset, the offset of its ABORT marker (LastOffset), and the last
// stable offset once it was aborted.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

func (s *segment) txnIndexPath() string {
	return filepath.Join(s.dir, segmentName(s.base)+txnIndexSuffix)
}

func encodeTxnIndex(es []AbortedTxn) []byte {
	b := make([]byte, 0, len(es)*txnEntrySize)
	for _, e := range es {
		b = binary.BigEndian.AppendUint16(b, txnEntryVersion)
		b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
		b = binary.BigEndian.AppendUint64(b, uint64(e.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastStableOffset))
	}
	return b
}

// decodeTxnIndex reads a .txnindex file's bytes; name is for errors.
func decodeTxnIndex(name string, b []byte) ([]AbortedTxn, error) {
	if len(b)%txnEntrySize != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-byte entries: %w", name, len(b), txnEntrySize, ErrCorruptSegment)
	}
	out := make([]AbortedTxn, 0, len(b)/txnEntrySize)
	for pos := 0; pos < len(b); pos += txnEntrySize {
		e := b[pos:]
		if v := int16(binary.BigEndian.Uint16(e)); v != txnEntryVersion {
			return nil, fmt.Errorf("%s at %d: entry version %d: %w", name, pos, v, ErrCorruptSegment)
		}
		out = append(out, AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(e[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(e[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(e[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(e[26:])),
		})
	}
	return out, nil
}

// ReadTxnIndex reads the aborted-transaction index of the segment with
// base offset base (for tests and tools); a missing file is empty.
func (l *Log) ReadTxnIndex(base int64) ([]AbortedTxn, error) {
	name := l.path(segmentName(base) + txnIndexSuffix)
	b, err := vfs.ReadFile(l.fs, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeTxnIndex(name, b)
}

// writeTxnIndex replaces the segment's .txnindex with es (removing it when
// es is empty), unless the file already holds exactly that.
func (s *segment) writeTxnIndex(es []AbortedTxn) error {
	want := encodeTxnIndex(es)
	have, err := vfs.ReadFile(s.fs, s.txnIndexPath())
	switch {
	case err == nil && bytes.Equal(have, want):
		return nil
	case err != nil && errors.Is(err, os.ErrNotExist) && len(want) == 0:
		return nil
	case len(want) == 0:
		if err := s.fs.Remove(s.txnIndexPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", s.txnIndexPath(), err)
		}
		return nil
	}
	return vfs.WriteAtomic(s.fs, s.txnIndexPath(), want, vfs.NotSynced)
}

// AddAbortedTxn records an aborted transaction whose marker (t.LastOffset)
// the partition just appended.
func (l *Log) AddAbortedTxn(t AbortedTxn) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if l.mu.closed || len(l.mu.segments) == 0 {
		l.mu.Unlock()
		return fmt.Errorf("add aborted transaction: %w", ErrClosed)
	}
	s := l.mu.segments[l.segmentForLocked(t.LastOffset)]
	s.aborted = append(s.aborted, t)
	l.anyAborted.Store(true)
	n := len(s.aborted)
	l.mu.Unlock()
	return s.appendTxnIndex(t, n)
}

// appendTxnIndex appends t, the segment's nth entry, to its .txnindex
// (Kafka appends too); a file that does not hold the n-1 entries before
// it is rewritten whole.
func (s *segment) appendTxnIndex(t AbortedTxn, n int) error {
	want := int64(n-1) * txnEntrySize
	var f vfs.File
	var err error
	if n == 1 {
		f, err = s.fs.Create(s.txnIndexPath())
	} else {
		f, err = s.fs.OpenReadWrite(s.txnIndexPath())
	}
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && fi.Size() == want {
			_, err = f.WriteAt(encodeTxnIndex([]AbortedTxn{t}), want)
			err = errors.Join(err, f.Close())
			return err
		}
		f.Close()
	}
	// Missing or not as expected: rewrite from memory. The appender
	// holds the log's appendMu, so the list does not change meanwhile.
	return s.writeTxnIndex(s.aborted)
}

// SetAbortedTxns replaces the whole index with all (in marker order), each
// entry kept by the segment holding its marker, and rewrites the files
// that differ: recovery of the index from the log.
func (l *Log) SetAbortedTxns(all []AbortedTxn) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if l.mu.closed || len(l.mu.segments) == 0 {
		l.mu.Unlock()
		return fmt.Errorf("set aborted transactions: %w", ErrClosed)
	}
	segs := slices.Clone(l.mu.segments)
	lists := make([][]AbortedTxn, len(segs))
	for _, t := range all {
		i := l.segmentForLocked(t.LastOffset)
		lists[i] = append(lists[i], t)
	}
	for i, s := range segs {
		s.aborted = lists[i]
	}
	l.anyAborted.Store(len(all) > 0)
	l.mu.Unlock()
	var errs []error
	for i, s := range segs {
		errs = append(errs, s.writeTxnIndex(lists[i]))
	}
	return errors.Join(errs...)
}

// AbortedTxns returns the aborted transactions that overlap [from, upper):
// those whose marker is at or after from and whose first offset is below
// upper (Kafka's collectAbortedTxns), in marker order. It looks no further
// than the first entry whose last stable offset reaches upper: every
// transaction overlapping the range was decided by then.
func (l *Log) AbortedTxns(from, upper ids.Offset) []AbortedTxn {
	if !l.anyAborted.Load() {
		return nil // the common case: no segment to look at
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.mu.segments) == 0 {
		return nil
	}
	var out []AbortedTxn
	for _, s := range l.mu.segments[l.segmentForLocked(int64(from)):] {
		for _, t := range s.aborted {
			if t.LastOffset >= int64(from) && t.FirstOffset < int64(upper) {
				out = append(out, t)
			}
			if t.LastStableOffset >= int64(upper) {
				return out
			}
		}
	}
	return out
}
