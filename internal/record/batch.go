// Package record owns the Kafka v2 (magic 2) record batch format: parsing and
// validating batch headers, rewriting the fields a broker is allowed to rewrite,
// decompressing, and decoding individual records.
//
// Batches are kept as byte slices; nothing here copies a batch. All functions
// are pure and safe for concurrent use on distinct buffers; functions that
// mutate a batch (Set*) must not race with readers of the same buffer.
package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/strom-broker/strom/internal/errcode"
)

// BatchHeaderSize is the size of a v2 batch header: the bytes up to and
// including the records count.
const BatchHeaderSize = 61

// Byte offsets of the header fields within a batch.
const (
	offBaseOffset     = 0
	offLength         = 8
	offLeaderEpoch    = 12
	offMagic          = 16
	offCRC            = 17
	offAttributes     = 21
	offLastDelta      = 23
	offFirstTimestamp = 27
	offMaxTimestamp   = 35
	offProducerID     = 43
	offProducerEpoch  = 51
	offBaseSequence   = 53
	offNumRecords     = 57

	// LogOverhead is the part of a batch not counted by its Length field:
	// the base offset and the length itself.
	LogOverhead = 12
	// minLength is the smallest legal Length (a batch with no records).
	minLength = BatchHeaderSize - LogOverhead
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrTimestampType = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// Codec is the compression codec of a batch (attributes bits 0-2).
type Codec int8

// Compression codecs, numbered as on the wire.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// BatchHeader is the decoded fixed-size header of a v2 record batch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Codec returns the compression codec.
func (h BatchHeader) Codec() Codec { return Codec(h.Attributes & attrCodecMask) }

// IsTransactional reports whether the batch is part of a transaction.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports whether the batch holds a control record (transaction marker).
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// LogAppendTime reports whether the timestamp type is LogAppendTime; record
// timestamps are then MaxTimestamp.
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }

// LastOffset is the offset of the last record in the batch.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// TotalSize is the size of the whole batch in bytes.
func (h BatchHeader) TotalSize() int { return int(h.Length) + LogOverhead }

// Sentinel errors (defined in errcode, which gives their Kafka codes).
var (
	// ErrCorrupt means the bytes are not a well-formed batch (Kafka CORRUPT_MESSAGE).
	ErrCorrupt = errcode.ErrCorruptBatch
	// ErrUnsupportedMagic means the batch is not magic 2.
	ErrUnsupportedMagic = errcode.ErrUnsupportedMagic
	// ErrInvalidRecord means the batch is well framed but its header
	// contradicts itself (Kafka INVALID_RECORD, not retriable).
	ErrInvalidRecord = errcode.ErrInvalidBatch
	// ErrBadCompression means a compressed batch's payload does not start
	// with its codec's frame header.
	ErrBadCompression = errcode.ErrBadCompression
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ParseHeader decodes the header at b[0:]. It does not check the CRC or the
// length; it fails with ErrCorrupt only when b is shorter than a header.
func ParseHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, fmt.Errorf("parse header: %d bytes: %w", len(b), ErrCorrupt)
	}
	be := binary.BigEndian
	return BatchHeader{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}, nil
}

// Validate checks the single batch at b[0:]: the length is sane and within b,
// the magic is 2, the CRC-32C over attributes..end matches, NumRecords is not
// negative and equals LastOffsetDelta+1 when positive, and the codec is known.
// It does not decompress. Bytes of b after the batch are ignored.
func Validate(b []byte) (BatchHeader, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Length < minLength || int64(h.Length)+LogOverhead > int64(len(b)) {
		return h, fmt.Errorf("validate batch: length %d with %d bytes: %w", h.Length, len(b), ErrCorrupt)
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("validate batch: magic %d: %w", h.Magic, ErrUnsupportedMagic)
	}
	end := h.TotalSize()
	if crc := crc32.Checksum(b[offAttributes:end], castagnoli); crc != h.CRC {
		return h, fmt.Errorf("validate batch: crc %08x, header says %08x: %w", crc, h.CRC, ErrCorrupt)
	}
	if h.NumRecords < 0 || (h.NumRecords > 0 && int64(h.NumRecords) != int64(h.LastOffsetDelta)+1) ||
		h.LastOffsetDelta < 0 {
		return h, fmt.Errorf("validate batch: %d records, last offset delta %d: %w",
			h.NumRecords, h.LastOffsetDelta, ErrInvalidRecord)
	}
	if h.Codec() > CodecZstd {
		return h, fmt.Errorf("validate batch: compression codec %d: %w", h.Codec(), ErrCorrupt)
	}
	return h, nil
}

// Split walks the batches concatenated in b, calling fn with each batch's bytes
// and header (from ParseHeader; no CRC check). A trailing partial batch, or a
// length smaller than a header, fails with ErrCorrupt. An error from fn stops
// the walk and is returned as is.
func Split(b []byte, fn func(batch []byte, h BatchHeader) error) error {
	n, err := SplitPartial(b, fn)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("split batches: partial batch of %d bytes at %d: %w", len(b)-n, n, ErrCorrupt)
	}
	return nil
}

// SplitPartial is Split that tolerates a trailing partial batch, as fetch
// responses may end mid-batch. It returns the number of bytes consumed by whole
// batches. A length smaller than a header is still ErrCorrupt.
func SplitPartial(b []byte, fn func(batch []byte, h BatchHeader) error) (int, error) {
	pos := 0
	for len(b)-pos >= BatchHeaderSize {
		h, _ := ParseHeader(b[pos:])
		if h.Length < minLength {
			return pos, fmt.Errorf("split batches: length %d at %d: %w", h.Length, pos, ErrCorrupt)
		}
		size := int64(h.Length) + LogOverhead
		if size > int64(len(b)-pos) {
			return pos, nil
		}
		end := pos + int(size)
		if err := fn(b[pos:end:end], h); err != nil {
			return pos, err
		}
		pos = end
	}
	return pos, nil
}

// SetBaseOffset rewrites the base offset (not covered by the CRC).
func SetBaseOffset(batch []byte, off int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch rewrites the partition leader epoch (not covered by the CRC).
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime sets the timestamp type to LogAppendTime and both first and
// max timestamps to ts, then recomputes the CRC; h, the batch's header,
// follows. Records' own timestamp deltas are left alone: with LogAppendTime
// every record's timestamp is MaxTimestamp. The batch must already be
// validated.
func SetLogAppendTime(batch []byte, h *BatchHeader, ts int64) {
	be := binary.BigEndian
	h.Attributes |= attrTimestampType
	h.FirstTimestamp, h.MaxTimestamp = ts, ts
	be.PutUint16(batch[offAttributes:], uint16(h.Attributes))
	be.PutUint64(batch[offFirstTimestamp:], uint64(ts))
	be.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	UpdateCRC(batch)
	h.CRC = be.Uint32(batch[offCRC:])
}

// UpdateCRC recomputes and stores the CRC of a whole batch.
func UpdateCRC(batch []byte) {
	end := int(int32(binary.BigEndian.Uint32(batch[offLength:]))) + LogOverhead
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:end], castagnoli))
}

// CheckCompressionFrame checks that a compressed batch's records start
// with the frame header of its codec: gzip's magic, the zstd and LZ4 frame
// magics, or for snappy either the xerial header or a raw block's varint
// length. It does not decompress: Strom keeps batches compressed on
// produce, so this catches a payload that is not in the declared codec at
// all (which Kafka finds by decompressing) at the cost of a few bytes read.
func CheckCompressionFrame(batch []byte, h BatchHeader) error {
	if h.Codec() == CodecNone || h.NumRecords == 0 {
		return nil
	}
	p := batch[BatchHeaderSize:h.TotalSize()]
	ok := false
	switch h.Codec() {
	case CodecGzip:
		ok = len(p) >= 10 && p[0] == 0x1f && p[1] == 0x8b
	case CodecZstd:
		ok = len(p) >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd
	case CodecLZ4:
		ok = len(p) >= 7 && p[0] == 0x04 && p[1] == 0x22 && p[2] == 0x4d && p[3] == 0x18
	case CodecSnappy:
		if len(p) >= 8 && string(p[:8]) == "\x82SNAPPY\x00" {
			ok = true
			break
		}
		// A raw snappy block starts with the uncompressed length as a
		// varint; it cannot exceed what the compressed bytes can expand
		// to (snappy's maximum ratio is well under 256:1 here).
		n, k := binary.Uvarint(p)
		ok = k > 0 && n > 0 && n <= uint64(len(p))*256
	}
	if !ok {
		return fmt.Errorf("check batch: %s payload: %w", h.Codec(), ErrBadCompression)
	}
	return nil
}
