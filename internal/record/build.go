package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// BatchOptions describes a batch built by AppendBatch.
type BatchOptions struct {
	Codec          Codec
	BaseOffset     int64
	FirstTimestamp int64
	ProducerID     int64 // -1 for none
	ProducerEpoch  int16 // -1 for none
	BaseSequence   int32 // -1 for none
	Transactional  bool
	Control        bool
	LogAppendTime  bool
}

// AppendBatch appends a v2 batch holding recs to dst, as a producer (or a
// coordinator writing control records) would. Record i gets offset delta i;
// TimestampDelta, Key, Value and Headers are taken from recs. The result
// passes Validate.
func AppendBatch(dst []byte, o BatchOptions, recs []Record) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderSize)...)
	maxDelta := int64(0)
	var body []byte
	if o.Codec != CodecNone {
		body = make([]byte, 0, 64*len(recs))
	} else {
		body = dst
	}
	for i, r := range recs {
		r.OffsetDelta = int32(i)
		body = AppendRecord(body, r)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	if o.Codec == CodecNone {
		dst = body
	} else {
		c, err := Compress(o.Codec, body)
		if err != nil {
			return dst[:start], err
		}
		dst = append(dst, c...)
	}
	b := dst[start:]
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(o.BaseOffset))
	be.PutUint32(b[offLength:], uint32(len(b)-LogOverhead))
	b[offMagic] = 2
	attrs := uint16(o.Codec) & attrCodecMask
	if o.LogAppendTime {
		attrs |= attrTimestampType
	}
	if o.Transactional {
		attrs |= attrTransactional
	}
	if o.Control {
		attrs |= attrControl
	}
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint32(b[offLastDelta:], uint32(max(len(recs)-1, 0)))
	be.PutUint64(b[offFirstTimestamp:], uint64(o.FirstTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(o.FirstTimestamp+maxDelta))
	be.PutUint64(b[offProducerID:], uint64(o.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(o.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(o.BaseSequence))
	be.PutUint32(b[offNumRecords:], uint32(len(recs)))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return dst, nil
}

// AppendRecord appends r in the v2 record format (length-prefixed, with
// r's offset and timestamp deltas) to dst: one record of a batch's records
// section, before any compression.
func AppendRecord(dst []byte, r Record) []byte {
	size := 1 + varintLen(r.TimestampDelta) + varintLen(int64(r.OffsetDelta)) +
		bytesFieldLen(r.Key) + bytesFieldLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		size += varintLen(int64(len(h.Key))) + len(h.Key) + bytesFieldLen(h.Value)
	}
	dst = binary.AppendVarint(dst, int64(size))
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, r.TimestampDelta)
	dst = binary.AppendVarint(dst, int64(r.OffsetDelta))
	dst = appendBytesField(dst, r.Key)
	dst = appendBytesField(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = append(binary.AppendVarint(dst, int64(len(h.Key))), h.Key...)
		dst = appendBytesField(dst, h.Value)
	}
	return dst
}

func appendBytesField(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(v))), v...)
}

// varintLen is the length of v as a zig-zag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// bytesFieldLen is the encoded length of a nullable bytes field.
func bytesFieldLen(v []byte) int {
	if v == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(v))) + len(v)
}

var zstdEncoders = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(fmt.Sprintf("record: new zstd encoder: %v", err))
	}
	return e
}}

// Compress compresses the records section of a batch with codec c: a gzip
// stream, a plain snappy block (Kafka's readers take it as well as the
// xerial framing), an LZ4 frame or a zstd frame.
func Compress(c Codec, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch c {
	case CodecGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		return s2.EncodeSnappy(nil, src), nil
	case CodecLZ4:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		return buf.Bytes(), nil
	case CodecZstd:
		e := zstdEncoders.Get().(*zstd.Encoder)
		defer zstdEncoders.Put(e)
		return e.EncodeAll(src, nil), nil
	}
	return nil, fmt.Errorf("compress: unknown codec %d", c)
}
