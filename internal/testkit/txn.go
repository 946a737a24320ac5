package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strom-broker/strom/internal/record"
)

// Helpers that drive the partition side of transactions the way a
// transaction coordinator does: producers write transactional batches with
// producer ids from InitProducerId, and WriteTxnMarkers (sent with kmsg,
// standing in for the coordinator) commits or aborts their transactions.

// NewRawClient is a client for hand-built requests: Fetch stays below
// v13, which names topics by id, and Produce below v12, whose
// transactional batches add their partition through the coordinator
// (transactions v2), which these producers, standing in for one, do not
// have. WriteTxnMarker sends to addr.
func NewRawClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Produce.Int16(), 11)
	v.SetMaxKeyVersion(kmsg.Fetch.Int16(), 12)
	return NewClient(t, addr, append([]kgo.Opt{kgo.MaxVersions(v)}, opts...)...)
}

// TxnProducer writes transactional batches of one producer id.
type TxnProducer struct {
	PID   int64
	Epoch int16
	Seq   int32
	TxnID string
}

// InitTxnProducer gets a producer id (InitProducerId without a
// transactional id); txnID is what its produce requests carry.
func InitTxnProducer(t testing.TB, cl *kgo.Client, txnID string) *TxnProducer {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v, %+v", err, resp)
	}
	return &TxnProducer{PID: resp.ProducerID, Epoch: resp.ProducerEpoch, TxnID: txnID}
}

// Produce writes one batch of values to topic/partition, transactional
// unless plain, and returns the error code and the base offset.
func (p *TxnProducer) Produce(t testing.TB, cl *kgo.Client, topic string, partition int32, plain bool, values ...string) (int16, int64) {
	t.Helper()
	recs := make([]record.Record, len(values))
	for i, v := range values {
		recs[i] = record.Record{Key: []byte("k"), Value: []byte(v)}
	}
	b, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: p.PID,
		ProducerEpoch: p.Epoch, BaseSequence: p.Seq, Transactional: !plain}, recs)
	if err != nil {
		t.Fatal(err)
	}
	code, base := ProduceRaw(t, cl, &p.TxnID, topic, partition, b)
	if code == 0 {
		p.Seq += int32(len(values))
	}
	return code, base
}

// ProduceRaw sends one batch with acks=all, retrying retriable errors (a
// leader not yet known to the client, say) for up to 30s as a producer
// would.
func ProduceRaw(t testing.TB, cl *kgo.Client, txnID *string, topic string, partition int32, batch []byte) (int16, int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, base := produceOnce(t, cl, txnID, topic, partition, batch)
		if code == 0 || !kerr.IsRetriable(kerr.ErrorForCode(code)) || time.Now().After(deadline) {
			return code, base
		}
		cl.ForceMetadataRefresh()
		time.Sleep(100 * time.Millisecond)
	}
}

func produceOnce(t testing.TB, cl *kgo.Client, txnID *string, topic string, partition int32, batch []byte) (int16, int64) {
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

// WriteTxnMarker ends producer p's transaction (at epoch) on topic's
// partitions and returns the partitions' error codes.
func WriteTxnMarker(t testing.TB, cl *kgo.Client, p *TxnProducer, epoch int16, commit bool, topic string, partitions ...int32) []int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = p.PID, epoch, commit, 1
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
	var codes []int16
	for _, st := range kresp.(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics {
		for _, sp := range st.Partitions {
			codes = append(codes, sp.ErrorCode)
		}
	}
	return codes
}

// ListLatest answers ListOffsets latest for topic/partition at isolation
// level iso (0 read_uncommitted, 1 read_committed).
func ListLatest(t testing.TB, cl *kgo.Client, topic string, partition int32, iso int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = iso
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

// ConsumeValues reads topic/partition from the start with a franz-go
// consumer (read_committed when committed) until it has seen a record at
// or past offset last, and returns the values of the records read.
func ConsumeValues(t testing.TB, addr, topic string, partition int32, committed bool, last int64) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := NewClient(t, addr, kgo.FetchIsolationLevel(iso),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for seen := int64(-1); seen < last; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %v, not up to offset %d, before the deadline", got, last)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, string(r.Value))
			seen = r.Offset
		})
	}
	return got
}
