package storage

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
)

// TestTxnIndex: entries go to the .txnindex of the segment holding their
// marker, in Kafka's 34-byte format; a range query returns those
// overlapping it; a damaged file is rewritten whole on the next append;
// truncation drops the entries of removed markers.
func TestTxnIndex(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	defer l.Close()
	for range 10 {
		mustAppend(t, l, makeBatch(t, 1, baseTs, record.CodecNone), 1)
	}
	a := AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 4, LastStableOffset: 3}
	b := AbortedTxn{ProducerID: 2, FirstOffset: 3, LastOffset: 6, LastStableOffset: 7}
	c := AbortedTxn{ProducerID: 3, FirstOffset: 7, LastOffset: 8, LastStableOffset: 9}
	for _, e := range []AbortedTxn{a, b} {
		if err := l.AddAbortedTxn(e); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "00000000000000000000.txnindex")
	if fi, err := os.Stat(path); err != nil || fi.Size() != 2*34 {
		t.Fatalf(".txnindex: %v, %v; want 68 bytes", fi, err)
	}
	// A cut file is rewritten whole.
	if err := os.Truncate(path, 40); err != nil {
		t.Fatal(err)
	}
	if err := l.AddAbortedTxn(c); err != nil {
		t.Fatal(err)
	}
	if got, err := l.ReadTxnIndex(0); err != nil || !slices.Equal(got, []AbortedTxn{a, b, c}) {
		t.Fatalf("ReadTxnIndex: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		from, upper ids.Offset
		want        []AbortedTxn
	}{
		{0, 10, []AbortedTxn{a, b, c}},
		{5, 7, []AbortedTxn{b}},    // a's marker is before 5, c starts at 7
		{0, 3, []AbortedTxn{a}},    // stops at a's LSO: nothing later starts below 3
		{9, 10, nil},               // every marker is before 9
		{4, 5, []AbortedTxn{a, b}}, // a's marker is at 4; b started at 3
	} {
		if got := l.AbortedTxns(tc.from, tc.upper); !slices.Equal(got, tc.want) {
			t.Errorf("AbortedTxns(%d, %d) = %+v, want %+v", tc.from, tc.upper, got, tc.want)
		}
	}
	if err := l.Truncate(6); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTxns(0, 10); !slices.Equal(got, []AbortedTxn{a}) {
		t.Fatalf("after truncation to 6: %+v, want only a", got)
	}
}

// FuzzDecodeTxnIndex: any file content decodes to entries that encode
// back to it, or is refused as corrupt; never a panic.
func FuzzDecodeTxnIndex(f *testing.F) {
	f.Add(encodeTxnIndex([]AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 3, LastStableOffset: 4}}))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeTxnIndex("fuzz.txnindex", b)
		if err != nil {
			if !errors.Is(err, ErrCorruptSegment) {
				t.Fatalf("error %v is not ErrCorruptSegment", err)
			}
			return
		}
		if got := encodeTxnIndex(es); string(got) != string(b) {
			t.Fatalf("round trip changed %x to %x", b, got)
		}
	})
}
