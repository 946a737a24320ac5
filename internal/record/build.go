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
		body = appendRecord(body, int32(i), r)
		maxDelta = max(maxDelta, r.TimestampDelta)
	}
	if o.Codec == CodecNone {
		dst = body
	} else {
		c, err := compress(o.Codec, body)
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

func appendBytesField(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(v))), v...)
}

func appendRecord(dst []byte, offsetDelta int32, r Record) []byte {
	var scratch [64]byte
	body := scratch[:0]
	body = append(body, byte(r.Attributes))
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(offsetDelta))
	body = appendBytesField(body, r.Key)
	body = appendBytesField(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = append(binary.AppendVarint(body, int64(len(h.Key))), h.Key...)
		body = appendBytesField(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

var zstdEncoders = sync.Pool{New: func() any {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(fmt.Sprintf("record: new zstd encoder: %v", err))
	}
	return e
}}

// compress compresses the records section of a batch.
func compress(c Codec, src []byte) ([]byte, error) {
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
