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
	"github.com/strom-broker/strom/internal/testkit"
)

// TestDescribeProducers: DescribeProducers shows the producer state of a
// partition's leader: an idempotent producer's id, epoch and last sequence.
func TestDescribeProducers(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 2, nil)
	prod := testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner())
	recs := make([]*kgo.Record, 5)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: 1, Value: []byte("v")}
	}
	testkit.ProduceSync(t, prod, recs)
	pid, epoch, err := prod.ProducerID(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(testkit.NewClient(t, b.Addr()))
	ds, err := adm.DescribeProducers(ctxFor(t), kadm.TopicsSet{topic: {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ds.SortedPartitions() {
		switch {
		case p.Partition == 0:
			if p.Err != nil || len(p.ActiveProducers) != 0 {
				t.Errorf("partition 0: %+v", p)
			}
		default:
			d, ok := p.ActiveProducers[pid]
			if p.Err != nil || !ok || d.ProducerEpoch != epoch || d.LastSequence != 4 || d.LastTimestamp <= 0 || d.CurrentTxnStartOffset != -1 {
				t.Errorf("partition 1: %+v (producer %d/%d)", p, pid, epoch)
			}
		}
	}
	// Unknown topics and partitions, asked directly (kadm routes by leader).
	req := kmsg.NewPtrDescribeProducersRequest()
	for _, tt := range []struct {
		topic string
		part  int32
	}{{"no-such-topic", 0}, {topic, 9}} {
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = tt.topic, []int32{tt.part}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := testkit.RequestTo(ctxFor(t), b.Addr(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.(*kmsg.DescribeProducersResponse).Topics {
		wantCode(t, "DescribeProducers of "+rt.Topic, rt.Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	}
}

// TestTransactionalIDExpires: an idle transactional id is removed after
// transactional.id.expiration.ms (a tombstone in __transaction_state);
// the next InitProducerId starts it afresh.
func TestTransactionalIDExpires(t *testing.T) {
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.TransactionStatePartitions = 3
		c.TransactionalIDExpiration = 300 * time.Millisecond
		c.TransactionAbortInterval = 50 * time.Millisecond
	}))
	cl := testkit.NewClient(t, b.Addr())
	p := initPID(t, cl, "short-lived", 60000, 4)
	if p.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := adm.DescribeTransactions(ctxFor(t), "short-lived")
		if err == nil && errors.Is(ds["short-lived"].Err, kerr.TransactionalIDNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transactional id not expired: %+v %v", ds, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Gone after a restart too: the tombstone is in the log.
	b.Restart(t)
	cl2 := testkit.NewClient(t, b.Addr())
	q := initPID(t, cl2, "short-lived", 60000, 4)
	if q.ErrorCode != 0 || q.ProducerEpoch != 0 || q.ProducerID == p.ProducerID {
		t.Fatalf("InitProducerId after expiry: %v id %d epoch %d (expired id %d)", kerr.ErrorForCode(q.ErrorCode), q.ProducerID, q.ProducerEpoch, p.ProducerID)
	}
}
