package partition

import (
	"fmt"
	"os"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/storage"
)

// ErrOffsetOutOfRange is a read or an offset outside the log
// (OFFSET_OUT_OF_RANGE).
var ErrOffsetOutOfRange = storage.ErrOffsetOutOfRange

// Bound is how far a reader may read: it sees the records below one of
// the partition's offsets, and waits for that offset to advance.
type Bound uint8

const (
	// BoundHighWatermark bounds consumers (read_uncommitted): they see
	// what every in-sync replica has.
	BoundHighWatermark Bound = iota
	// BoundLastStable bounds read_committed consumers: they see nothing at
	// or above the first offset of an open transaction. Until transactions
	// exist the last stable offset is the high watermark.
	BoundLastStable
	// BoundLogEnd bounds followers: they copy everything the leader has.
	BoundLogEnd

	numBounds
)

// Offsets are a partition's offsets at one moment.
type Offsets struct {
	LogStart      ids.Offset // the first offset in the log
	HighWatermark ids.Offset // consumers read below it
	LastStable    ids.Offset // read_committed consumers read below it
	LogEnd        ids.Offset // the next offset to be assigned
}

// Limit is the offset a reader of bound b reads below.
func (o Offsets) Limit(b Bound) ids.Offset {
	switch b {
	case BoundLogEnd:
		return o.LogEnd
	case BoundLastStable:
		return o.LastStable
	default:
		return o.HighWatermark
	}
}

// Offsets returns the partition's offsets. The high watermark is taken
// first: the log end read after it is never below it.
func (p *Partition) Offsets() Offsets {
	hw := p.HighWatermark()
	return Offsets{
		LogStart:      p.log.LogStartOffset(),
		HighWatermark: hw,
		LastStable:    hw,
		LogEnd:        p.log.LogEndOffset(),
	}
}

// Records is a record set read from the log: whole batches, one range of
// one segment file. The bytes stay in the file until they are sent
// (sendfile, see File and Pos) or copied (AppendTo). A non-empty Records
// holds a reference on its file, so retention or truncation cannot close
// it meanwhile: Release it exactly once when done (a second call does
// nothing). The zero value is empty.
type Records struct{ r storage.ReadResult }

// Size is the number of bytes in the record set.
func (r *Records) Size() int { return r.r.Size() }

// File is the segment file holding the records, nil when empty.
func (r *Records) File() *os.File { return r.r.File() }

// Pos is the position of the records in File.
func (r *Records) Pos() int64 { return r.r.Pos() }

// LastOffset is the last offset of the last batch; meaningless when empty.
func (r *Records) LastOffset() ids.Offset { return r.r.LastOffset }

// AppendTo reads the records and appends them to dst.
func (r *Records) AppendTo(dst []byte) ([]byte, error) { return r.r.AppendTo(dst) }

// Release drops the reference on the file.
func (r *Records) Release() { r.r.Release() }

// Read returns whole batches starting with the one that holds offset,
// below the bound b, and the offsets the read was bounded by (report
// those, so that no answer shows records above its own high watermark):
// at most maxBytes, but at least one whole batch when minOne (Kafka
// returns the first batch of a fetch whole even when it is larger than
// the limits). An offset at or above the bound, or maxBytes <= 0 without
// minOne, gives no records. It fails with ErrOffsetOutOfRange when offset
// is below the log start or above the log end.
func (p *Partition) Read(offset ids.Offset, maxBytes int32, b Bound, minOne bool) (Records, Offsets, error) {
	o := p.Offsets()
	if offset < o.LogStart || offset > o.LogEnd {
		return Records{}, o, fmt.Errorf("read %s-%d at %d, log has [%d, %d]: %w",
			p.Topic, p.Index, offset, o.LogStart, o.LogEnd, ErrOffsetOutOfRange)
	}
	limit := o.Limit(b)
	if offset >= limit || (maxBytes <= 0 && !minOne) {
		return Records{}, o, nil
	}
	rr, err := p.log.Read(offset, max(maxBytes, 0), limit, minOne)
	if err != nil {
		return Records{}, o, fmt.Errorf("read %s-%d: %w", p.Topic, p.Index, err)
	}
	return Records{rr}, o, nil
}

// LogStartOffset is the first offset in the log.
func (p *Partition) LogStartOffset() ids.Offset { return p.log.LogStartOffset() }

// Segments is the number of segments of the log.
func (p *Partition) Segments() int { return p.log.NumSegments() }

// LogEndOffset is the next offset to be assigned.
func (p *Partition) LogEndOffset() ids.Offset { return p.log.LogEndOffset() }

// FlushedOffset is the offset below which the log is on disk.
func (p *Partition) FlushedOffset() ids.Offset { return p.log.FlushedOffset() }

// LatestEpoch is the leader epoch of the last batch in the log, -1 when
// there is none (a follower's LastFetchedEpoch).
func (p *Partition) LatestEpoch() ids.LeaderEpoch { return p.log.LatestEpoch() }

// Size is the size of the log's segment files in bytes.
func (p *Partition) Size() int64 { return p.log.Size() }

// MaxTimestamp returns the largest record timestamp in the log and the
// offset of the first record carrying it (KIP-734); -1, -1 when the log
// is empty.
func (p *Partition) MaxTimestamp() (ts int64, offset ids.Offset) { return p.log.MaxTimestamp() }

// OffsetForTimestamp returns the first offset at or after the log start
// whose record timestamp is >= ts, with that timestamp; found is false
// when there is none.
func (p *Partition) OffsetForTimestamp(ts int64) (offset ids.Offset, timestamp int64, found bool, err error) {
	offset, timestamp, found, err = p.log.OffsetForTimestamp(ts)
	if err != nil {
		err = fmt.Errorf("offset for timestamp in %s-%d: %w", p.Topic, p.Index, err)
	}
	return offset, timestamp, found, err
}
