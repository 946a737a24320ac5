package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

func testRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			TimestampDelta: int64(i * 3),
			Key:            fmt.Appendf(nil, "key-%d", i),
			Value:          bytes.Repeat([]byte{byte('a' + i%26)}, 100),
		}
		if i%2 == 1 {
			recs[i].Key = nil
			recs[i].Headers = []Header{{Key: "h", Value: []byte("v")}, {Key: "n", Value: nil}}
		}
	}
	return recs
}

func mustBatch(t testing.TB, o BatchOptions, recs []Record) []byte {
	t.Helper()
	b, err := AppendBatch(nil, o, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func defaultOpts(c Codec) BatchOptions {
	return BatchOptions{Codec: c, FirstTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

func TestRoundTripAllCodecs(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			want := testRecords(7)
			b := mustBatch(t, defaultOpts(c), want)
			h, err := Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Codec() != c || h.NumRecords != 7 || h.LastOffsetDelta != 6 || h.TotalSize() != len(b) {
				t.Fatalf("header %+v", h)
			}
			if h.MaxTimestamp != h.FirstTimestamp+18 {
				t.Fatalf("max timestamp %d", h.MaxTimestamp)
			}
			i := 0
			err = Records(b, func(r Record) error {
				w := want[i]
				if r.OffsetDelta != int32(i) || r.TimestampDelta != w.TimestampDelta ||
					!bytes.Equal(r.Value, w.Value) || (r.Key == nil) != (w.Key == nil) || !bytes.Equal(r.Key, w.Key) ||
					len(r.Headers) != len(w.Headers) {
					t.Fatalf("record %d: got %+v want %+v", i, r, w)
				}
				for j, hd := range r.Headers {
					if hd.Key != w.Headers[j].Key || !bytes.Equal(hd.Value, w.Headers[j].Value) ||
						(hd.Value == nil) != (w.Headers[j].Value == nil) {
						t.Fatalf("record %d header %d: %+v", i, j, hd)
					}
				}
				i++
				return nil
			})
			if err != nil || i != 7 {
				t.Fatalf("Records: %v after %d", err, i)
			}
		})
	}
}

// TestKmsgInterop checks our reading of batches encoded by franz-go's kmsg.
func TestKmsgInterop(t *testing.T) {
	var recs []byte
	for i := range 3 {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: []byte("k"), Value: []byte(fmt.Sprint(i))}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{
		FirstOffset: 5, PartitionLeaderEpoch: 1, Magic: 2, LastOffsetDelta: 2,
		FirstTimestamp: 10, MaxTimestamp: 12, ProducerID: 7, ProducerEpoch: 1, FirstSequence: 3,
		NumRecords: 3, Records: recs,
	}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	h, err := Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 5 || h.LastOffset() != 7 || h.ProducerID != 7 || h.BaseSequence != 3 {
		t.Fatalf("header %+v", h)
	}
	n := 0
	if err := Records(raw, func(r Record) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("Records: %v, %d", err, n)
	}
	// And kmsg reads what we build.
	ours := mustBatch(t, defaultOpts(CodecNone), testRecords(2))
	var back kmsg.RecordBatch
	if err := back.ReadFrom(ours); err != nil || back.NumRecords != 2 || int32(crc32.Checksum(ours[21:], castagnoli)) != back.CRC {
		t.Fatalf("kmsg ReadFrom: %v %+v", err, back)
	}
}

func TestValidateErrors(t *testing.T) {
	good := mustBatch(t, defaultOpts(CodecNone), testRecords(3))
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	fixCRC := func(b []byte) { UpdateCRC(b) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"short header", good[:BatchHeaderSize-1], ErrCorrupt},
		{"truncated", good[:len(good)-1], ErrCorrupt},
		{"negative length", mut(func(b []byte) { binary.BigEndian.PutUint32(b[8:], 0xffffff00) }), ErrCorrupt},
		{"length below header", mut(func(b []byte) { binary.BigEndian.PutUint32(b[8:], 10) }), ErrCorrupt},
		{"bad crc", mut(func(b []byte) { b[len(b)-1] ^= 1 }), ErrCorrupt},
		{"bad magic", mut(func(b []byte) { b[16] = 1 }), ErrUnsupportedMagic},
		{"negative records", mut(func(b []byte) { binary.BigEndian.PutUint32(b[57:], 0xffffffff); fixCRC(b) }), ErrInvalidRecord},
		{"count mismatch", mut(func(b []byte) { binary.BigEndian.PutUint32(b[57:], 2); fixCRC(b) }), ErrInvalidRecord},
		{"unknown codec", mut(func(b []byte) { b[22] |= 5; fixCRC(b) }), ErrCorrupt},
		{"base offset rewrite keeps crc", mut(func(b []byte) { SetBaseOffset(b, 99); SetPartitionLeaderEpoch(b, 4) }), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Validate(tc.b)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	a := mustBatch(t, defaultOpts(CodecNone), testRecords(2))
	b := mustBatch(t, defaultOpts(CodecZstd), testRecords(5))
	all := append(bytes.Clone(a), b...)
	var sizes []int
	if err := Split(all, func(batch []byte, h BatchHeader) error {
		sizes = append(sizes, len(batch))
		return nil
	}); err != nil || len(sizes) != 2 || sizes[0] != len(a) || sizes[1] != len(b) {
		t.Fatalf("Split: %v %v", err, sizes)
	}
	partial := all[:len(all)-3]
	if err := Split(partial, func([]byte, BatchHeader) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Split partial: %v", err)
	}
	n, err := SplitPartial(partial, func([]byte, BatchHeader) error { return nil })
	if err != nil || n != len(a) {
		t.Fatalf("SplitPartial: %d %v", n, err)
	}
	stop := errors.New("stop")
	if err := Split(all, func([]byte, BatchHeader) error { return stop }); err != stop {
		t.Fatalf("Split stop: %v", err)
	}
	bad := bytes.Clone(all)
	binary.BigEndian.PutUint32(bad[8:], 3)
	if err := Split(bad, func([]byte, BatchHeader) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Split bad length: %v", err)
	}
}

func TestSetLogAppendTime(t *testing.T) {
	for _, c := range allCodecs {
		b := mustBatch(t, defaultOpts(c), testRecords(3))
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		SetLogAppendTime(b, &h, 42)
		parsed, err := Validate(b)
		if err != nil || !parsed.LogAppendTime() || parsed.MaxTimestamp != 42 || parsed.FirstTimestamp != 42 || parsed.Codec() != c {
			t.Fatalf("%s: %v %+v", c, err, parsed)
		}
		if h != parsed {
			t.Fatalf("%s: header %+v, batch now %+v", c, h, parsed)
		}
	}
}

func TestXerialSnappy(t *testing.T) {
	want := bytes.Repeat([]byte("hello xerial "), 1000)
	framed := append([]byte(nil), xerialMagic...)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	framed = binary.BigEndian.AppendUint32(framed, 1)
	for p := want; len(p) > 0; {
		n := min(len(p), 4000)
		blk := s2.EncodeSnappy(nil, p[:n])
		framed = binary.BigEndian.AppendUint32(framed, uint32(len(blk)))
		framed = append(framed, blk...)
		p = p[n:]
	}
	got, err := Decompress(CodecSnappy, framed)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("xerial: %v, %d bytes", err, len(got))
	}
	if _, err := Decompress(CodecSnappy, framed[:len(framed)-2]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("cut xerial: %v", err)
	}
}

func TestRecordsCorrupt(t *testing.T) {
	for _, c := range allCodecs {
		b := mustBatch(t, defaultOpts(c), testRecords(3))
		// Claim one more record than encoded.
		binary.BigEndian.PutUint32(b[57:], 4)
		if err := Records(b, func(Record) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: extra record count: %v", c, err)
		}
		b = mustBatch(t, defaultOpts(c), testRecords(3))
		b[len(b)-2] ^= 0xff
		_ = Records(b, func(Record) error { return nil }) // must not panic
	}
}

func benchBatches(b *testing.B) []byte {
	var all []byte
	for range 64 {
		batch := mustBatch(b, defaultOpts(CodecNone), testRecords(10))
		all = append(all, batch...)
	}
	return all
}

func BenchmarkValidate(b *testing.B) {
	one := mustBatch(b, defaultOpts(CodecNone), testRecords(100))
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(one); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplit(b *testing.B) {
	all := benchBatches(b)
	b.SetBytes(int64(len(all)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := Split(all, func(batch []byte, h BatchHeader) error { n += int(h.NumRecords); return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecords(b *testing.B) {
	one := mustBatch(b, defaultOpts(CodecNone), testRecords(100))
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Records(one, func(Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAppendRecordMatchesKmsg: AppendRecord writes, byte for byte, what
// kmsg encodes for the same record, across field sizes whose varint
// lengths take one, two and three bytes, null keys and header values,
// and offset deltas that are not a record's index (as compaction leaves).
func TestAppendRecordMatchesKmsg(t *testing.T) {
	for _, c := range []struct {
		delta        int32
		ts           int64
		key, value   []byte
		headerValues [][]byte
	}{
		{0, 0, nil, []byte("v"), nil},
		{7, -3, []byte("k"), nil, [][]byte{nil}},
		{300, 1 << 20, bytes.Repeat([]byte("k"), 70), bytes.Repeat([]byte("v"), 200), [][]byte{[]byte("h"), nil}},
		{1 << 20, 5, []byte{}, bytes.Repeat([]byte("x"), 20000), nil},
	} {
		r := Record{OffsetDelta: c.delta, TimestampDelta: c.ts, Key: c.key, Value: c.value}
		kr := kmsg.Record{OffsetDelta: c.delta, TimestampDelta64: c.ts, Key: c.key, Value: c.value}
		for i, hv := range c.headerValues {
			r.Headers = append(r.Headers, Header{Key: fmt.Sprint("h", i), Value: hv})
			kr.Headers = append(kr.Headers, kmsg.Header{Key: fmt.Sprint("h", i), Value: hv})
		}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		if got, want := AppendRecord([]byte("prefix"), r), kr.AppendTo([]byte("prefix")); !bytes.Equal(got, want) {
			t.Errorf("delta %d, value %d bytes:\n got %x\nwant %x", c.delta, len(c.value), got, want)
		}
	}
}
