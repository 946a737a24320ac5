package crash_test

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestKillWithOpenTransaction SIGKILLs the broker while a transaction is
// open on a partition (its batches acknowledged, no marker yet), and
// another was aborted. After the restart the partition rebuilds its
// transactions from the log: the last stable offset still stops at the
// open transaction's first offset, and moves only when the coordinator's
// marker arrives; read_committed fetches still learn of the aborted one.
func TestKillWithOpenTransaction(t *testing.T) {
	// The test stands in for the coordinator: no verification with one.
	proc := testkit.StartProcess(t, testkit.ProcessOptions{Env: []string{"STROM_TRANSACTION_PARTITION_VERIFICATION_ENABLE=false"}})
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, proc.Addr(), topic, 1, nil)
	cl := testkit.NewRawClient(t, proc.Addr())
	check := func(what string, code int16) {
		t.Helper()
		if code != 0 {
			t.Fatalf("%s: %v", what, kerr.ErrorForCode(code))
		}
	}
	open, aborted := testkit.InitTxnProducer(t, cl, "txn-open"), testkit.InitTxnProducer(t, cl, "txn-aborted")
	code, _ := aborted.Produce(t, cl, topic, 0, false, "x0", "x1") // 0-1
	check("aborted txn", code)
	code, first := open.Produce(t, cl, topic, 0, false, "o0") // 2
	check("open txn", code)
	check("abort", testkit.WriteTxnMarker(t, cl, aborted, aborted.Epoch, false, topic, 0)[0]) // 3
	code, _ = open.Produce(t, cl, topic, 0, false, "o1", "o2")                                // 4-5
	check("open txn", code)
	if lso := testkit.ListLatest(t, cl, topic, 0, 1); lso != first {
		t.Fatalf("before the kill: LSO %d, want %d", lso, first)
	}

	proc.Kill(t)
	proc.Restart(t)
	cl = testkit.NewRawClient(t, proc.Addr())
	hw := testkit.ListLatest(t, cl, topic, 0, 0)
	if lso := testkit.ListLatest(t, cl, topic, 0, 1); lso != first || hw != 6 {
		t.Fatalf("after the restart: LSO %d, HW %d; want %d, 6", lso, hw, first)
	}
	// The producer goes on with its transaction; the coordinator commits.
	code, _ = open.Produce(t, cl, topic, 0, false, "o3") // 6
	check("open txn after restart", code)
	if codes := testkit.WriteTxnMarker(t, cl, open, open.Epoch, true, topic, 0); !slices.Equal(codes, []int16{0}) {
		t.Fatalf("commit: %v", codes)
	}
	hw = testkit.ListLatest(t, cl, topic, 0, 0)
	if lso := testkit.ListLatest(t, cl, topic, 0, 1); lso != hw || hw != 8 {
		t.Fatalf("after the commit: LSO %d, HW %d; want 8, 8", lso, hw)
	}
	got := testkit.ConsumeValues(t, proc.Addr(), topic, 0, true, 6)
	if want := []string{"o0", "o1", "o2", "o3"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed after the restart: %v, want %v", got, want)
	}
}
