// Package txn_test runs transactional clients against a standalone Strom
// broker: franz-go (kgo.TransactionalID and raw kmsg requests), kadm's
// transaction admin calls and librdkafka (confluent-kafka-go).
//
// Tests that need transactional batches appended and COMMIT/ABORT markers
// written on partition leaders (the WriteTxnMarkers handler) call
// needDataPlane and are skipped until that handler is registered.
package txn_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// needDataPlane skips a test that needs the partition side of
// transactions: transactional produce and the WriteTxnMarkers handler.
func needDataPlane(t *testing.T) {
	t.Helper()
	if _, ok := handler.Lookup(kmsg.WriteTxnMarkers); !ok {
		t.Skip("needs the partition-side transaction data plane (WriteTxnMarkers, transactional batches)")
	}
}

// startBroker starts a standalone broker with a small __transaction_state.
func startBroker(t *testing.T) *testkit.Broker {
	return testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.TransactionStatePartitions = 3
		c.OffsetsTopicPartitions = 3
	}))
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// initPID sends InitProducerId for a transactional id, retrying while the
// coordinator loads or aborts a fenced transaction.
func initPID(t *testing.T, cl *kgo.Client, id string, timeoutMs int32, version int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	ctx := ctxFor(t)
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = version
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = timeoutMs
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("InitProducerId: %v", err)
		}
		switch resp.ErrorCode {
		case kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code, kerr.ConcurrentTransactions.Code:
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return resp
	}
}

// addPartitions sends AddPartitionsToTxn at the highest version cl allows
// (kgo picks the version; versionedClient caps it).
func addPartitions(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, topic string, parts ...int32) *kmsg.AddPartitionsToTxnResponse {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxFor(t), cl)
	if err != nil {
		t.Fatalf("AddPartitionsToTxn: %v", err)
	}
	return resp
}

// versionedClient is a client that sends the transaction APIs at most at
// version v (InitProducerId at v+2: its PRODUCER_FENCED came at v4).
func versionedClient(t *testing.T, addr string, v int16) *kgo.Client {
	vs := kversion.Stable()
	for _, k := range []kmsg.Key{kmsg.AddPartitionsToTxn, kmsg.EndTxn, kmsg.AddOffsetsToTxn} {
		vs.SetMaxKeyVersion(int16(k), v)
	}
	vs.SetMaxKeyVersion(int16(kmsg.InitProducerID), v+2)
	return testkit.NewClient(t, addr, kgo.MaxVersions(vs))
}

func addOffsets(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, group string) *kmsg.AddOffsetsToTxnResponse {
	t.Helper()
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = id, pid, epoch, group
	resp, err := req.RequestWith(ctxFor(t), cl)
	if err != nil {
		t.Fatalf("AddOffsetsToTxn: %v", err)
	}
	return resp
}

func partitionCodes(resp *kmsg.AddPartitionsToTxnResponse) map[int32]int16 {
	out := map[int32]int16{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.ErrorCode
		}
	}
	return out
}

// endTxn sends EndTxn at the highest version cl allows (v5, transactions
// v2, unless capped by versionedClient).
func endTxn(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, commit bool) *kmsg.EndTxnResponse {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp, err := req.RequestWith(ctxFor(t), cl)
	if err != nil {
		t.Fatalf("EndTxn: %v", err)
	}
	return resp
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if got != want.Code {
		t.Errorf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// TestInitProducerIDFencing: a second InitProducerId for the same
// transactional id bumps the epoch, and the first producer's epoch is
// fenced: PRODUCER_FENCED from the versions of KIP-588, INVALID_PRODUCER_EPOCH
// before.
func TestInitProducerIDFencing(t *testing.T) {
	b := startBroker(t)
	cl := testkit.NewClient(t, b.Addr())
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 2, nil)

	first := initPID(t, cl, "fence-me", 60000, 4)
	if first.ErrorCode != 0 || first.ProducerID < 0 || first.ProducerEpoch != 0 {
		t.Fatalf("first InitProducerId: %v id %d epoch %d", kerr.ErrorForCode(first.ErrorCode), first.ProducerID, first.ProducerEpoch)
	}
	second := initPID(t, cl, "fence-me", 60000, 4)
	if second.ErrorCode != 0 || second.ProducerID != first.ProducerID || second.ProducerEpoch != 1 {
		t.Fatalf("second InitProducerId: %v id %d epoch %d", kerr.ErrorForCode(second.ErrorCode), second.ProducerID, second.ProducerEpoch)
	}
	for _, tc := range []struct {
		version int16
		want    *kerr.Error
	}{{3, kerr.ProducerFenced}, {2, kerr.ProducerFenced}, {1, kerr.InvalidProducerEpoch}} {
		vcl := versionedClient(t, b.Addr(), tc.version)
		codes := partitionCodes(addPartitions(t, vcl, "fence-me", first.ProducerID, first.ProducerEpoch, topic, 0))
		wantCode(t, fmt.Sprintf("AddPartitionsToTxn v%d with the fenced epoch", tc.version), codes[0], tc.want)
		wantCode(t, fmt.Sprintf("EndTxn v%d with the fenced epoch", tc.version), endTxn(t, vcl, "fence-me", first.ProducerID, 0, true).ErrorCode, tc.want)
		wantCode(t, fmt.Sprintf("AddOffsetsToTxn v%d with the fenced epoch", tc.version), addOffsets(t, vcl, "fence-me", first.ProducerID, 0, "g").ErrorCode, tc.want)
	}
	// The new producer's epoch works.
	codes := partitionCodes(addPartitions(t, cl, "fence-me", second.ProducerID, second.ProducerEpoch, topic, 0, 1))
	if codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("AddPartitionsToTxn with the current epoch: %v", codes)
	}

	// The state survives a restart: the coordinator reloads it from
	// __transaction_state.
	b.Restart(t)
	cl2 := testkit.NewClient(t, b.Addr())
	adm := kadm.NewClient(cl2)
	var d kadm.DescribedTransaction
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := adm.DescribeTransactions(ctxFor(t), "fence-me")
		if err != nil {
			t.Fatalf("DescribeTransactions: %v", err)
		}
		d = ds["fence-me"]
		if !errors.Is(d.Err, kerr.CoordinatorLoadInProgress) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.Err != nil || d.State != "Ongoing" || d.ProducerID != second.ProducerID || d.ProducerEpoch != 1 || d.TimeoutMillis != 60000 {
		t.Fatalf("after restart: %+v", d)
	}
	if ps := d.Topics[topic]; len(ps) != 2 {
		t.Fatalf("after restart, partitions in the transaction: %v", d.Topics)
	}
}

// TestFranzGoFencedProducer: a kgo transactional producer is fenced by a
// second one with the same transactional id as soon as it adds a partition.
func TestFranzGoFencedProducer(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	ctx := ctxFor(t)
	zombie := testkit.NewClient(t, b.Addr(), kgo.TransactionalID("franz-fence"), kgo.DefaultProduceTopic(topic))
	id1, epoch1, err := zombie.ProducerID(ctx)
	if err != nil {
		t.Fatalf("first producer's InitProducerId: %v", err)
	}
	fresh := testkit.NewClient(t, b.Addr(), kgo.TransactionalID("franz-fence"), kgo.DefaultProduceTopic(topic))
	id2, epoch2, err := fresh.ProducerID(ctx)
	if err != nil {
		t.Fatalf("second producer's InitProducerId: %v", err)
	}
	if id2 != id1 || epoch2 != epoch1+1 {
		t.Fatalf("second producer got id %d epoch %d; first had %d/%d", id2, epoch2, id1, epoch1)
	}
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	err = zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr()
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("zombie produce: %v, want PRODUCER_FENCED", err)
	}
}

// TestBadInput: Kafka's error codes for the coordinator's bad input.
func TestBadInput(t *testing.T) {
	b := startBroker(t)
	cl := testkit.NewClient(t, b.Addr())
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)

	over := initPID(t, cl, "too-long", int32((16 * time.Minute).Milliseconds()), 4)
	wantCode(t, "InitProducerId above transaction.max.timeout.ms", over.ErrorCode, kerr.InvalidTransactionTimeout)
	zero := initPID(t, cl, "zero", 0, 4)
	wantCode(t, "InitProducerId with timeout 0", zero.ErrorCode, kerr.InvalidTransactionTimeout)

	p := initPID(t, cl, "bad-input", 60000, 4)
	if p.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	wantCode(t, "EndTxn without a transaction", endTxn(t, cl, "bad-input", p.ProducerID, p.ProducerEpoch, true).ErrorCode, kerr.InvalidTxnState)
	wantCode(t, "EndTxn for an unknown transactional id", endTxn(t, cl, "never-seen", 1, 0, true).ErrorCode, kerr.InvalidProducerIDMapping)
	wantCode(t, "EndTxn with another producer id", endTxn(t, cl, "bad-input", p.ProducerID+1, p.ProducerEpoch, false).ErrorCode, kerr.InvalidProducerIDMapping)

	codes := partitionCodes(addPartitions(t, cl, "never-seen", 1, 0, topic, 0))
	wantCode(t, "AddPartitionsToTxn for an unknown transactional id", codes[0], kerr.InvalidProducerIDMapping)

	// One unknown topic: nothing is added, the known partition is not attempted.
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = "bad-input", p.ProducerID, p.ProducerEpoch
	for _, tt := range []struct {
		topic string
		part  int32
	}{{topic, 0}, {"no-such-topic", 0}, {topic, 7}} {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = tt.topic, []int32{tt.part}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctxFor(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	want := []*kerr.Error{kerr.OperationNotAttempted, kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition}
	for i, rt := range resp.Topics {
		wantCode(t, "AddPartitionsToTxn "+rt.Topic, rt.Partitions[0].ErrorCode, want[i])
	}
	// The transaction did not start: nothing to commit (EndTxn v5; an
	// abort would be transactions v2's empty abort, which succeeds).
	wantCode(t, "EndTxn after a refused AddPartitionsToTxn", endTxn(t, cl, "bad-input", p.ProducerID, p.ProducerEpoch, true).ErrorCode, kerr.InvalidTxnState)

	adm := kadm.NewClient(cl)
	ds, err := adm.DescribeTransactions(ctxFor(t), "never-seen")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ds["never-seen"].Err, kerr.TransactionalIDNotFound) {
		t.Errorf("DescribeTransactions of an unknown id: %v", ds["never-seen"].Err)
	}
}

// TestListAndDescribe: kadm's ListTransactions and DescribeTransactions
// show an ongoing transaction with its partitions, filtered as Kafka does.
func TestListAndDescribe(t *testing.T) {
	b := startBroker(t)
	cl := testkit.NewClient(t, b.Addr())
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 3, nil)
	p := initPID(t, cl, "listed", 45000, 4)
	q := initPID(t, cl, "idle", 45000, 4)
	if p.ErrorCode != 0 || q.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(q.ErrorCode))
	}
	if c := partitionCodes(addPartitions(t, cl, "listed", p.ProducerID, p.ProducerEpoch, topic, 2, 0)); c[0] != 0 || c[2] != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", c)
	}
	adm := kadm.NewClient(cl)
	ls, err := adm.ListTransactions(ctxFor(t), nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	got := ls.Sorted()
	if len(got) != 1 || got[0].TxnID != "listed" || got[0].ProducerID != p.ProducerID || got[0].State != "Ongoing" {
		t.Fatalf("ListTransactions Ongoing: %+v", got)
	}
	ls, err = adm.ListTransactions(ctxFor(t), []int64{q.ProducerID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ls.Sorted(); len(got) != 1 || got[0].TxnID != "idle" || got[0].State != "Empty" {
		t.Fatalf("ListTransactions by producer id: %+v", got)
	}
	ds, err := adm.DescribeTransactions(ctxFor(t), "listed")
	if err != nil {
		t.Fatal(err)
	}
	d := ds["listed"]
	if d.Err != nil || d.State != "Ongoing" || d.TimeoutMillis != 45000 || d.StartTimestamp <= 0 || len(d.Topics[topic]) != 2 {
		t.Fatalf("DescribeTransactions: %+v", d)
	}
}

// TestAddPartitionsAfterCommit: AddPartitionsToTxn v3 sent as soon as the
// previous commit is answered (its markers and CompleteCommit still being
// written) succeeds instead of answering CONCURRENT_TRANSACTIONS: the
// coordinator waits for the completion (docs/compatibility.md,
// add-partitions-waits-for-completion). Needs the data plane.
func TestAddPartitionsAfterCommit(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := versionedClient(t, b.Addr(), 3)
	p := initPID(t, cl, "add-after-commit", 60000, 5)
	concurrent := 0
	for i := range 20 {
		code := partitionCodes(addPartitions(t, cl, "add-after-commit", p.ProducerID, p.ProducerEpoch, topic, 0))[0]
		switch {
		case code == kerr.ConcurrentTransactions.Code:
			concurrent++
			continue
		case code != 0:
			t.Fatalf("AddPartitionsToTxn %d: %v", i, kerr.ErrorForCode(code))
		}
		if code := endTxn(t, cl, "add-after-commit", p.ProducerID, p.ProducerEpoch, true).ErrorCode; code != 0 {
			t.Fatalf("EndTxn %d: %v", i, kerr.ErrorForCode(code))
		}
	}
	if concurrent > 0 {
		t.Fatalf("%d of 20 AddPartitionsToTxn right after a commit answered CONCURRENT_TRANSACTIONS", concurrent)
	}
}
