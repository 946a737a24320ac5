package record

import (
	"bytes"
	"fmt"
	"testing"
)

// TestRecompress: a batch recompressed to each codec and level keeps its
// header (offsets, timestamps, producer fields) and its records, passes
// Validate, and decompressed again is the original byte for byte.
func TestRecompress(t *testing.T) {
	var recs []Record
	for i := range 50 {
		recs = append(recs, Record{TimestampDelta: int64(i), Key: []byte(fmt.Sprint("k", i)), Value: bytes.Repeat([]byte{'v'}, 100),
			Headers: []Header{{Key: "h", Value: []byte("x")}}})
	}
	orig, err := AppendBatch(nil, BatchOptions{BaseOffset: 0, FirstTimestamp: 1700000000000, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40}, recs)
	if err != nil {
		t.Fatal(err)
	}
	oh, err := Validate(orig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c     Codec
		level int
	}{{CodecGzip, -1}, {CodecGzip, 9}, {CodecSnappy, 0}, {CodecLZ4, 9}, {CodecLZ4, 1}, {CodecLZ4, 17}, {CodecZstd, 3}, {CodecZstd, -5}, {CodecZstd, 22}} {
		name := fmt.Sprintf("%v-%d", tc.c, tc.level)
		b, h, err := Recompress(orig, oh, tc.c, tc.level)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vh, err := Validate(b)
		if err != nil {
			t.Fatalf("%s: recompressed batch does not validate: %v", name, err)
		}
		if vh != h || h.Codec() != tc.c {
			t.Errorf("%s: header %+v, parsed %+v", name, h, vh)
		}
		if err := CheckCompressionFrame(b, h); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		want := oh
		want.Length, want.CRC, want.Attributes = h.Length, h.CRC, h.Attributes
		if h != want {
			t.Errorf("%s: header changed\n got %+v\nwant %+v", name, h, want)
		}
		n := 0
		if err := Records(b, func(r Record) error {
			if string(r.Key) != fmt.Sprint("k", n) || r.OffsetDelta != int32(n) || r.TimestampDelta != int64(n) || len(r.Headers) != 1 {
				return fmt.Errorf("record %d: %+v", n, r)
			}
			n++
			return nil
		}); err != nil || n != len(recs) {
			t.Errorf("%s: %d records read: %v", name, n, err)
		}
		back, _, err := Recompress(b, h, CodecNone, 0)
		if err != nil || !bytes.Equal(back, orig) {
			t.Errorf("%s: back to uncompressed differs from the original (%v)", name, err)
		}
	}
	// A batch whose records do not match its count is refused.
	bad := append([]byte(nil), orig...)
	bad[offNumRecords+3]++
	bh, _ := ParseHeader(bad)
	if _, _, err := Recompress(bad, bh, CodecGzip, -1); err == nil {
		t.Error("a batch with a wrong record count was recompressed")
	}
}
