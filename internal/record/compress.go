package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// maxDecompressed bounds the size of one decompressed batch, so a small
// malicious batch cannot make the broker allocate without limit.
const maxDecompressed = 256 << 20

var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
	if err != nil {
		panic(fmt.Sprintf("record: new zstd decoder: %v", err))
	}
	return d
}}

var lz4Readers = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

// xerialMagic opens snappy data framed by the Java xerial library, which the
// Java client uses: magic, then 4-byte version and compat, then chunks each
// prefixed with a 4-byte big-endian length.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// Decompress returns the decompressed form of src, the records section of a
// batch compressed with c: src itself for CodecNone, else a new slice of at
// most 256 MiB. Errors wrap ErrCorrupt.
func Decompress(c Codec, src []byte) ([]byte, error) {
	var out []byte
	var err error
	switch c {
	case CodecNone:
		return src, nil
	case CodecGzip:
		out, err = decompressGzip(src)
	case CodecSnappy:
		out, err = decompressSnappy(src)
	case CodecLZ4:
		out, err = decompressLZ4(src)
	case CodecZstd:
		d := zstdDecoders.Get().(*zstd.Decoder)
		out, err = d.DecodeAll(src, nil)
		zstdDecoders.Put(d)
	default:
		return nil, fmt.Errorf("decompress: unknown codec %d: %w", c, ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w: %w", c, ErrCorrupt, err)
	}
	return out, nil
}

func readAllLimited(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, err
	}
	if n > maxDecompressed {
		return nil, fmt.Errorf("decompressed size over %d bytes", maxDecompressed)
	}
	return buf.Bytes(), nil
}

func decompressGzip(src []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAllLimited(r)
}

func decompressLZ4(src []byte) ([]byte, error) {
	r := lz4Readers.Get().(*lz4.Reader)
	r.Reset(bytes.NewReader(src))
	out, err := readAllLimited(r)
	r.Reset(nil)
	lz4Readers.Put(r)
	return out, err
}

func decompressSnappy(src []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(nil, src)
	}
	if len(src) < 16 {
		return nil, fmt.Errorf("xerial header of %d bytes", len(src))
	}
	var out []byte
	for p := src[16:]; len(p) > 0; {
		if len(p) < 4 {
			return nil, fmt.Errorf("xerial chunk length cut short")
		}
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if uint64(n) > uint64(len(p)) {
			return nil, fmt.Errorf("xerial chunk of %d bytes with %d left", n, len(p))
		}
		var err error
		if out, err = snappyBlock(out, p[:n]); err != nil {
			return nil, err
		}
		p = p[n:]
	}
	return out, nil
}

// snappyBlock appends the decoding of one snappy block to dst.
func snappyBlock(dst, block []byte) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > maxDecompressed || len(dst)+n > maxDecompressed {
		return nil, fmt.Errorf("decompressed size over %d bytes", maxDecompressed)
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := s2.Decode(dst[start:], block); err != nil {
		return nil, err
	}
	return dst, nil
}
