package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
)

var allCodecs = []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd}

// kv is a record to append; a nil value is a tombstone, a nil key a keyless record.
type kv struct{ key, value []byte }

func kvs(pairs ...string) []kv {
	out := make([]kv, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, kv{[]byte(pairs[i]), []byte(pairs[i+1])})
	}
	return out
}

type batchOpts struct {
	codec              record.Codec
	pid                int64
	seq                int32
	producerEpoch      int16
	logAppendTimestamp bool
	transactional      bool
}

// keyedBatch builds a batch whose record i has timestamp ts+i.
func keyedBatch(t testing.TB, o batchOpts, ts int64, recs []kv) []byte {
	t.Helper()
	rs := make([]record.Record, len(recs))
	for i, r := range recs {
		rs[i] = record.Record{TimestampDelta: int64(i), Key: r.key, Value: r.value,
			Headers: []record.Header{{Key: "h", Value: []byte("x")}}}
	}
	pid, seq, epoch := int64(-1), int32(-1), int16(-1)
	if o.pid > 0 {
		pid, seq, epoch = o.pid, o.seq, o.producerEpoch
	}
	b, err := record.AppendBatch(nil, record.BatchOptions{Codec: o.codec, FirstTimestamp: ts,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, LogAppendTime: o.logAppendTimestamp, Transactional: o.transactional}, rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storedRecord is a record read back from the log.
type storedRecord struct {
	offset     int64
	ts         int64
	key, value string
	tombstone  bool
	keyless    bool
}

// readRecords reads the whole log with Read, checking that every batch is a
// valid stored batch, offsets increase, and every record lies in its batch.
func readRecords(t *testing.T, l *Log) ([]storedRecord, []record.BatchHeader) {
	t.Helper()
	var recs []storedRecord
	var hs []record.BatchHeader
	off, end := l.LogStartOffset(), l.LogEndOffset()
	next := off
	for off < end {
		rr, err := l.Read(off, 1<<20, end, true)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		buf, err := rr.AppendTo(nil)
		rr.Release()
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(buf) == 0 {
			break
		}
		if err := record.Split(buf, func(b []byte, _ record.BatchHeader) error {
			h, err := validateStored(b)
			if err != nil {
				return err
			}
			if ids.Offset(h.BaseOffset) < next {
				return fmt.Errorf("batch at %d after offset %d", h.BaseOffset, next)
			}
			next = ids.Offset(h.LastOffset() + 1)
			hs = append(hs, h)
			n := int32(0)
			err = record.Records(b, func(r record.Record) error {
				n++
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o > h.LastOffset() || (len(recs) > 0 && o <= recs[len(recs)-1].offset) {
					return fmt.Errorf("record offset %d in batch [%d, %d]", o, h.BaseOffset, h.LastOffset())
				}
				recs = append(recs, storedRecord{offset: o, ts: recordTimestamp(h, r), key: string(r.Key),
					value: string(r.Value), tombstone: r.Value == nil, keyless: r.Key == nil})
				return nil
			})
			if err == nil && n != h.NumRecords {
				err = fmt.Errorf("batch %d: %d records, header says %d", h.BaseOffset, n, h.NumRecords)
			}
			return err
		}); err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		off = next
	}
	return recs, hs
}

// rollLog starts a new active segment, making the old one cleanable.
func rollLog(t *testing.T, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.roll(); err != nil {
		t.Fatal(err)
	}
}

func activeBase(l *Log) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.activeLocked().base
}

// expectCompacted returns what compaction keeps of recs (the records as
// appended, in offset order) when everything below cleanEnd was cleaned:
// per key, the latest record below cleanEnd; everything from cleanEnd on.
func expectCompacted(recs []storedRecord, cleanEnd int64, dropTombstones bool) []storedRecord {
	latest := map[string]int64{}
	for _, r := range recs {
		if r.offset < cleanEnd && !r.keyless {
			latest[r.key] = r.offset
		}
	}
	var out []storedRecord
	for _, r := range recs {
		if r.offset >= cleanEnd {
			out = append(out, r)
			continue
		}
		if r.keyless || latest[r.key] != r.offset || (r.tombstone && dropTombstones) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func sameRecords(t *testing.T, got, want []storedRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func forceConfig() CompactConfig {
	c := DefaultCompactConfig()
	c.MinCleanableDirtyRatio = 0
	return c
}

// fillKeyed appends n records over nkeys keys, three per batch, with a
// keyless record and a tombstone for k1 along the way.
func fillKeyed(t *testing.T, l *Log, codec record.Codec, n, nkeys int) {
	t.Helper()
	for i := 0; i < n; i += 3 {
		var recs []kv
		for j := i; j < i+3 && j < n; j++ {
			recs = append(recs, kv{[]byte(fmt.Sprintf("k%d", j%nkeys)), []byte(fmt.Sprintf("v%d-%s", j, strings.Repeat("x", 40)))})
		}
		if i == 30 {
			recs = append(recs, kv{nil, []byte("no key")})
		}
		off := l.LogEndOffset()
		mustAppend(t, l, keyedBatch(t, batchOpts{codec: codec}, baseTs+int64(off), recs), 1)
	}
}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testConfig())
			fillKeyed(t, l, codec, 600, 10)
			before, _ := readRecords(t, l)
			segsBefore, sizeBefore := l.NumSegments(), l.Size()
			if segsBefore < 4 {
				t.Fatalf("%d segments, want several", segsBefore)
			}
			cleanEnd := activeBase(l)
			st, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), l.LogEndOffset())
			if err != nil || !st.Ran || st.Aborted {
				t.Fatalf("compact: %+v, %v", st, err)
			}
			if st.KeylessRemoved != 1 || st.EndOffset != cleanEnd {
				t.Fatalf("stats %+v, want one keyless record removed, end %d", st, cleanEnd)
			}
			want := expectCompacted(before, cleanEnd, false)
			got, _ := readRecords(t, l)
			sameRecords(t, got, want)
			if l.Size() >= sizeBefore || l.NumSegments() >= segsBefore {
				t.Fatalf("size %d -> %d, segments %d -> %d: want both smaller", sizeBefore, l.Size(), segsBefore, l.NumSegments())
			}
			// A read at a removed offset returns the next batch kept.
			rr, err := l.Read(1, 1<<20, l.LogEndOffset(), true)
			if err != nil || rr.FirstOffset < 1 {
				t.Fatalf("read 1: %+v, %v", rr, err)
			}
			rr.Release()
			// A second run finds nothing dirty.
			if st, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), l.LogEndOffset()); err != nil || st.Ran {
				t.Fatalf("second compact: %+v, %v", st, err)
			}
			// The rewritten segments and their indexes survive a clean reopen.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openLog(t, dir, testConfig())
			defer l.Close()
			got, _ = readRecords(t, l)
			sameRecords(t, got, want)
			last := want[len(want)-1]
			if off, ts, found, err := l.OffsetForTimestamp(last.ts); err != nil || !found || int64(off) != last.offset || ts != last.ts {
				t.Fatalf("offset for timestamp %d: %d %d %v %v", last.ts, off, ts, found, err)
			}
			if l.scanned != 0 {
				t.Fatalf("clean reopen scanned %d segments", l.scanned)
			}
		})
	}
}

func TestCompactTombstones(t *testing.T) {
	for _, lat := range []bool{false, true} {
		t.Run(fmt.Sprintf("logAppendTime=%v", lat), func(t *testing.T) {
			l := openLog(t, t.TempDir(), testConfig())
			defer l.Close()
			o := batchOpts{codec: record.CodecLZ4, logAppendTimestamp: lat}
			mustAppend(t, l, keyedBatch(t, o, baseTs, kvs("a", "a0", "b", "b0", "c", "c0")), 1)
			mustAppend(t, l, keyedBatch(t, o, baseTs+10, []kv{{[]byte("b"), nil}, {[]byte("c"), []byte("c1")}}), 1)
			rollLog(t, l)
			mustAppend(t, l, keyedBatch(t, o, baseTs+20, kvs("d", "d0")), 1)
			before, _ := readRecords(t, l)
			cfg := forceConfig()
			cfg.DeleteRetentionMs = 1000
			now := time.UnixMilli(baseTs + 5000)
			if st, err := l.Compact(now, cfg, l.LogEndOffset()); err != nil || !st.Ran {
				t.Fatalf("compact: %+v, %v", st, err)
			}
			got, hs := readRecords(t, l)
			sameRecords(t, got, expectCompacted(before, 5, false))
			if hs[1].Attributes&attrDeleteHorizon == 0 || hs[1].FirstTimestamp != now.UnixMilli()+1000 {
				t.Fatalf("tombstone batch %+v: want delete horizon %d", hs[1], now.UnixMilli()+1000)
			}
			if hs[0].LastOffsetDelta != 2 || hs[0].NumRecords != 1 || hs[1].NumRecords != 2 {
				t.Fatalf("batches %+v, %+v: want 1 of 3 records, then 2 of 2", hs[0], hs[1])
			}
			// Before the horizon nothing is due and the tombstone stays.
			due := DefaultCompactConfig()
			due.MinInterval = 0
			if l.CompactionDue(now.Add(999*time.Millisecond), due, l.LogEndOffset()) {
				t.Fatal("compaction due before the delete horizon")
			}
			if st, err := l.Compact(now.Add(999*time.Millisecond), cfg, l.LogEndOffset()); err != nil || st.Ran {
				t.Fatalf("compact before horizon: %+v, %v", st, err)
			}
			if !l.CompactionDue(now.Add(time.Second), due, l.LogEndOffset()) {
				t.Fatal("compaction not due at the delete horizon")
			}
			st, err := l.Compact(now.Add(time.Second), cfg, l.LogEndOffset())
			if err != nil || !st.Ran || st.TombstonesRemoved != 1 {
				t.Fatalf("compact at horizon: %+v, %v", st, err)
			}
			got, _ = readRecords(t, l)
			sameRecords(t, got, expectCompacted(before, 5, true))
		})
	}
}

func TestCompactKeepsProducersLastBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	for i := range 3 {
		o := batchOpts{codec: record.CodecZstd, pid: 7, seq: int32(3 * i)}
		mustAppend(t, l, keyedBatch(t, o, baseTs, kvs("a", "p", "b", "p", "c", "p")), 1)
	}
	mustAppend(t, l, keyedBatch(t, batchOpts{}, baseTs, kvs("a", "x", "b", "x", "c", "x")), 1)
	rollLog(t, l)
	mustAppend(t, l, keyedBatch(t, batchOpts{}, baseTs, kvs("z", "z")), 1)
	if st, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), l.LogEndOffset()); err != nil || !st.Ran {
		t.Fatalf("compact: %+v, %v", st, err)
	}
	recs, hs := readRecords(t, l)
	if len(hs) != 3 || len(recs) != 4 {
		t.Fatalf("%d batches, %d records: want the producer's last batch, empty, then 2 batches", len(hs), len(recs))
	}
	h := hs[0]
	if h.BaseOffset != 6 || h.LastOffsetDelta != 2 || h.NumRecords != 0 || h.ProducerID != 7 || h.BaseSequence != 6 || h.Codec() != record.CodecNone {
		t.Fatalf("kept producer batch %+v", h)
	}
}

func TestCompactConsumerOffsetsShrink(t *testing.T) {
	cfg := testConfig()
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	latest := map[string]string{}
	for i := range 3000 {
		key := fmt.Sprintf("offset-commit/group-%d/topic/%d", i%4, i%5)
		val := fmt.Sprintf("offset=%d;metadata=%s", i, strings.Repeat("m", 30))
		latest[key] = val
		off := l.LogEndOffset()
		mustAppend(t, l, keyedBatch(t, batchOpts{codec: record.CodecSnappy}, baseTs+int64(off), kvs(key, val)), 1)
	}
	sizeBefore := l.Size()
	rollLog(t, l) // everything cleanable
	st, err := l.Compact(time.UnixMilli(baseTs), DefaultCompactConfig(), l.LogEndOffset())
	if err != nil || !st.Ran {
		t.Fatalf("compact: %+v, %v", st, err)
	}
	got, _ := readRecords(t, l)
	if len(got) != len(latest) {
		t.Fatalf("%d records after compaction, want %d", len(got), len(latest))
	}
	for _, r := range got {
		if latest[r.key] != r.value {
			t.Fatalf("key %s = %q, want %q", r.key, r.value, latest[r.key])
		}
	}
	if l.Size()*50 > sizeBefore {
		t.Fatalf("size %d -> %d: want less than 2%%", sizeBefore, l.Size())
	}
}

func TestCompactDirtyRatio(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	fillKeyed(t, l, record.CodecNone, 300, 300) // all keys distinct
	cfg := DefaultCompactConfig()
	now := time.UnixMilli(baseTs)
	if !l.CompactionDue(now, cfg, l.LogEndOffset()) {
		t.Fatal("a log never cleaned is all dirty: compaction due")
	}
	if l.CompactionDue(now, cfg, 0) {
		t.Fatal("compaction due with nothing below the first uncleanable offset")
	}
	if st, err := l.Compact(now, cfg, l.LogEndOffset()); err != nil || !st.Ran {
		t.Fatalf("compact: %+v, %v", st, err)
	}
	if l.CompactionDue(now.Add(time.Hour), cfg, l.LogEndOffset()) {
		t.Fatal("compaction due with nothing dirty")
	}
	// The checkpoint survives a reopen: still nothing dirty.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if st, err := l.Compact(now, cfg, l.LogEndOffset()); err != nil || st.Ran {
		t.Fatalf("compact after reopen: %+v, %v", st, err)
	}
	fillKeyed(t, l, record.CodecNone, 900, 10)
	if !l.CompactionDue(now.Add(cfg.MinInterval), cfg, l.LogEndOffset()) {
		t.Fatal("compaction not due with mostly dirty data")
	}
	if l.CompactionDue(now.Add(cfg.MinInterval/2), cfg, l.LogEndOffset()) {
		t.Fatal("compaction due within the minimum interval of the last run")
	}
}

func listSuffixes(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), cleanedSuffix) || strings.HasSuffix(e.Name(), swapSuffix) {
			left = append(left, e.Name())
		}
	}
	return left
}

func TestCompactCrashDuringSwap(t *testing.T) {
	for _, stage := range []string{"cleaned", "committed", "removed"} {
		t.Run(stage, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testConfig())
			fillKeyed(t, l, record.CodecGzip, 600, 10)
			before, _ := readRecords(t, l)
			cleanEnd := activeBase(l)
			crashErr := errors.New("crash")
			var leftover []string
			l.cleaner.swapHook = func(s string) error {
				if s != stage {
					return nil
				}
				leftover = listSuffixes(t, dir)
				return crashErr
			}
			if _, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), l.LogEndOffset()); !errors.Is(err, crashErr) {
				t.Fatalf("compact: %v, want the hook's error", err)
			}
			if len(leftover) == 0 {
				t.Fatalf("no cleaned or swap files at stage %s", stage)
			}
			if stage == "cleaned" {
				// A crash here leaves the .cleaned files: put them back.
				for _, name := range leftover {
					if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			crash(l)
			l = openLog(t, dir, testConfig())
			defer l.Close()
			if left := listSuffixes(t, dir); len(left) != 0 {
				t.Fatalf("files left after recovery: %v", left)
			}
			got, _ := readRecords(t, l)
			if stage == "cleaned" {
				sameRecords(t, got, before)
			} else {
				// The first group was committed; later groups were never rewritten.
				checkLatestPerKey(t, got, before)
				if len(got) >= len(before) {
					t.Fatalf("%d records, want fewer than %d after a committed swap", len(got), len(before))
				}
			}
			// The recovered log compacts to the same result as an uninterrupted run.
			if _, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
			got, _ = readRecords(t, l)
			sameRecords(t, got, expectCompacted(before, cleanEnd, false))
		})
	}
}

// checkLatestPerKey checks that got is a subsequence of all that keeps the
// latest record of every key.
func checkLatestPerKey(t *testing.T, got, all []storedRecord) {
	t.Helper()
	latest := map[string]storedRecord{}
	for _, r := range all {
		if !r.keyless {
			latest[r.key] = r
		}
	}
	byOffset := map[int64]storedRecord{}
	for _, r := range all {
		byOffset[r.offset] = r
	}
	seen := map[string]bool{}
	for _, r := range got {
		if byOffset[r.offset] != r {
			t.Fatalf("record %+v was never appended at its offset", r)
		}
		if latest[r.key] == r {
			seen[r.key] = true
		}
	}
	if len(seen) != len(latest) {
		t.Fatalf("latest records of %d keys kept, want %d", len(seen), len(latest))
	}
}

func TestCompactRecoversLeftoverFiles(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	fillKeyed(t, l, record.CodecNone, 300, 10)
	before, _ := readRecords(t, l)
	bases := func() []int64 {
		l.mu.RLock()
		defer l.mu.RUnlock()
		var b []int64
		for _, s := range l.mu.segments {
			b = append(b, s.base)
		}
		return b
	}()
	crash(l)
	// A .cleaned file below a complete-looking .swap: Kafka's rule drops both.
	seg0, err := os.ReadFile(filepath.Join(dir, segmentName(bases[0])+logSuffix))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		segmentName(bases[0]) + logSuffix + cleanedSuffix:    []byte("torn"),
		segmentName(bases[1]) + logSuffix + swapSuffix:       seg0[:0],
		segmentName(bases[1]) + indexSuffix + swapSuffix:     nil,
		segmentName(bases[2]) + timeIndexSuffix + swapSuffix: nil,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if left := listSuffixes(t, dir); len(left) != 0 {
		t.Fatalf("files left after recovery: %v", left)
	}
	got, _ := readRecords(t, l)
	sameRecords(t, got, before)
}

func TestCompactAbortedByTruncation(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	defer l.Close()
	fillKeyed(t, l, record.CodecNone, 600, 10)
	leo := l.LogEndOffset()
	l.cleaner.swapHook = func(stage string) error {
		if stage == "cleaned" {
			return l.Truncate(leo - 3)
		}
		return nil
	}
	before, _ := readRecords(t, l)
	st, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), leo)
	if err != nil || !st.Aborted {
		t.Fatalf("compact: %+v, %v: want aborted", st, err)
	}
	if left := listSuffixes(t, dir); len(left) != 0 {
		t.Fatalf("files left after an aborted run: %v", left)
	}
	got, _ := readRecords(t, l)
	sameRecords(t, got, before[:len(before)-3])
}

func TestCompactConcurrentReadAppend(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	fillKeyed(t, l, record.CodecZstd, 300, 10)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	var reads int
	wg.Add(2)
	go func() { // reader: every batch read must be valid at any point of a swap
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			off, end := l.LogStartOffset(), l.LogEndOffset()
			for off < end {
				rr, err := l.Read(off, 4096, end, true)
				if err != nil {
					errc <- err
					return
				}
				buf, err := rr.AppendTo(nil)
				rr.Release()
				if err == nil && len(buf) == 0 {
					break
				}
				if err == nil {
					err = record.Split(buf, func(b []byte, _ record.BatchHeader) error {
						h, err := validateStored(b)
						if err == nil {
							err = record.Records(b, func(record.Record) error { return nil })
						}
						off = ids.Offset(h.LastOffset() + 1)
						return err
					})
				}
				if err != nil {
					errc <- err
					return
				}
			}
			reads++
		}
	}()
	go func() { // appender
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := keyedBatch(t, batchOpts{codec: record.CodecZstd}, baseTs, kvs(fmt.Sprintf("k%d", i%10), fmt.Sprintf("w%d", i)))
			if _, err := appendBatch(l, b, 1); err != nil {
				errc <- err
				return
			}
		}
	}()
	runs := 0
	deadline := time.Now().Add(10 * time.Second)
	for runs < 5 && time.Now().Before(deadline) {
		st, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), l.LogEndOffset())
		if err != nil {
			t.Error(err)
			break
		}
		if st.Ran && !st.Aborted && st.SegmentsWritten > 0 {
			runs++
		}
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if runs == 0 || reads == 0 {
		t.Fatalf("%d compaction runs, %d full reads: want both", runs, reads)
	}
	// A last run over everything appended: below its end every key appears once.
	rollLog(t, l)
	st, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), l.LogEndOffset())
	if err != nil || !st.Ran || st.Aborted {
		t.Fatalf("last compact: %+v, %v", st, err)
	}
	got, _ := readRecords(t, l)
	seen := map[string]bool{}
	for _, r := range got {
		if r.offset >= st.EndOffset {
			break
		}
		if seen[r.key] {
			t.Fatalf("key %s kept twice below %d", r.key, st.EndOffset)
		}
		seen[r.key] = true
	}
	if len(seen) != 10 {
		t.Fatalf("%d keys below %d, want 10", len(seen), st.EndOffset)
	}
}

func TestCloseStopsCompaction(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	fillKeyed(t, l, record.CodecNone, 300, 10)
	closed := make(chan error, 1)
	l.cleaner.swapHook = func(stage string) error {
		if stage == "cleaned" {
			go func() { closed <- l.Close() }()
			// Close waits for this run; the run must see the stop at its swap.
			deadline := time.Now().Add(10 * time.Second)
			for !l.cleaner.stopped() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	}
	st, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), l.LogEndOffset())
	if err != nil || !st.Aborted {
		t.Fatalf("compact: %+v, %v: want aborted by close", st, err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(time.UnixMilli(baseTs), forceConfig(), 1<<40); !errors.Is(err, ErrClosed) {
		t.Fatalf("compact after close: %v", err)
	}
}

func TestCompactOffsetMapFull(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	for i := 0; i < 600; i += 3 {
		var recs []kv
		for j := i; j < i+3; j++ {
			recs = append(recs, kv{[]byte(fmt.Sprintf("k%d", j/60)), []byte(fmt.Sprintf("v%d", j))})
		}
		mustAppend(t, l, keyedBatch(t, batchOpts{codec: record.CodecSnappy}, baseTs+int64(i), recs), 1)
	}
	before, _ := readRecords(t, l)
	cleanEnd := activeBase(l)
	cfg := forceConfig()
	cfg.MaxMapEntries = 4
	var ends []int64
	for range 10 {
		st, err := l.Compact(time.UnixMilli(baseTs), cfg, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if !st.Ran {
			break
		}
		ends = append(ends, st.EndOffset)
		got, _ := readRecords(t, l)
		checkLatestPerKey(t, got, before)
	}
	if len(ends) < 2 || ends[0] >= cleanEnd || ends[len(ends)-1] != cleanEnd {
		t.Fatalf("runs ended at %v: want several, the last at %d", ends, cleanEnd)
	}
	got, _ := readRecords(t, l)
	sameRecords(t, got, expectCompacted(before, cleanEnd, false))
}

func TestFollowerAcceptsCompactedBatches(t *testing.T) {
	leader := openLog(t, t.TempDir(), testConfig())
	defer leader.Close()
	fillKeyed(t, leader, record.CodecGzip, 300, 10)
	if _, err := leader.Compact(time.UnixMilli(baseTs), forceConfig(), leader.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	want, _ := readRecords(t, leader)
	follower := openLog(t, t.TempDir(), testConfig())
	defer follower.Close()
	for off := ids.Offset(0); off < leader.LogEndOffset(); {
		rr, err := leader.Read(off, 1<<20, leader.LogEndOffset(), true)
		if err != nil {
			t.Fatal(err)
		}
		buf, err := rr.AppendTo(nil)
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := follower.AppendAsFollower(buf); err != nil {
			t.Fatalf("follower append at %d: %v", off, err)
		}
		off = follower.LogEndOffset()
	}
	got, _ := readRecords(t, follower)
	sameRecords(t, got, want)
	// A compacted batch is still refused when its CRC is wrong.
	b := keyedBatch(t, batchOpts{}, baseTs, kvs("a", "1"))
	b[len(b)-1] ^= 1
	if _, err := validateStored(b); err == nil {
		t.Fatal("validateStored accepted a bad CRC")
	}
}

// TestCompactionLag: min.compaction.lag.ms keeps segments holding a
// record newer than the lag out of compaction; max.compaction.lag.ms makes
// compaction due, whatever the dirty ratio, once the first dirty batch is
// older than the lag.
func TestCompactionLag(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	t.Run("min", func(t *testing.T) {
		l := openLog(t, t.TempDir(), testConfig())
		defer l.Close()
		fillKeyed(t, l, record.CodecNone, 300, 10)
		rollLog(t, l)
		cfg := forceConfig()
		cfg.MinCompactionLagMs = hour
		early := time.UnixMilli(baseTs + 1000)
		if l.CompactionDue(early, cfg, l.LogEndOffset()) {
			t.Fatal("compaction due for records younger than min.compaction.lag.ms")
		}
		if st, err := l.Compact(early, cfg, l.LogEndOffset()); err != nil || st.Ran {
			t.Fatalf("compact within the lag: %+v, %v", st, err)
		}
		late := time.UnixMilli(baseTs + 2*hour)
		if st, err := l.Compact(late, cfg, l.LogEndOffset()); err != nil || !st.Ran || st.RecordsRemoved == 0 {
			t.Fatalf("compact after the lag: %+v, %v", st, err)
		}
	})
	t.Run("max", func(t *testing.T) {
		l := openLog(t, t.TempDir(), testConfig())
		defer l.Close()
		fillKeyed(t, l, record.CodecNone, 300, 10)
		rollLog(t, l)
		cfg := DefaultCompactConfig()
		cfg.MinCleanableDirtyRatio = 1 // never due by the ratio alone
		cfg.MaxCompactionLagMs = hour
		if l.CompactionDue(time.UnixMilli(baseTs+1000), cfg, l.LogEndOffset()) {
			t.Fatal("compaction due before max.compaction.lag.ms with the ratio at 1")
		}
		late := time.UnixMilli(baseTs + 2*hour)
		if !l.CompactionDue(late, cfg, l.LogEndOffset()) {
			t.Fatal("compaction not due with a dirty batch older than max.compaction.lag.ms")
		}
		if st, err := l.Compact(late, cfg, l.LogEndOffset()); err != nil || !st.Ran || st.RecordsRemoved == 0 {
			t.Fatalf("compact after max.compaction.lag.ms: %+v, %v", st, err)
		}
	})
}

// TestCompactConfigOf: a topic's compaction configs reach the cleaner.
func TestCompactConfigOf(t *testing.T) {
	tc := config.Default().Log.TopicConfig()
	tc.MinCleanableDirtyRatio, tc.DeleteRetention = 0.3, 9*time.Second
	tc.MinCompactionLag, tc.MaxCompactionLag = 5*time.Second, 7*time.Second
	c := CompactConfigOf(tc)
	if c.MinCleanableDirtyRatio != 0.3 || c.DeleteRetentionMs != 9000 || c.MinCompactionLagMs != 5000 || c.MaxCompactionLagMs != 7000 {
		t.Fatalf("CompactConfigOf: %+v", c)
	}
	// Kafka's defaults: no minimum lag, no maximum ("never").
	if d := DefaultCompactConfig(); d.MinCompactionLagMs != 0 || d.MaxCompactionLagMs < 1<<62/int64(time.Millisecond) {
		t.Fatalf("defaults: %+v", d)
	}
}
