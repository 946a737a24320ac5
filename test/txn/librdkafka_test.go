//go:build cgo

package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/internal/testkit"
)

func newRdkProducer(t *testing.T, addr, txnID string) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":      addr,
		"client.id":              "strom-test-txn",
		"transactional.id":       txnID,
		"transaction.timeout.ms": 60000,
		"message.timeout.ms":     60000,
		"linger.ms":              5,
	})
	if err != nil {
		t.Fatalf("kafka.NewProducer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestLibrdkafkaInitTransactions: librdkafka's init_transactions() finds
// the transaction coordinator and gets a producer id, and empty
// transactions commit and abort.
func TestLibrdkafkaInitTransactions(t *testing.T) {
	b := startBroker(t)
	p := newRdkProducer(t, b.Addr(), "rdk-init")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("init_transactions: %v", err)
	}
	for _, commit := range []bool{true, false} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatalf("begin_transaction: %v", err)
		}
		var err error
		if commit {
			err = p.CommitTransaction(ctx)
		} else {
			err = p.AbortTransaction(ctx)
		}
		if err != nil {
			t.Fatalf("empty transaction (commit %v): %v", commit, err)
		}
	}
}

// TestLibrdkafkaFencing: a second producer with the same transactional id
// fences the first, whose next transaction fails fatally with
// PRODUCER_FENCED.
func TestLibrdkafkaFencing(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	zombie := newRdkProducer(t, b.Addr(), "rdk-fence")
	if err := zombie.InitTransactions(ctx); err != nil {
		t.Fatalf("first init_transactions: %v", err)
	}
	fresh := newRdkProducer(t, b.Addr(), "rdk-fence")
	if err := fresh.InitTransactions(ctx); err != nil {
		t.Fatalf("second init_transactions: %v", err)
	}
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("zombie")}, nil); err != nil {
		t.Fatalf("produce: %v", err)
	}
	err := zombie.CommitTransaction(ctx)
	var kerr kafka.Error
	if !errors.As(err, &kerr) || !kerr.IsFatal() {
		t.Fatalf("zombie commit: %v, want a fatal error", err)
	}
	if code := kerr.Code(); code != kafka.ErrFenced && code != kafka.ErrProducerFenced && code != kafka.ErrInvalidProducerEpoch {
		t.Fatalf("zombie commit: %v (code %v), want fenced", err, code)
	}
}

// TestLibrdkafkaCommitAbort: records of a committed transaction are read
// by a read_committed consumer, those of an aborted one are not. Needs the
// data plane.
func TestLibrdkafkaCommitAbort(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := newRdkProducer(t, b.Addr(), "rdk-commit-abort")
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("init_transactions: %v", err)
	}
	for _, tc := range []struct {
		value  string
		commit bool
	}{{"committed", true}, {"aborted", false}, {"committed-2", true}} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte(tc.value)}, nil); err != nil {
			t.Fatal(err)
		}
		var err error
		if tc.commit {
			err = p.CommitTransaction(ctx)
		} else {
			err = p.AbortTransaction(ctx)
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.value, err)
		}
	}
	got := readCommitted(t, b.Addr(), topic, 2)
	if len(got) != 2 || got[0] != "committed" || got[1] != "committed-2" {
		t.Fatalf("read_committed saw %q", got)
	}
}
