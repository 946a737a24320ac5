package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Recompress returns a copy of batch with its records section stored with
// codec c (CodecNone: uncompressed) at level (the codec's level as Kafka's
// compression.<codec>.level sets it; ignored by snappy and none), as a
// broker does for a topic whose compression.type is not producer. Every
// header field but the length, the codec bits and the CRC is kept: base
// offset, record count, timestamps, producer id, epoch and base sequence,
// so offsets and idempotent-producer checks see the same batch. The
// records are decoded once to check that they are what the header says.
func Recompress(batch []byte, h BatchHeader, c Codec, level int) ([]byte, BatchHeader, error) {
	if h.TotalSize() > len(batch) || h.TotalSize() < BatchHeaderSize {
		return nil, h, fmt.Errorf("recompress: %d bytes hold a batch of %d: %w", len(batch), h.TotalSize(), ErrCorrupt)
	}
	data, err := Decompress(h.Codec(), batch[BatchHeaderSize:h.TotalSize()])
	if err != nil {
		return nil, h, fmt.Errorf("recompress: %w", err)
	}
	d := decoder{b: data}
	var hdrs []Header
	for i := int32(0); i < h.NumRecords; i++ {
		if _, hdrs, err = d.record(hdrs[:0]); err != nil {
			return nil, h, fmt.Errorf("recompress: record %d of %d: %w", i, h.NumRecords, err)
		}
	}
	if len(d.b) != 0 {
		return nil, h, fmt.Errorf("recompress: %d trailing bytes: %w", len(d.b), ErrCorrupt)
	}
	body := data
	if c != CodecNone {
		if body, err = CompressLevel(c, level, data); err != nil {
			return nil, h, fmt.Errorf("recompress: %w", err)
		}
	}
	out := make([]byte, 0, BatchHeaderSize+len(body))
	out = append(out, batch[:BatchHeaderSize]...)
	out = append(out, body...)
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(len(out)-LogOverhead))
	attrs := be.Uint16(out[offAttributes:])&^attrCodecMask | uint16(c)&attrCodecMask
	be.PutUint16(out[offAttributes:], attrs)
	be.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	nh, err := ParseHeader(out)
	return out, nh, err
}

// zstdLevelEncoders pools zstd encoders by level.
var zstdLevelEncoders sync.Map // zstd.EncoderLevel -> *sync.Pool

// CompressLevel is Compress at a codec level as Kafka numbers them:
// gzip 1-9 or -1 (default), lz4 1-17, zstd -131072-22. Snappy has none.
func CompressLevel(c Codec, level int, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch c {
	case CodecGzip:
		w, err := gzip.NewWriterLevel(&buf, level)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if _, err := w.Write(src); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case CodecLZ4:
		w := lz4.NewWriter(&buf)
		if err := w.Apply(lz4.CompressionLevelOption(lz4Level(level))); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if _, err := w.Write(src); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		return buf.Bytes(), nil
	case CodecZstd:
		lvl := zstd.EncoderLevelFromZstd(level)
		p, _ := zstdLevelEncoders.LoadOrStore(lvl, &sync.Pool{New: func() any {
			e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(lvl))
			if err != nil {
				panic(fmt.Sprintf("record: new zstd encoder: %v", err))
			}
			return e
		}})
		pool := p.(*sync.Pool)
		e := pool.Get().(*zstd.Encoder)
		defer pool.Put(e)
		return e.EncodeAll(src, nil), nil
	}
	return Compress(c, src)
}

// lz4Level maps Kafka's lz4 levels (1-17, LZ4 HC above the fast level 1)
// onto the levels the Go codec has (fast, 1-9).
func lz4Level(level int) lz4.CompressionLevel {
	levels := []lz4.CompressionLevel{lz4.Level1, lz4.Level2, lz4.Level3, lz4.Level4, lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9}
	switch {
	case level <= 1:
		return lz4.Fast
	case level-1 > len(levels):
		return lz4.Level9
	}
	return levels[level-2]
}
