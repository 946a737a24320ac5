package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
)

const baseTs = 1_700_000_000_000

// makeBatch builds a batch of n records with values "v<i>" and timestamps ts+i.
func makeBatch(t testing.TB, n int, ts int64, codec record.Codec) []byte {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{TimestampDelta: int64(i), Value: bytes.Repeat([]byte{'x'}, 100)}
	}
	b, err := record.AppendBatch(nil, record.BatchOptions{Codec: codec, FirstTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testConfig() Config {
	return Config{SegmentBytes: 4096, IndexIntervalBytes: 512, MaxIndexBytes: 1 << 20, RetentionMs: -1, RetentionBytes: -1}
}

func openLog(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// crash drops the log as a killed process would: no sync, no indexes, no marker.
func crash(l *Log) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.closed = true
	for _, s := range l.mu.segments {
		s.decRef()
	}
}

// appendBatch appends concatenated batches as a partition does: their
// headers parsed and checked first.
func appendBatch(l *Log, b []byte, epoch ids.LeaderEpoch) (AppendInfo, error) {
	var hs []record.BatchHeader
	err := record.Split(b, func(batch []byte, _ record.BatchHeader) error {
		h, err := record.Validate(batch)
		hs = append(hs, h)
		return err
	})
	if err != nil {
		return AppendInfo{}, err
	}
	return l.Append(b, hs, epoch)
}

func mustAppend(t testing.TB, l *Log, b []byte, epoch ids.LeaderEpoch) AppendInfo {
	t.Helper()
	info, err := appendBatch(l, b, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// readAll reads every batch from from to the log end, checking each.
func readAll(t *testing.T, l *Log, from ids.Offset) []record.BatchHeader {
	t.Helper()
	var hs []record.BatchHeader
	off := from
	for off < l.LogEndOffset() {
		rr, err := l.Read(off, 1000, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		buf, err := rr.AppendTo(nil)
		rr.Release()
		if err != nil || len(buf) == 0 {
			t.Fatalf("read %d: %v, %d bytes", off, err, len(buf))
		}
		if err := record.Split(buf, func(b []byte, _ record.BatchHeader) error {
			h, err := record.Validate(b)
			if err != nil {
				return err
			}
			hs = append(hs, h)
			return nil
		}); err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if first := hs[len(hs)-1]; ids.Offset(first.LastOffset()) < off {
			t.Fatalf("read %d returned batches ending at %d", off, first.LastOffset())
		}
		off = ids.Offset(hs[len(hs)-1].LastOffset() + 1)
	}
	return hs
}

func checkContiguous(t *testing.T, hs []record.BatchHeader, from, to ids.Offset) {
	t.Helper()
	next := from
	for _, h := range hs {
		if ids.Offset(h.BaseOffset) != next {
			t.Fatalf("batch at %d, want %d", h.BaseOffset, next)
		}
		next = ids.Offset(h.LastOffset() + 1)
	}
	if next != to {
		t.Fatalf("batches end at %d, want %d", next, to)
	}
}

func TestAppendReadAcrossRolls(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			l := openLog(t, t.TempDir(), testConfig())
			defer l.Close()
			var next ids.Offset
			for i := range 100 {
				b := makeBatch(t, 1+i%4, baseTs+int64(i), codec)
				b = append(b, makeBatch(t, 2, baseTs+int64(i), codec)...)
				info := mustAppend(t, l, b, 1)
				if info.FirstOffset != next || info.NumBatches != 2 || info.LastOffset != next+ids.Offset(1+i%4)+1 {
					t.Fatalf("append %d: %+v", i, info)
				}
				next = info.LastOffset + 1
			}
			if l.LogEndOffset() != next || l.NumSegments() < 3 {
				t.Fatalf("leo %d segments %d", l.LogEndOffset(), l.NumSegments())
			}
			checkContiguous(t, readAll(t, l, 0), 0, next)
			// Every offset finds the batch holding it.
			for off := ids.Offset(0); off < next; off++ {
				rr, err := l.Read(off, 1, next, true)
				if err != nil || rr.FirstOffset > off || rr.LastOffset < off || rr.Size() == 0 {
					t.Fatalf("read %d: %v %+v", off, err, rr)
				}
				rr.Release()
			}
		})
	}
}

func TestReadBounds(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	b := makeBatch(t, 5, baseTs, record.CodecNone)
	for range 4 {
		mustAppend(t, l, bytes.Clone(b), 0)
	}
	leo := l.LogEndOffset()
	if leo != 20 {
		t.Fatalf("leo %d", leo)
	}
	tests := []struct {
		name                string
		off                 ids.Offset
		maxBytes            int32
		maxOffset           ids.Offset
		minOne              bool
		wantFirst, wantLast ids.Offset
		wantErr             error
	}{
		{"all", 0, 1 << 20, leo, false, 0, 19, nil},
		{"mid batch", 7, 1 << 20, leo, false, 5, 19, nil},
		{"hwm", 0, 1 << 20, 10, false, 0, 9, nil},
		{"hwm inside batch", 0, 1 << 20, 12, false, 0, 9, nil},
		{"at hwm", 10, 1 << 20, 10, false, -1, -1, nil},
		{"at leo", 20, 1 << 20, leo, false, -1, -1, nil},
		{"maxBytes one batch", 0, int32(len(b)), leo, false, 0, 4, nil},
		{"too small", 0, 10, leo, false, -1, -1, nil},
		{"too small minOne", 0, 10, leo, true, 0, 4, nil},
		{"above leo", 21, 100, leo, false, -1, -1, ErrOffsetOutOfRange},
		{"negative", -1, 100, leo, false, -1, -1, ErrOffsetOutOfRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr, err := l.Read(tc.off, tc.maxBytes, tc.maxOffset, tc.minOne)
			defer rr.Release()
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v want %v", err, tc.wantErr)
			}
			if rr.FirstOffset != tc.wantFirst || rr.LastOffset != tc.wantLast {
				t.Fatalf("got [%d,%d] want [%d,%d]", rr.FirstOffset, rr.LastOffset, tc.wantFirst, tc.wantLast)
			}
			if tc.wantFirst >= 0 {
				data, err := rr.AppendTo([]byte("prefix"))
				if err != nil || len(data) != 6+rr.Size() || rr.File() == nil {
					t.Fatalf("AppendTo: %v", err)
				}
				if _, err := record.Validate(data[6:]); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestReopenClean(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for i := range 50 {
		mustAppend(t, l, makeBatch(t, 3, baseTs+int64(i)*10, record.CodecNone), ids.LeaderEpoch(i/20))
	}
	leo, segs := l.LogEndOffset(), l.NumSegments()
	wantTs, wantOff := l.MaxTimestamp()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := appendBatch(l, makeBatch(t, 1, 0, record.CodecNone), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if l.scanned != 0 {
		t.Fatalf("clean reopen scanned %d segments", l.scanned)
	}
	if l.LogEndOffset() != leo || l.NumSegments() != segs || l.LatestEpoch() != 2 {
		t.Fatalf("leo %d segs %d epoch %d", l.LogEndOffset(), l.NumSegments(), l.LatestEpoch())
	}
	if ts, off := l.MaxTimestamp(); ts != wantTs || off != wantOff {
		t.Fatalf("max timestamp %d@%d, want %d@%d", ts, off, wantTs, wantOff)
	}
	checkContiguous(t, readAll(t, l, 0), 0, leo)
	info := mustAppend(t, l, makeBatch(t, 2, baseTs, record.CodecNone), 2)
	if info.FirstOffset != leo {
		t.Fatalf("append after reopen at %d", info.FirstOffset)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("clean marker still present: %v", err)
	}
}

func TestCrashRecovery(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, lastBatch int64)
	}{
		{"none", func(*testing.T, string, int64) {}},
		{"torn last batch", func(t *testing.T, path string, lastBatch int64) {
			if err := os.Truncate(path, lastBatch+30); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage tail", func(t *testing.T, path string, _ int64) {
			appendFile(t, path, []byte("garbage garbage garbage garbage garbage garbage garbage garbage"))
		}},
		{"zero-filled tail", func(t *testing.T, path string, _ int64) { appendFile(t, path, make([]byte, 4096)) }},
		{"bad crc in last batch", func(t *testing.T, path string, lastBatch int64) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{0xff}, lastBatch+record.BatchHeaderSize+3); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testConfig())
			var info AppendInfo
			for i := range 40 {
				info = mustAppend(t, l, makeBatch(t, 2, baseTs+int64(i), record.CodecNone), 1)
			}
			if err := l.SyncTo(info.LastOffset + 1); err != nil {
				t.Fatal(err)
			}
			rr, err := l.Read(info.FirstOffset, 1<<20, l.LogEndOffset(), true)
			if err != nil {
				t.Fatal(err)
			}
			path, lastPos := rr.File().Name(), rr.Pos()
			rr.Release()
			crash(l)
			tc.damage(t, path, lastPos)
			wantLEO := info.LastOffset + 1
			if tc.name == "torn last batch" || tc.name == "bad crc in last batch" {
				wantLEO = info.FirstOffset
			}
			l = openLog(t, dir, testConfig())
			defer l.Close()
			if l.scanned == 0 {
				t.Fatal("unclean open did not scan")
			}
			if l.LogEndOffset() != wantLEO {
				t.Fatalf("recovered leo %d, want %d", l.LogEndOffset(), wantLEO)
			}
			checkContiguous(t, readAll(t, l, 0), 0, wantLEO)
			info = mustAppend(t, l, makeBatch(t, 2, baseTs, record.CodecNone), 1)
			if info.FirstOffset != wantLEO {
				t.Fatalf("append after recovery at %d", info.FirstOffset)
			}
			checkContiguous(t, readAll(t, l, 0), 0, wantLEO+2)
		})
	}
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptMiddleSegment(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for i := range 60 {
		mustAppend(t, l, makeBatch(t, 2, baseTs+int64(i), record.CodecNone), 1)
	}
	if l.NumSegments() < 3 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	crash(l)
	first := filepath.Join(dir, segmentName(0)+logSuffix)
	f, err := os.OpenFile(first, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte inside the second batch.
	b := makeBatch(t, 2, baseTs, record.CodecNone)
	if _, err := f.WriteAt([]byte{0xee}, int64(len(b))+record.BatchHeaderSize+5); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Open(dir, testConfig(), nil)
	if err == nil || !errors.Is(err, record.ErrCorrupt) || !strings.Contains(err.Error(), first) ||
		!strings.Contains(err.Error(), fmt.Sprintf("position %d", len(b))) {
		t.Fatalf("open: %v", err)
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	l := openLog(t, dir, cfg)
	defer l.Close()
	for i := range 60 {
		mustAppend(t, l, makeBatch(t, 2, baseTs+int64(i)*1000, record.CodecNone), 1)
	}
	segs := l.NumSegments()
	now := time.UnixMilli(baseTs + 100_000)
	// Nothing to do with unlimited retention.
	if n, err := l.ApplyRetention(now, l.LogEndOffset()); err != nil || n != 0 {
		t.Fatalf("retention: %d %v", n, err)
	}
	// By time: keep the last 30 s of data (records 30..59 s).
	cfg.RetentionMs = 100_000 - 30_000
	l.SetConfig(cfg)
	n, err := l.ApplyRetention(now, l.LogEndOffset())
	if err != nil || n == 0 || n >= segs {
		t.Fatalf("time retention: %d of %d, %v", n, segs, err)
	}
	lso := l.LogStartOffset()
	rr, err := l.Read(lso, 100, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	buf, _ := rr.AppendTo(nil)
	rr.Release()
	h, _ := record.ParseHeader(buf)
	if h.MaxTimestamp < baseTs+100_000-cfg.RetentionMs-10_000 {
		t.Fatalf("kept too much: first batch ts %d", h.MaxTimestamp)
	}
	if _, err := l.Read(lso-1, 100, l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below lso: %v", err)
	}
	// Never a segment with offsets at or above the bound the partition
	// passes (its last stable offset): here the second segment's base.
	cfg.RetentionMs = 0
	l.SetConfig(cfg)
	l.mu.RLock()
	bound := ids.Offset(l.mu.segments[1].base)
	l.mu.RUnlock()
	if n, err := l.ApplyRetention(now, bound+1); err != nil || n != 1 || l.LogStartOffset() != bound {
		t.Fatalf("retention bounded at %d: %d segments deleted, log start %d, %v", bound+1, n, l.LogStartOffset(), err)
	}
	if n, err := l.ApplyRetention(now, bound+1); err != nil || n != 0 {
		t.Fatalf("retention bounded at %d, again: %d segments deleted, %v", bound+1, n, err)
	}
	// By size.
	cfg.RetentionMs, cfg.RetentionBytes = -1, 4096
	l.SetConfig(cfg)
	if _, err := l.ApplyRetention(now, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.Size() > 4096+4096 || l.NumSegments() < 1 {
		t.Fatalf("size %d after size retention, %d segments", l.Size(), l.NumSegments())
	}
	// Never the active segment.
	cfg.RetentionBytes = 0
	l.SetConfig(cfg)
	if _, err := l.ApplyRetention(now, l.LogEndOffset()); err != nil || l.NumSegments() != 1 {
		t.Fatalf("%d segments, %v", l.NumSegments(), err)
	}
	checkContiguous(t, readAll(t, l, l.LogStartOffset()), l.LogStartOffset(), l.LogEndOffset())
}

func TestSetLogStartOffset(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for i := range 60 {
		mustAppend(t, l, makeBatch(t, 2, baseTs+int64(i), record.CodecNone), ids.LeaderEpoch(i/10))
	}
	segs := l.NumSegments()
	if err := l.SetLogStartOffset(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("above leo: %v", err)
	}
	if err := l.SetLogStartOffset(61); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 61 || l.NumSegments() >= segs {
		t.Fatalf("lso %d, segments %d of %d", l.LogStartOffset(), l.NumSegments(), segs)
	}
	rr, err := l.Read(61, 1, l.LogEndOffset(), true)
	if err != nil || rr.FirstOffset != 60 {
		t.Fatalf("read at lso: %v %+v", err, rr)
	}
	rr.Release()
	if _, err := l.Read(59, 1, l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below lso: %v", err)
	}
	if ep, end := l.EndOffsetForEpoch(0); ep != -1 && end < 61 {
		t.Fatalf("epoch 0 after start raise: %d %d", ep, end)
	}
	if err := l.SetLogStartOffset(10); err != nil || l.LogStartOffset() != 61 {
		t.Fatalf("lowering: %v %d", err, l.LogStartOffset())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if l.LogStartOffset() != 61 {
		t.Fatalf("lso after reopen %d", l.LogStartOffset())
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	// Batch i holds records with timestamps 1000*i + 0..2 at offsets 3i..3i+2.
	for i := range 50 {
		mustAppend(t, l, makeBatch(t, 3, baseTs+int64(i)*1000, record.CodecGzip), 1)
	}
	tests := []struct {
		ts       int64
		wantOff  ids.Offset
		wantTs   int64
		wantFind bool
	}{
		{0, 0, baseTs, true},
		{baseTs, 0, baseTs, true},
		{baseTs + 1, 1, baseTs + 1, true},
		{baseTs + 3, 3, baseTs + 1000, true},
		{baseTs + 20_002, 62, baseTs + 20_002, true},
		{baseTs + 49_002, 149, baseTs + 49_002, true},
		{baseTs + 49_003, -1, -1, false},
	}
	for _, tc := range tests {
		off, ts, found, err := l.OffsetForTimestamp(tc.ts)
		if err != nil || found != tc.wantFind || off != tc.wantOff || ts != tc.wantTs {
			t.Fatalf("ts %d: got %d@%d %v %v, want %d@%d", tc.ts, off, ts, found, err, tc.wantOff, tc.wantTs)
		}
	}
	if ts, off := l.MaxTimestamp(); ts != baseTs+49_002 || off != 149 {
		t.Fatalf("max timestamp %d@%d", ts, off)
	}
	// Out-of-order timestamps: the largest wins, at its exact record.
	mustAppend(t, l, makeBatch(t, 3, baseTs+100_000, record.CodecNone), 1)
	mustAppend(t, l, makeBatch(t, 3, baseTs, record.CodecNone), 1)
	if ts, off := l.MaxTimestamp(); ts != baseTs+100_002 || off != 152 {
		t.Fatalf("max timestamp %d@%d", ts, off)
	}
	if err := l.SetLogStartOffset(4); err != nil {
		t.Fatal(err)
	}
	if off, _, _, _ := l.OffsetForTimestamp(0); off != 4 {
		t.Fatalf("below log start: %d", off)
	}
}

func TestEmptyLog(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("max timestamp %d %d", ts, off)
	}
	if _, _, found, err := l.OffsetForTimestamp(0); found || err != nil {
		t.Fatalf("found %v %v", found, err)
	}
	if ep, off := l.EndOffsetForEpoch(0); ep != -1 || off != -1 || l.LatestEpoch() != -1 {
		t.Fatalf("epochs %d %d", ep, off)
	}
	rr, err := l.Read(0, 100, 0, true)
	if err != nil || rr.Size() != 0 {
		t.Fatalf("read %v %d", err, rr.Size())
	}
	if err := l.SyncTo(0); err != nil {
		t.Fatal(err)
	}
}

func TestLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for _, ep := range []ids.LeaderEpoch{1, 1, 2, 2, 5} { // each batch: 2 records
		mustAppend(t, l, makeBatch(t, 2, baseTs, record.CodecNone), ep)
	}
	leo := l.LogEndOffset()
	tests := []struct {
		req     ids.LeaderEpoch
		wantEp  ids.LeaderEpoch
		wantEnd ids.Offset
	}{
		{0, 0, 0}, {1, 1, 4}, {2, 2, 8}, {3, 2, 8}, {4, 2, 8}, {5, 5, leo}, {6, -1, -1}, {-1, -1, -1},
	}
	check := func() {
		t.Helper()
		for _, tc := range tests {
			if ep, end := l.EndOffsetForEpoch(tc.req); ep != tc.wantEp || end != tc.wantEnd {
				t.Fatalf("epoch %d: got %d,%d want %d,%d", tc.req, ep, end, tc.wantEp, tc.wantEnd)
			}
		}
	}
	check()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testConfig())
	defer l.Close()
	check()
	// Follower truncation to the end of epoch 2 drops epoch 5.
	if err := l.Truncate(8); err != nil {
		t.Fatal(err)
	}
	if l.LatestEpoch() != 2 || l.LogEndOffset() != 8 {
		t.Fatalf("after truncate: epoch %d leo %d", l.LatestEpoch(), l.LogEndOffset())
	}
	if ep, end := l.EndOffsetForEpoch(2); ep != 2 || end != 8 {
		t.Fatalf("epoch 2 end %d,%d", ep, end)
	}
}

func TestAppendAsFollower(t *testing.T) {
	leader := openLog(t, t.TempDir(), testConfig())
	defer leader.Close()
	follower := openLog(t, t.TempDir(), testConfig())
	defer follower.Close()
	for i := range 30 {
		mustAppend(t, leader, makeBatch(t, 3, baseTs+int64(i), record.CodecNone), ids.LeaderEpoch(1+i/10))
	}
	for follower.LogEndOffset() < leader.LogEndOffset() {
		rr, err := leader.Read(follower.LogEndOffset(), 1000, leader.LogEndOffset(), true)
		if err != nil {
			t.Fatal(err)
		}
		buf, err := rr.AppendTo(nil)
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := follower.AppendAsFollower(buf); err != nil {
			t.Fatal(err)
		}
	}
	if follower.LatestEpoch() != 3 {
		t.Fatalf("follower epoch %d", follower.LatestEpoch())
	}
	for ep := ids.LeaderEpoch(0); ep <= 4; ep++ {
		e1, o1 := leader.EndOffsetForEpoch(ep)
		e2, o2 := follower.EndOffsetForEpoch(ep)
		if e1 != e2 || o1 != o2 {
			t.Fatalf("epoch %d: leader %d,%d follower %d,%d", ep, e1, o1, e2, o2)
		}
	}
	// Offsets below the log end are refused; a gap (compaction) is not.
	b := makeBatch(t, 1, baseTs, record.CodecNone)
	record.SetBaseOffset(b, int64(follower.LogEndOffset())-1)
	if _, err := follower.AppendAsFollower(b); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("overlap: %v", err)
	}
	record.SetBaseOffset(b, int64(follower.LogEndOffset())+5)
	if _, err := follower.AppendAsFollower(b); err != nil {
		t.Fatalf("gap: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for i := range 60 {
		mustAppend(t, l, makeBatch(t, 2, baseTs+int64(i), record.CodecNone), 1)
	}
	segs := l.NumSegments()
	if err := l.Truncate(31); err != nil { // inside batch [30,31]: the whole batch goes
		t.Fatal(err)
	}
	if l.LogEndOffset() != 30 || l.NumSegments() >= segs {
		t.Fatalf("leo %d segments %d", l.LogEndOffset(), l.NumSegments())
	}
	checkContiguous(t, readAll(t, l, 0), 0, 30)
	info := mustAppend(t, l, makeBatch(t, 2, baseTs, record.CodecNone), 2)
	if info.FirstOffset != 30 {
		t.Fatalf("append after truncate at %d", info.FirstOffset)
	}
	crash(l)
	l = openLog(t, dir, testConfig())
	if l.LogEndOffset() != 32 {
		t.Fatalf("leo after crash %d", l.LogEndOffset())
	}
	checkContiguous(t, readAll(t, l, 0), 0, 32)
	// Below the log start: restart empty at the offset.
	if err := l.SetLogStartOffset(20); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 10 || l.LogEndOffset() != 10 || l.NumSegments() != 1 {
		t.Fatalf("lso %d leo %d segs %d", l.LogStartOffset(), l.LogEndOffset(), l.NumSegments())
	}
	mustAppend(t, l, makeBatch(t, 2, baseTs, record.CodecNone), 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testConfig())
	defer l.Close()
	checkContiguous(t, readAll(t, l, 10), 10, 12)
}

func TestScanBatches(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	for i := range 40 {
		mustAppend(t, l, makeBatch(t, 2, baseTs+int64(i), record.CodecNone), 1)
	}
	var bases []int64
	if err := l.ScanBatches(41, func(h record.BatchHeader) error {
		bases = append(bases, h.BaseOffset)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(bases) != 19 || bases[0] != 42 || bases[18] != 78 {
		t.Fatalf("scanned %v", bases)
	}
	stop := errors.New("stop")
	if err := l.ScanBatches(0, func(record.BatchHeader) error { return stop }); err != stop {
		t.Fatalf("stop: %v", err)
	}
}

func TestSegmentMsRoll(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes, cfg.SegmentMs = 1<<20, 60_000
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	now := time.UnixMilli(baseTs)
	l.now = func() time.Time { return now }
	mustAppend(t, l, makeBatch(t, 1, baseTs, record.CodecNone), 0)
	mustAppend(t, l, makeBatch(t, 1, baseTs, record.CodecNone), 0)
	if l.NumSegments() != 1 {
		t.Fatalf("%d segments", l.NumSegments())
	}
	now = now.Add(61 * time.Second)
	mustAppend(t, l, makeBatch(t, 1, baseTs, record.CodecNone), 0)
	if l.NumSegments() != 2 {
		t.Fatalf("%d segments after segment.ms", l.NumSegments())
	}
}

func TestDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-0")
	l := openLog(t, dir, testConfig())
	mustAppend(t, l, makeBatch(t, 2, baseTs, record.CodecNone), 0)
	rr, err := l.Read(0, 100, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir still there: %v", err)
	}
	// A read in flight keeps its file open.
	if _, err := rr.AppendTo(nil); err != nil {
		t.Fatalf("read after delete: %v", err)
	}
	rr.Release()
	rr.Release()
}

func TestGroupCommit(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	l.beforeSync = func() { once.Do(func() { close(entered); <-release }) }

	first := mustAppend(t, l, makeBatch(t, 1, baseTs, record.CodecNone), 0)
	errs := make(chan error, 10)
	go func() { errs <- l.SyncTo(first.LastOffset + 1) }()
	<-entered // the first round is running and blocked
	const waiters = 8
	for range waiters {
		info := mustAppend(t, l, makeBatch(t, 1, baseTs, record.CodecNone), 0)
		go func() { errs <- l.SyncTo(info.LastOffset + 1) }()
	}
	waitFor(t, func() bool {
		l.syncMu.Lock()
		defer l.syncMu.Unlock()
		return l.syncWaiters == waiters
	})
	close(release)
	for range waiters + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// One round for the first caller, one shared by all who arrived during it.
	if n := l.SyncCount(); n != 2 {
		t.Fatalf("%d sync rounds, want 2", n)
	}
	if l.FlushedOffset() != l.LogEndOffset() || l.UnflushedMessages() != 0 {
		t.Fatalf("flushed %d leo %d", l.FlushedOffset(), l.LogEndOffset())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentAppendReadSync(t *testing.T) {
	cfg := testConfig()
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	const writers, perWriter = 4, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				b := makeBatch(t, 2, baseTs+int64(i), record.CodecNone)
				info, err := appendBatch(l, b, 1)
				if err == nil && i%10 == 0 {
					err = l.SyncTo(info.LastOffset + 1)
					if err == nil && l.FlushedOffset() <= info.LastOffset {
						err = fmt.Errorf("SyncTo(%d) returned with flushed %d", info.LastOffset+1, l.FlushedOffset())
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var off ids.Offset
			for {
				select {
				case <-done:
					return
				default:
				}
				rr, err := l.Read(off, 2000, l.LogEndOffset(), true)
				if err != nil {
					errs <- err
					return
				}
				buf, err := rr.AppendTo(nil)
				rr.Release()
				if err == nil {
					err = record.Split(buf, func(b []byte, _ record.BatchHeader) error {
						h, err := record.Validate(b)
						if err == nil && ids.Offset(h.BaseOffset) > off && off != 0 {
							err = fmt.Errorf("gap: batch %d after %d", h.BaseOffset, off)
						}
						off = ids.Offset(h.LastOffset() + 1)
						return err
					})
				}
				if err != nil {
					errs <- err
					return
				}
				if _, err := l.ApplyRetention(time.UnixMilli(baseTs), l.LogEndOffset()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l.LogEndOffset() != writers*perWriter*2 {
		t.Fatalf("leo %d", l.LogEndOffset())
	}
	checkContiguous(t, readAll(t, l, 0), 0, writers*perWriter*2)
}

func BenchmarkAppend(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l := openLog(b, b.TempDir(), cfg)
	defer l.Close()
	batch := makeBatch(b, 10, baseTs, record.CodecNone) // 10 records of 100 bytes
	h, err := record.Validate(batch)                    // a partition parses the header once, before the log
	if err != nil {
		b.Fatal(err)
	}
	hs := []record.BatchHeader{h}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(batch, hs, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	l := openLog(b, b.TempDir(), DefaultConfig())
	defer l.Close()
	batch := makeBatch(b, 10, baseTs, record.CodecNone)
	for range 10_000 {
		if _, err := appendBatch(l, batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	b.ReportAllocs()
	var off ids.Offset
	for b.Loop() {
		rr, err := l.Read(off, 64<<10, leo, true)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(rr.Size()))
		off = rr.LastOffset + 1
		rr.Release()
		if off >= leo {
			off = 0
		}
	}
}

func TestCrashWithoutSyncScansFromRecoveryPoint(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for i := range 60 {
		mustAppend(t, l, makeBatch(t, 2, baseTs+int64(i), record.CodecNone), 1)
	}
	segs, leo := l.NumSegments(), l.LogEndOffset()
	crash(l)
	l = openLog(t, dir, testConfig())
	if l.scanned != segs || l.LogEndOffset() != leo {
		t.Fatalf("scanned %d of %d segments, leo %d want %d", l.scanned, segs, l.LogEndOffset(), leo)
	}
	// Recovery made everything durable: a second crash scans only the active segment.
	crash(l)
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if l.scanned != 1 || l.LogEndOffset() != leo {
		t.Fatalf("scanned %d segments, leo %d", l.scanned, l.LogEndOffset())
	}
	checkContiguous(t, readAll(t, l, 0), 0, leo)
}

func TestBadIndexFileRebuilt(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for i := range 60 {
		mustAppend(t, l, makeBatch(t, 2, baseTs+int64(i), record.CodecNone), 1)
	}
	leo := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(0)+indexSuffix), []byte("bad"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if l.scanned != 1 {
		t.Fatalf("scanned %d segments", l.scanned)
	}
	checkContiguous(t, readAll(t, l, 0), 0, leo)
	for off := ids.Offset(0); off < leo; off += 7 {
		rr, err := l.Read(off, 1, leo, true)
		if err != nil || rr.FirstOffset > off || rr.LastOffset < off {
			t.Fatalf("read %d: %v %+v", off, err, rr)
		}
		rr.Release()
	}
}

func TestFollowerRejectsCorruptBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	b := makeBatch(t, 2, baseTs, record.CodecNone)
	b[len(b)-1] ^= 1
	if _, err := l.AppendAsFollower(b); !errors.Is(err, record.ErrCorrupt) || l.LogEndOffset() != 0 {
		t.Fatalf("corrupt follower append: %v, leo %d", err, l.LogEndOffset())
	}
}
