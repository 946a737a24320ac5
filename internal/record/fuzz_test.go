package record

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
)

// Fuzz targets of the batch decoders: whatever the bytes, they return an
// error wrapping one of this package's sentinels, never panic, and what
// they accept decodes consistently.

// isSentinel reports whether err wraps one of the package's sentinels.
func isSentinel(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupportedMagic) ||
		errors.Is(err, ErrInvalidRecord) || errors.Is(err, ErrBadCompression)
}

func seedBatches(f *testing.F) {
	for _, c := range allCodecs {
		fuzzseed.Add(f, mustBatch(f, defaultOpts(c), testRecords(3)))
	}
	fuzzseed.Add(f, mustBatch(f, defaultOpts(CodecNone), nil))
	fuzzseed.Add(f, []byte{})
}

// FuzzValidate: Validate accepts only a batch that fits in the input, and
// Split and SplitPartial agree with it on where batches end.
func FuzzValidate(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Validate(b)
		if err != nil && !isSentinel(err) {
			t.Fatalf("Validate: %v is none of the package's errors", err)
		}
		if err == nil && h.TotalSize() > len(b) {
			t.Fatalf("valid batch of %d bytes in %d", h.TotalSize(), len(b))
		}
		var sizes []int
		n, perr := SplitPartial(b, func(batch []byte, h BatchHeader) error {
			if h.TotalSize() != len(batch) {
				t.Fatalf("SplitPartial gave %d bytes for a batch of %d", len(batch), h.TotalSize())
			}
			sizes = append(sizes, len(batch))
			return nil
		})
		if perr != nil && !errors.Is(perr, ErrCorrupt) {
			t.Fatalf("SplitPartial: %v", perr)
		}
		if n > len(b) {
			t.Fatalf("SplitPartial consumed %d of %d bytes", n, len(b))
		}
		if err == nil && (len(sizes) == 0 || sizes[0] != h.TotalSize()) {
			t.Fatalf("Validate accepted a batch of %d bytes, SplitPartial gave %v", h.TotalSize(), sizes)
		}
		serr := Split(b, func([]byte, BatchHeader) error { return nil })
		if serr != nil && !errors.Is(serr, ErrCorrupt) {
			t.Fatalf("Split: %v", serr)
		}
		if (serr == nil) != (perr == nil && n == len(b)) {
			t.Fatalf("Split %v, SplitPartial consumed %d of %d with %v", serr, n, len(b), perr)
		}
	})
}

// FuzzRecords: Records decodes exactly NumRecords records of a batch it
// accepts, and a valid batch of records re-encoded by AppendBatch decodes
// to the same records.
func FuzzRecords(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []Record
		err := Records(b, func(r Record) error {
			c := Record{Attributes: r.Attributes, OffsetDelta: r.OffsetDelta, TimestampDelta: r.TimestampDelta,
				Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
			for _, hd := range r.Headers {
				c.Headers = append(c.Headers, Header{Key: hd.Key, Value: bytes.Clone(hd.Value)})
			}
			got = append(got, c)
			return nil
		})
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("Records: %v is none of the package's errors", err)
			}
			return
		}
		h, _ := ParseHeader(b)
		if int32(len(got)) != h.NumRecords {
			t.Fatalf("decoded %d of %d records", len(got), h.NumRecords)
		}
		if len(got) == 0 {
			return
		}
		// Round trip: encode what was decoded with the batch's codec (keys,
		// values, headers and deltas as read) and decode it again.
		for i := range got {
			got[i].OffsetDelta = int32(i)
		}
		again, err := AppendBatch(nil, BatchOptions{Codec: min(h.Codec(), CodecZstd), FirstTimestamp: h.FirstTimestamp,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, got)
		if err != nil {
			t.Fatalf("re-encode %d decoded records: %v", len(got), err)
		}
		if _, err := Validate(again); err != nil {
			t.Fatalf("re-encoded batch does not validate: %v", err)
		}
		i := 0
		if err := Records(again, func(r Record) error {
			w := got[i]
			if !bytes.Equal(r.Key, w.Key) || (r.Key == nil) != (w.Key == nil) || !bytes.Equal(r.Value, w.Value) ||
				(r.Value == nil) != (w.Value == nil) || r.TimestampDelta != w.TimestampDelta || len(r.Headers) != len(w.Headers) {
				t.Fatalf("record %d: re-encoded %+v, decoded %+v", i, r, w)
			}
			i++
			return nil
		}); err != nil || i != len(got) {
			t.Fatalf("re-encoded batch: %d of %d records, %v", i, len(got), err)
		}
	})
}

// FuzzDecompress: every codec's decompressor refuses bad input with
// ErrCorrupt, and what it returns compresses and decompresses back to
// itself.
func FuzzDecompress(f *testing.F) {
	payload := []byte("a record payload, a record payload, a record payload")
	fuzzseed.Add(f, uint8(CodecNone), payload)
	for _, c := range allCodecs[1:] {
		z, err := Compress(c, payload)
		if err != nil {
			f.Fatal(err)
		}
		fuzzseed.Add(f, uint8(c), z)
	}
	xerial := append(append([]byte{}, xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, 2, 4, 'h')
	fuzzseed.Add(f, uint8(CodecSnappy), xerial)
	f.Fuzz(func(t *testing.T, codec uint8, src []byte) {
		c := Codec(codec % 8)
		out, err := Decompress(c, src)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decompress %s: %v does not wrap ErrCorrupt", c, err)
			}
			return
		}
		if c > CodecZstd {
			t.Fatalf("unknown codec %d decompressed", c)
		}
		if c == CodecNone {
			if !bytes.Equal(out, src) {
				t.Fatal("codec none changed the bytes")
			}
			return
		}
		z, err := Compress(c, out)
		if err != nil {
			t.Fatalf("Compress %s of %d decompressed bytes: %v", c, len(out), err)
		}
		back, err := Decompress(c, z)
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("%s round trip of %d bytes: %d bytes back, %v", c, len(out), len(back), err)
		}
	})
}

// FuzzRewriteHeader: the header rewrites done on append (base offset,
// partition leader epoch, LogAppendTime) keep a valid batch valid, change
// only what they say, and leave its records as they were.
func FuzzRewriteHeader(f *testing.F) {
	for _, c := range []Codec{CodecNone, CodecZstd} {
		fuzzseed.Add(f, mustBatch(f, defaultOpts(c), testRecords(2)), int64(1000), int32(7), int64(1_700_000_000_123))
	}
	fuzzseed.Add(f, mustBatch(f, defaultOpts(CodecLZ4), testRecords(1)), int64(-1), int32(-1), int64(-1))
	f.Fuzz(func(t *testing.T, b []byte, base int64, epoch int32, ts int64) {
		h, err := Validate(b)
		if err != nil {
			return
		}
		b = b[:h.TotalSize()]
		count := func(b []byte) (int, error) {
			n := 0
			err := Records(b, func(Record) error { n++; return nil })
			return n, err
		}
		n, rerr := count(b)
		b = bytes.Clone(b)
		SetBaseOffset(b, base)
		SetPartitionLeaderEpoch(b, epoch)
		h2, err := Validate(b)
		if err != nil {
			t.Fatalf("base offset and epoch rewrite broke the batch: %v", err)
		}
		if h2.BaseOffset != base || h2.PartitionLeaderEpoch != epoch || h2.CRC != h.CRC {
			t.Fatalf("rewrite gave base %d epoch %d crc %08x, want %d %d %08x", h2.BaseOffset, h2.PartitionLeaderEpoch, h2.CRC, base, epoch, h.CRC)
		}
		SetLogAppendTime(b, &h2, ts)
		h3, err := Validate(b)
		if err != nil {
			t.Fatalf("LogAppendTime rewrite broke the batch: %v", err)
		}
		if h3 != h2 || !h3.LogAppendTime() || h3.MaxTimestamp != ts || h3.FirstTimestamp != ts {
			t.Fatalf("LogAppendTime rewrite: header %+v, returned %+v", h3, h2)
		}
		if m, err := count(b); m != n || (err == nil) != (rerr == nil) {
			t.Fatalf("rewrites changed the records: %d (%v), were %d (%v)", m, err, n, rerr)
		}
		if err := CheckCompressionFrame(b, h3); err != nil && !errors.Is(err, ErrBadCompression) {
			t.Fatalf("CheckCompressionFrame: %v", err)
		}
	})
}
