package clients_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/testkit"
)

// The partition side of transactions, driven the way a transaction
// coordinator drives it: producers write transactional batches with the
// producer ids InitProducerId gives them, and WriteTxnMarkers (sent here
// with kmsg, standing in for the coordinator) commits or aborts their
// transactions. Real consumers read the topic with read_committed.

// rawClient is a client for hand-built requests: Produce and Fetch stay
// below v13, which name topics by id.
func rawClient(t *testing.T, addr string) *kgo.Client {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Produce.Int16(), 12)
	v.SetMaxKeyVersion(kmsg.Fetch.Int16(), 12)
	return testkit.NewClient(t, addr, kgo.MaxVersions(v))
}

// txnProducer writes transactional batches of one producer id.
type txnProducer struct {
	pid   int64
	epoch int16
	seq   int32
	txnID string
}

func initProducer(t *testing.T, cl *kgo.Client, txnID string) *txnProducer {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v, code %d", err, resp.ErrorCode)
	}
	return &txnProducer{pid: resp.ProducerID, epoch: resp.ProducerEpoch, txnID: txnID}
}

// produceTxn writes one batch of values to topic/partition; transactional
// unless plain. It returns the error code and the base offset.
func (p *txnProducer) produce(t *testing.T, cl *kgo.Client, topic string, partition int32, plain bool, values ...string) (int16, int64) {
	t.Helper()
	recs := make([]record.Record, len(values))
	for i, v := range values {
		recs[i] = record.Record{Key: []byte("k"), Value: []byte(v)}
	}
	b, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: p.pid,
		ProducerEpoch: p.epoch, BaseSequence: p.seq, Transactional: !plain}, recs)
	if err != nil {
		t.Fatal(err)
	}
	code, base := produceRaw(t, cl, &p.txnID, topic, partition, b)
	if code == 0 {
		p.seq += int32(len(values))
	}
	return code, base
}

func produceRaw(t *testing.T, cl *kgo.Client, txnID *string, topic string, partition int32, batch []byte) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 30000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	sp := resp.Topics[0].Partitions[0]
	return sp.ErrorCode, sp.BaseOffset
}

// writeMarker ends producer p's transaction on topic's partitions.
func writeMarker(t *testing.T, cl *kgo.Client, p *txnProducer, epoch int16, commit bool, topic string, partitions ...int32) []int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = p.pid, epoch, commit, 1
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, partitions
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	// Straight to the broker, as the coordinator sends it: kgo would
	// route the request by the partitions' leaders.
	kresp, err := cl.SeedBrokers()[0].Request(context.Background(), req)
	if err != nil {
		t.Fatalf("WriteTxnMarkers: %v", err)
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	var codes []int16
	for _, st := range resp.Markers[0].Topics {
		for _, sp := range st.Partitions {
			codes = append(codes, sp.ErrorCode)
		}
	}
	return codes
}

func listOffset(t *testing.T, cl *kgo.Client, topic string, partition int32, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v %+v", err, resp)
	}
	return resp.Topics[0].Partitions[0].Offset
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
	cl := rawClient(t, addr)
	a, b := initProducer(t, cl, "txn-a"), initProducer(t, cl, "txn-b")
	plain := initProducer(t, cl, "txn-plain")
	check := func(what string, code int16) {
		t.Helper()
		if code != 0 {
			t.Fatalf("%s: %v", what, kerr.ErrorForCode(code))
		}
	}
	code, _ := plain.produce(t, cl, topic, 0, true, "p0", "p1")
	check("plain produce", code)
	code, aFirst := a.produce(t, cl, topic, 0, false, "a0", "a1")
	check("txn a", code)
	code, _ = b.produce(t, cl, topic, 0, false, "b0")
	check("txn b", code)
	code, _ = a.produce(t, cl, topic, 0, false, "a2")
	check("txn a", code)
	code, _ = b.produce(t, cl, topic, 0, false, "b1", "b2")
	check("txn b", code)

	// Both transactions open: read_committed stops at A's first offset.
	hw := listOffset(t, cl, topic, 0, 0)
	if lso := listOffset(t, cl, topic, 0, 1); lso != aFirst || hw != aFirst+6 {
		t.Fatalf("open transactions: ListOffsets read_committed %d, read_uncommitted %d; want %d, %d", lso, hw, aFirst, aFirst+6)
	}
	fp := fetchCommitted(t, cl, topic, 0)
	if fp.LastStableOffset != aFirst || fp.HighWatermark != hw {
		t.Fatalf("fetch: LSO %d HW %d, want %d %d", fp.LastStableOffset, fp.HighWatermark, aFirst, hw)
	}

	// A plain batch from A inside its transaction: INVALID_TXN_STATE.
	if code, _ := a.produce(t, cl, topic, 0, true, "x"); code != kerr.InvalidTxnState.Code {
		t.Fatalf("plain batch inside a transaction: %v", kerr.ErrorForCode(code))
	}

	// The coordinator aborts A, commits B.
	if codes := writeMarker(t, cl, a, a.epoch, false, topic, 0); !slices.Equal(codes, []int16{0}) {
		t.Fatalf("abort marker: %v", codes)
	}
	if lso := listOffset(t, cl, topic, 0, 1); lso != aFirst+2 {
		t.Fatalf("after the abort of A: LSO %d, want B's first offset %d", lso, aFirst+2)
	}
	if codes := writeMarker(t, cl, b, b.epoch, true, topic, 0); !slices.Equal(codes, []int16{0}) {
		t.Fatalf("commit marker: %v", codes)
	}
	code, _ = plain.produce(t, cl, topic, 0, true, "end")
	check("plain produce", code)
	hw = listOffset(t, cl, topic, 0, 0)
	if lso := listOffset(t, cl, topic, 0, 1); lso != hw {
		t.Fatalf("all decided: LSO %d, HW %d", lso, hw)
	}
	fp = fetchCommitted(t, cl, topic, 0)
	if len(fp.AbortedTransactions) != 1 || fp.AbortedTransactions[0].ProducerID != a.pid || fp.AbortedTransactions[0].FirstOffset != aFirst {
		t.Fatalf("aborted transactions %+v, want producer %d from %d", fp.AbortedTransactions, a.pid, aFirst)
	}
	return topic, []string{"p0", "p1", "b0", "b1", "b2", "end"}
}

// TestTxnReadCommittedFranzGo: a franz-go read_committed consumer sees the
// committed transaction and never the aborted one; a read_uncommitted one
// sees both.
func TestTxnReadCommittedFranzGo(t *testing.T) {
	b := testkit.StartBroker(t)
	topic, want := txnScenario(t, b.Addr())
	if got := consumeValuesFranz(t, b.Addr(), topic, kgo.ReadCommitted()); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
	all := []string{"p0", "p1", "a0", "a1", "b0", "a2", "b1", "b2", "end"}
	if got := consumeValuesFranz(t, b.Addr(), topic, kgo.ReadUncommitted()); !slices.Equal(got, all) {
		t.Fatalf("read_uncommitted: %v, want %v", got, all)
	}
}

// consumeValuesFranz reads partition 0 from the start until the record
// "end" and returns the values seen.
func consumeValuesFranz(t *testing.T, addr, topic string, iso kgo.IsolationLevel) []string {
	t.Helper()
	cl := testkit.NewClient(t, addr, kgo.FetchIsolationLevel(iso),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for !slices.Contains(got, "end") {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %v before the deadline, no \"end\"", got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestTxnDataErrors: Kafka's answers to bad transactional input on the
// partition side.
func TestTxnDataErrors(t *testing.T) {
	b := testkit.StartBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := rawClient(t, b.Addr())
	p := initProducer(t, cl, "txn-err")

	// Transactional records without a transactional id.
	recs := []record.Record{{Key: []byte("k"), Value: []byte("v")}}
	batch, err := record.AppendBatch(nil, record.BatchOptions{ProducerID: p.pid, ProducerEpoch: p.epoch, BaseSequence: 0, Transactional: true}, recs)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := produceRaw(t, cl, nil, topic, 0, batch); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("transactional batch without transactional id: %v", kerr.ErrorForCode(code))
	}
	// A control batch from a client.
	ctl := record.AppendMarkerBatch(nil, p.pid, p.epoch, time.Now().UnixMilli(), record.Marker{Type: record.ControlCommit})
	if code, _ := produceRaw(t, cl, &p.txnID, topic, 0, ctl); code != kerr.InvalidRecord.Code {
		t.Errorf("control batch from a client: %v", kerr.ErrorForCode(code))
	}
	// A transaction, fenced by a marker of a newer epoch (the coordinator
	// bumped it when a new producer took the transactional id).
	if code, _ := p.produce(t, cl, topic, 0, false, "zombie"); code != 0 {
		t.Fatalf("transactional produce: %v", kerr.ErrorForCode(code))
	}
	if codes := writeMarker(t, cl, p, p.epoch+1, false, topic, 0); !slices.Equal(codes, []int16{0}) {
		t.Fatalf("fencing abort: %v", codes)
	}
	if code, _ := p.produce(t, cl, topic, 0, false, "zombie"); code != kerr.InvalidProducerEpoch.Code {
		t.Errorf("write of the fenced epoch: %v", kerr.ErrorForCode(code))
	}
	if codes := writeMarker(t, cl, p, p.epoch, true, topic, 0); !slices.Equal(codes, []int16{kerr.InvalidProducerEpoch.Code}) {
		t.Errorf("marker of the fenced epoch: %v", codes)
	}
	// Partitions that do not exist here.
	if codes := writeMarker(t, cl, p, p.epoch+1, true, topic, 5); !slices.Equal(codes, []int16{kerr.UnknownTopicOrPartition.Code}) {
		t.Errorf("marker for a missing partition: %v", codes)
	}
	if codes := writeMarker(t, cl, p, p.epoch+1, true, "no-such-"+strings.ToLower(fmt.Sprint(time.Now().UnixNano())), 0); !slices.Equal(codes, []int16{kerr.UnknownTopicOrPartition.Code}) {
		t.Errorf("marker for a missing topic: %v", codes)
	}
}
