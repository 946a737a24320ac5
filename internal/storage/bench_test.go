package storage

import (
	"testing"

	"github.com/strom-broker/strom/internal/record"
)

// BenchmarkAppendSync is the produce path under flush.messages=1: every
// append is followed by the fdatasync that makes it acknowledgeable.
func BenchmarkAppendSync(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l := openLog(b, b.TempDir(), cfg)
	defer l.Close()
	batch := makeBatch(b, 10, baseTs, record.CodecNone)
	h, err := record.Validate(batch) // a partition parses the header once, before the log
	if err != nil {
		b.Fatal(err)
	}
	hs := []record.BatchHeader{h}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		info, err := l.Append(batch, hs, 1)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.SyncTo(info.LastOffset + 1); err != nil {
			b.Fatal(err)
		}
	}
}
