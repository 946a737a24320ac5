package clients_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/testkit"
)

// The partition side of transactions, driven the way a transaction
// coordinator drives it: producers write transactional batches with the
// producer ids InitProducerId gives them, and WriteTxnMarkers (sent here
// with kmsg, standing in for the coordinator) commits or aborts their
// transactions. Real consumers read the topic with read_committed. No
// coordinator knows these transactions, so the brokers do not verify them
// with one (transaction.partition.verification.enable=false).

func startTxnDataBroker(t *testing.T) *testkit.Broker {
	return testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) { c.TransactionPartitionVerification = false }))
}

// fetchCommitted fetches partition 0 from offset with read_committed.
func fetchCommitted(t *testing.T, cl *kgo.Client, topic string, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.IsolationLevel, req.MaxBytes, req.MaxWaitMillis, req.ReplicaID = 1, 1<<20, 0, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("Fetch: %v %+v", err, resp)
	}
	return resp.Topics[0].Partitions[0]
}

// txnScenario writes, to partition 0 of a new topic: plain records, an
// aborted transaction of producer A interleaved with a committed one of
// producer B, and a last plain record "end". It checks the last stable
// offset on the way, and returns the topic and the values a read_committed
// consumer must see, in order.
func txnScenario(t *testing.T, addr string) (topic string, want []string) {
	topic = testkit.TopicName(t, "")
	testkit.CreateTopic(t, addr, topic, 1, nil)
	cl := testkit.NewRawClient(t, addr)
	a, b := testkit.InitTxnProducer(t, cl, "txn-a"), testkit.InitTxnProducer(t, cl, "txn-b")
	plain := testkit.InitTxnProducer(t, cl, "txn-plain")
	check := func(what string, code int16) {
		t.Helper()
		if code != 0 {
			t.Fatalf("%s: %v", what, kerr.ErrorForCode(code))
		}
	}
	code, _ := plain.Produce(t, cl, topic, 0, true, "p0", "p1")
	check("plain produce", code)
	code, aFirst := a.Produce(t, cl, topic, 0, false, "a0", "a1")
	check("txn a", code)
	code, _ = b.Produce(t, cl, topic, 0, false, "b0")
	check("txn b", code)
	code, _ = a.Produce(t, cl, topic, 0, false, "a2")
	check("txn a", code)
	code, _ = b.Produce(t, cl, topic, 0, false, "b1", "b2")
	check("txn b", code)

	// Both transactions open: read_committed stops at A's first offset.
	hw := testkit.ListLatest(t, cl, topic, 0, 0)
	if lso := testkit.ListLatest(t, cl, topic, 0, 1); lso != aFirst || hw != aFirst+6 {
		t.Fatalf("open transactions: ListOffsets read_committed %d, read_uncommitted %d; want %d, %d", lso, hw, aFirst, aFirst+6)
	}
	fp := fetchCommitted(t, cl, topic, 0)
	if fp.LastStableOffset != aFirst || fp.HighWatermark != hw {
		t.Fatalf("fetch: LSO %d HW %d, want %d %d", fp.LastStableOffset, fp.HighWatermark, aFirst, hw)
	}

	// A plain batch from A inside its transaction: INVALID_TXN_STATE.
	if code, _ := a.Produce(t, cl, topic, 0, true, "x"); code != kerr.InvalidTxnState.Code {
		t.Fatalf("plain batch inside a transaction: %v", kerr.ErrorForCode(code))
	}

	// The coordinator aborts A, commits B.
	if codes := testkit.WriteTxnMarker(t, cl, a, a.Epoch, false, topic, 0); !slices.Equal(codes, []int16{0}) {
		t.Fatalf("abort marker: %v", codes)
	}
	if lso := testkit.ListLatest(t, cl, topic, 0, 1); lso != aFirst+2 {
		t.Fatalf("after the abort of A: LSO %d, want B's first offset %d", lso, aFirst+2)
	}
	if codes := testkit.WriteTxnMarker(t, cl, b, b.Epoch, true, topic, 0); !slices.Equal(codes, []int16{0}) {
		t.Fatalf("commit marker: %v", codes)
	}
	code, _ = plain.Produce(t, cl, topic, 0, true, "end")
	check("plain produce", code)
	hw = testkit.ListLatest(t, cl, topic, 0, 0)
	if lso := testkit.ListLatest(t, cl, topic, 0, 1); lso != hw {
		t.Fatalf("all decided: LSO %d, HW %d", lso, hw)
	}
	fp = fetchCommitted(t, cl, topic, 0)
	if len(fp.AbortedTransactions) != 1 || fp.AbortedTransactions[0].ProducerID != a.PID || fp.AbortedTransactions[0].FirstOffset != aFirst {
		t.Fatalf("aborted transactions %+v, want producer %d from %d", fp.AbortedTransactions, a.PID, aFirst)
	}
	// "end" is at offset 10, after the two markers.
	return topic, []string{"p0", "p1", "b0", "b1", "b2", "end"}
}

// TestTxnReadCommittedFranzGo: a franz-go read_committed consumer sees the
// committed transaction and never the aborted one; a read_uncommitted one
// sees both.
func TestTxnReadCommittedFranzGo(t *testing.T) {
	b := startTxnDataBroker(t)
	topic, want := txnScenario(t, b.Addr())
	if got := testkit.ConsumeValues(t, b.Addr(), topic, 0, true, 10); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
	all := []string{"p0", "p1", "a0", "a1", "b0", "a2", "b1", "b2", "end"}
	if got := testkit.ConsumeValues(t, b.Addr(), topic, 0, false, 10); !slices.Equal(got, all) {
		t.Fatalf("read_uncommitted: %v, want %v", got, all)
	}
}

// TestTxnDataErrors: Kafka's answers to bad transactional input on the
// partition side.
func TestTxnDataErrors(t *testing.T) {
	b := startTxnDataBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := testkit.NewRawClient(t, b.Addr())
	p := testkit.InitTxnProducer(t, cl, "txn-err")

	// Transactional records without a transactional id.
	recs := []record.Record{{Key: []byte("k"), Value: []byte("v")}}
	batch, err := record.AppendBatch(nil, record.BatchOptions{ProducerID: p.PID, ProducerEpoch: p.Epoch, BaseSequence: 0, Transactional: true}, recs)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := testkit.ProduceRaw(t, cl, nil, topic, 0, batch); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("transactional batch without transactional id: %v", kerr.ErrorForCode(code))
	}
	// A control batch from a client.
	ctl := record.AppendMarkerBatch(nil, p.PID, p.Epoch, time.Now().UnixMilli(), record.Marker{Type: record.ControlCommit})
	if code, _ := testkit.ProduceRaw(t, cl, &p.TxnID, topic, 0, ctl); code != kerr.InvalidRecord.Code {
		t.Errorf("control batch from a client: %v", kerr.ErrorForCode(code))
	}
	// A transaction, fenced by a marker of a newer epoch (the coordinator
	// bumped it when a new producer took the transactional id).
	if code, _ := p.Produce(t, cl, topic, 0, false, "zombie"); code != 0 {
		t.Fatalf("transactional produce: %v", kerr.ErrorForCode(code))
	}
	if codes := testkit.WriteTxnMarker(t, cl, p, p.Epoch+1, false, topic, 0); !slices.Equal(codes, []int16{0}) {
		t.Fatalf("fencing abort: %v", codes)
	}
	if code, _ := p.Produce(t, cl, topic, 0, false, "zombie"); code != kerr.InvalidProducerEpoch.Code {
		t.Errorf("write of the fenced epoch: %v", kerr.ErrorForCode(code))
	}
	if codes := testkit.WriteTxnMarker(t, cl, p, p.Epoch, true, topic, 0); !slices.Equal(codes, []int16{kerr.InvalidProducerEpoch.Code}) {
		t.Errorf("marker of the fenced epoch: %v", codes)
	}
	// Transactional batches of two producers in one request.
	two := testkit.TopicName(t, "two")
	testkit.CreateTopic(t, b.Addr(), two, 2, nil)
	q := testkit.InitTxnProducer(t, cl, p.TxnID)
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 30000, &p.TxnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = two
	for i, pr := range []*testkit.TxnProducer{p, q} {
		batch, err := record.AppendBatch(nil, record.BatchOptions{ProducerID: pr.PID, ProducerEpoch: pr.Epoch + 1, BaseSequence: 0, Transactional: true}, recs)
		if err != nil {
			t.Fatal(err)
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = int32(i), batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range resp.Topics[0].Partitions {
		if sp.ErrorCode != kerr.InvalidProducerIDMapping.Code {
			t.Errorf("two producers in one request, partition %d: %v", sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
		}
	}
	// Partitions that do not exist here.
	if codes := testkit.WriteTxnMarker(t, cl, p, p.Epoch+1, true, topic, 5); !slices.Equal(codes, []int16{kerr.UnknownTopicOrPartition.Code}) {
		t.Errorf("marker for a missing partition: %v", codes)
	}
	if codes := testkit.WriteTxnMarker(t, cl, p, p.Epoch+1, true, "no-such-"+strings.ToLower(fmt.Sprint(time.Now().UnixNano())), 0); !slices.Equal(codes, []int16{kerr.UnknownTopicOrPartition.Code}) {
		t.Errorf("marker for a missing topic: %v", codes)
	}
}

// TestTxnDescribeProducers: kadm's DescribeProducers (what
// kafka-transactions.sh describe-producers and find-hanging read) lists
// each producer of a partition with its open transaction's start offset.
func TestTxnDescribeProducers(t *testing.T) {
	b := startTxnDataBroker(t)
	topic, _ := txnScenario(t, b.Addr())
	cl := testkit.NewRawClient(t, b.Addr())
	c := testkit.InitTxnProducer(t, cl, "txn-c")
	code, cFirst := c.Produce(t, cl, topic, 0, false, "c0", "c1")
	if code != 0 {
		t.Fatalf("txn c: %v", kerr.ErrorForCode(code))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	described, err := kadm.NewClient(cl).DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("DescribeProducers: %v", err)
	}
	var got []kadm.DescribedProducer
	for _, dt := range described {
		for _, dp := range dt.Partitions {
			if dp.Err != nil {
				t.Fatalf("DescribeProducers %s-%d: %v", dp.Topic, dp.Partition, dp.Err)
			}
		}
		got = append(got, dt.Partitions.SortedProducers()...)
	}
	// txnScenario's producers (plain, a: aborted, b: committed) and c.
	if len(got) != 4 {
		t.Fatalf("%d producers, want 4: %+v", len(got), got)
	}
	open, ended := 0, 0
	for _, p := range got {
		switch {
		case p.CurrentTxnStartOffset >= 0:
			open++
			if p.ProducerID != c.PID || p.CurrentTxnStartOffset != cFirst || p.LastSequence != 1 || p.CoordinatorEpoch != -1 {
				t.Errorf("open transaction: %+v, want producer %d from %d, last sequence 1", p, c.PID, cFirst)
			}
		case p.CoordinatorEpoch == 1: // a and b: their marker's coordinator epoch
			ended++
			if p.LastSequence != 2 {
				t.Errorf("producer %+v: want last sequence 2", p)
			}
		}
	}
	if open != 1 || ended != 2 {
		t.Errorf("%d open and %d ended transactions, want 1 and 2: %+v", open, ended, got)
	}
}

// TestTxnReadCommittedKcat: kcat (librdkafka) with
// isolation.level=read_committed reads the committed transaction only, to
// the end of the partition (-e stops at the last stable offset).
func TestTxnReadCommittedKcat(t *testing.T) {
	bin := kcatPath(t)
	b := startTxnDataBroker(t)
	topic, want := txnScenario(t, b.Addr())
	out := runKcat(t, bin, nil, "-b", b.Addr(), "-C", "-e", "-t", topic, "-p", "0", "-o", "beginning",
		"-X", "isolation.level=read_committed", "-f", "%s\n")
	if got := strings.Fields(out); !slices.Equal(got, want) {
		t.Fatalf("kcat read_committed: %q, want %v", out, want)
	}
}
