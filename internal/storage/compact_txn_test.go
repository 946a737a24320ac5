package storage

import (
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/record"
)

// TestCompactTransactions: the cleaner removes an aborted transaction's
// records (which supersede nothing), keeps each marker while a run still
// reads data of its transaction, then gives it a delete horizon and
// removes it once the horizon passed.
func TestCompactTransactions(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	marker := func(pid int64, typ record.ControlType) []byte {
		return record.AppendMarkerBatch(nil, pid, 0, baseTs, record.Marker{Type: typ, CoordinatorEpoch: 1})
	}
	txn := batchOpts{pid: 7, transactional: true}
	mustAppend(t, l, keyedBatch(t, txn, baseTs, kvs("a", "a-committed")), 1) // 0
	txn.pid = 8
	mustAppend(t, l, keyedBatch(t, txn, baseTs, kvs("a", "a-aborted")), 1) // 1
	mustAppend(t, l, marker(7, record.ControlCommit), 1)                   // 2
	mustAppend(t, l, marker(8, record.ControlAbort), 1)                    // 3
	if err := l.AddAbortedTxn(AbortedTxn{ProducerID: 8, FirstOffset: 1, LastOffset: 3, LastStableOffset: 4}); err != nil {
		t.Fatal(err)
	}
	// Later plain batches of both producers: neither transactional batch
	// is its producer's last (which compaction keeps for its sequence).
	mustAppend(t, l, keyedBatch(t, batchOpts{pid: 8, seq: 1}, baseTs, kvs("c", "c0")), 1) // 4
	mustAppend(t, l, keyedBatch(t, batchOpts{pid: 7, seq: 1}, baseTs, kvs("e", "e0")), 1) // 5
	rollLog(t, l)
	mustAppend(t, l, keyedBatch(t, batchOpts{}, baseTs, kvs("d", "d0")), 1)

	cfg := forceConfig()
	cfg.DeleteRetentionMs = 1000
	now := time.UnixMilli(baseTs + 5000)
	compact := func(at time.Time) {
		t.Helper()
		if st, err := l.Compact(at, cfg, l.LogEndOffset()); err != nil || !st.Ran || st.Aborted {
			t.Fatalf("compact: %+v, %v", st, err)
		}
	}
	// dirty adds a record and a segment, so a run is due.
	dirty := func(k, v string) {
		t.Helper()
		mustAppend(t, l, keyedBatch(t, batchOpts{}, baseTs, kvs(k, v)), 1)
		rollLog(t, l)
		mustAppend(t, l, keyedBatch(t, batchOpts{}, baseTs, kvs("z", v)), 1)
	}
	markers := func() map[int64]record.BatchHeader {
		t.Helper()
		_, hs := readRecords(t, l)
		out := map[int64]record.BatchHeader{}
		for _, h := range hs {
			if h.IsControl() {
				out[h.ProducerID] = h
			}
		}
		return out
	}
	values := func() map[string]string {
		t.Helper()
		recs, _ := readRecords(t, l)
		out := map[string]string{}
		for _, r := range recs {
			if r.offset != 2 && r.offset != 3 { // the markers' records
				out[r.key] = r.value
			}
		}
		return out
	}

	// Run 1: the aborted record goes and does not hide the committed one;
	// both markers stay as they are (their transactions had data).
	compact(now)
	if v := values(); v["a"] != "a-committed" {
		t.Fatalf("after run 1: %v, want a = a-committed", v)
	}
	m := markers()
	if len(m) != 2 || m[7].Attributes&attrDeleteHorizon != 0 || m[8].Attributes&attrDeleteHorizon != 0 {
		t.Fatalf("after run 1: markers %+v, want both, without a horizon", m)
	}

	// Run 2: a is superseded; the committed batch is read one last time.
	// The aborted transaction has no data left: its marker gets a horizon.
	dirty("a", "a2")
	compact(now.Add(10 * time.Millisecond))
	m = markers()
	if m[7].Attributes&attrDeleteHorizon != 0 || m[8].Attributes&attrDeleteHorizon == 0 || m[8].FirstTimestamp != now.UnixMilli()+10+1000 {
		t.Fatalf("after run 2: markers %+v", m)
	}
	// Run 3: the commit marker's transaction has no data left either.
	dirty("b", "b0")
	compact(now.Add(20 * time.Millisecond))
	m = markers()
	if m[7].Attributes&attrDeleteHorizon == 0 || m[7].FirstTimestamp != now.UnixMilli()+20+1000 {
		t.Fatalf("after run 3: markers %+v", m)
	}
	// Run 4, at both horizons (due by the horizon alone): both go.
	compact(now.Add(1020 * time.Millisecond))
	if m = markers(); len(m) != 0 {
		t.Fatalf("after the horizons: markers %+v, want none", m)
	}
	if v := values(); v["a"] != "a2" || v["c"] != "c0" || v["e"] != "e0" {
		t.Fatalf("after run 4: %v", v)
	}
}
