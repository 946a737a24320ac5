package txn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/testkit"
)

// waitState polls DescribeTransactions until id's state satisfies ok.
func waitState(t *testing.T, cl *kgo.Client, id string, ok func(kadm.DescribedTransaction) bool) kadm.DescribedTransaction {
	t.Helper()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := adm.DescribeTransactions(ctxFor(t), id)
		var d kadm.DescribedTransaction
		if err == nil {
			d = ds[id]
			if d.Err == nil && ok(d) {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction %s: %+v (%v)", id, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTimedOutTransactionAborted: an ongoing transaction past its timeout
// is aborted by the coordinator under a bumped epoch, which fences its
// producer.
func TestTimedOutTransactionAborted(t *testing.T) {
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.TransactionStatePartitions = 3
		c.TransactionAbortInterval = 50 * time.Millisecond
	}))
	cl := testkit.NewClient(t, b.Addr())
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	p := initPID(t, cl, "slow", 300, 4)
	if p.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if c := partitionCodes(addPartitions(t, cl, "slow", p.ProducerID, p.ProducerEpoch, topic, 0)); c[0] != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", c)
	}
	want := "PrepareAbort" // the markers need the data plane
	if _, ok := handler.Lookup(kmsg.WriteTxnMarkers); ok {
		want = "CompleteAbort"
	}
	d := waitState(t, cl, "slow", func(d kadm.DescribedTransaction) bool { return d.State == want })
	if d.ProducerEpoch != p.ProducerEpoch+1 {
		t.Fatalf("aborted at epoch %d, want %d", d.ProducerEpoch, p.ProducerEpoch+1)
	}
	wantCode(t, "EndTxn of the timed-out producer", endTxn(t, cl, "slow", p.ProducerID, p.ProducerEpoch, true).ErrorCode, kerr.ProducerFenced)
}

// TestPreparedCommitSurvivesRestart: a transaction whose PrepareCommit is
// durable is found by the coordinator that loads it after a clean restart,
// and its EndTxn retry is answered. The shutdown may let the markers out
// first; the kill between PrepareCommit and the markers, with the markers
// written after the restart and read_committed readers seeing the records,
// is test/crash's TestKillBetweenPrepareCommitAndMarkers.
func TestPreparedCommitSurvivesRestart(t *testing.T) {
	b := startBroker(t)
	cl := versionedClient(t, b.Addr(), 4) // transactions v1: EndTxn keeps the epoch
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 2, nil)
	p := initPID(t, cl, "crash", 60000, 4)
	if c := partitionCodes(addPartitions(t, cl, "crash", p.ProducerID, p.ProducerEpoch, topic, 0, 1)); c[0] != 0 || c[1] != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", c)
	}
	if code := endTxn(t, cl, "crash", p.ProducerID, p.ProducerEpoch, true).ErrorCode; code != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
	}
	b.Restart(t)
	cl2 := versionedClient(t, b.Addr(), 4)
	_, dataPlane := handler.Lookup(kmsg.WriteTxnMarkers)
	d := waitState(t, cl2, "crash", func(d kadm.DescribedTransaction) bool {
		return d.State == "CompleteCommit" || (!dataPlane && d.State == "PrepareCommit")
	})
	if d.ProducerID != p.ProducerID || d.ProducerEpoch != p.ProducerEpoch {
		t.Fatalf("after restart: %+v", d)
	}
	// The commit's retry is answered as Kafka does: done, or still in progress.
	code := endTxn(t, cl2, "crash", p.ProducerID, p.ProducerEpoch, true).ErrorCode
	if code != 0 && !errors.Is(kerr.ErrorForCode(code), kerr.ConcurrentTransactions) {
		t.Fatalf("EndTxn retry after restart: %v", kerr.ErrorForCode(code))
	}
}

// TestEndTxnV5BumpsEpoch: EndTxn v5 (transactions v2, KIP-890 part 2)
// bumps the producer epoch with every end and answers the producer id and
// epoch to continue with; the old epoch is fenced.
func TestEndTxnV5BumpsEpoch(t *testing.T) {
	b := startBroker(t)
	cl := testkit.NewClient(t, b.Addr()) // sends EndTxn v5
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	p := initPID(t, cl, "tv2", 60000, 5)
	if c := partitionCodes(addPartitions(t, cl, "tv2", p.ProducerID, p.ProducerEpoch, topic, 0)); c[0] != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", c)
	}
	resp := endTxn(t, cl, "tv2", p.ProducerID, p.ProducerEpoch, true)
	if resp.Version < 5 || resp.ErrorCode != 0 || resp.ProducerID != p.ProducerID || resp.ProducerEpoch != p.ProducerEpoch+1 {
		t.Fatalf("EndTxn v%d: %v, producer %d epoch %d; want %d/%d", resp.Version, kerr.ErrorForCode(resp.ErrorCode),
			resp.ProducerID, resp.ProducerEpoch, p.ProducerID, p.ProducerEpoch+1)
	}
	// The same end retried with the old epoch is the same end.
	if code := endTxn(t, cl, "tv2", p.ProducerID, p.ProducerEpoch, true).ErrorCode; code != 0 && code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("EndTxn v5 retry: %v", kerr.ErrorForCode(code))
	}
	if _, ok := handler.Lookup(kmsg.WriteTxnMarkers); !ok {
		return // the next transaction waits for the markers
	}
	waitState(t, cl, "tv2", func(d kadm.DescribedTransaction) bool { return d.State == "CompleteCommit" })
	wantCode(t, "AddPartitionsToTxn with the epoch before the bump",
		partitionCodes(addPartitions(t, cl, "tv2", p.ProducerID, p.ProducerEpoch, topic, 0))[0], kerr.ProducerFenced)
	if c := partitionCodes(addPartitions(t, cl, "tv2", resp.ProducerID, resp.ProducerEpoch, topic, 0)); c[0] != 0 {
		t.Fatalf("AddPartitionsToTxn with the new epoch: %v", c)
	}
}
