package txn_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestProducerIDExpiration: producer.id.expiration.ms (KIP-854), set as
// the dynamic cluster-wide broker config: a partition forgets an
// idempotent producer idle for longer (DescribeProducers no longer lists
// it) but keeps one with a transaction open there, as Kafka's
// ProducerStateManager.removeExpiredProducers; the broker's
// DescribeConfigs shows the dynamic value.
func TestProducerIDExpiration(t *testing.T) {
	needDataPlane(t)
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.TransactionStatePartitions = 3
		c.OffsetsTopicPartitions = 3
		c.ProducerIDExpirationCheckInterval = 100 * time.Millisecond
	}))
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	ctx := ctxFor(t)

	idem := testkit.NewClient(t, b.Addr(), kgo.DefaultProduceTopic(topic))
	testkit.ProduceSync(t, idem, []*kgo.Record{{Value: []byte("idempotent")}})
	idemPID, _, err := idem.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	txn := testkit.NewClient(t, b.Addr(), kgo.TransactionalID("expiry-open"), kgo.DefaultProduceTopic(topic))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, &kgo.Record{Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	txnPID, _, err := txn.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	adm := kadm.NewClient(testkit.NewClient(t, b.Addr()))
	producers := func() map[int64]kadm.DescribedProducer {
		t.Helper()
		ds, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ds.SortedPartitions() {
			if p.Err != nil {
				t.Fatal(p.Err)
			}
			return p.ActiveProducers
		}
		t.Fatal("DescribeProducers: no partition")
		return nil
	}
	if ps := producers(); len(ps) != 2 {
		t.Fatalf("before expiry: producers %v, want %d and %d", ps, idemPID, txnPID)
	}

	alt, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "producer.id.expiration.ms", Value: kadm.StringPtr("500")}})
	if err != nil || alt[0].Err != nil {
		t.Fatalf("set producer.id.expiration.ms: %v %v", err, alt)
	}
	rcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rcs.On("1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var shown bool
	for _, cfg := range c.Configs {
		shown = shown || cfg.Key == "producer.id.expiration.ms" && cfg.MaybeValue() == "500" && cfg.Source.String() == "DYNAMIC_DEFAULT_BROKER_CONFIG"
	}
	if !shown {
		t.Fatalf("DescribeConfigs of broker 1 does not show producer.id.expiration.ms=500 as a dynamic default")
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		ps := producers()
		if _, ok := ps[idemPID]; !ok {
			if _, ok := ps[txnPID]; !ok {
				t.Fatalf("the producer with a transaction open expired too: %v", ps)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("producer %d never expired: %v", idemPID, ps)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A value Kafka's validator refuses.
	alt, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "producer.id.expiration.ms", Value: kadm.StringPtr("0")}})
	if err != nil || len(alt) != 1 || alt[0].Err == nil || !kerrIs(alt[0].Err, kerr.InvalidRequest) {
		t.Fatalf("producer.id.expiration.ms=0: %v %v, want INVALID_REQUEST", err, alt)
	}
	// The transaction still commits; the idempotent producer writes on.
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	testkit.ProduceSync(t, idem, []*kgo.Record{{Value: []byte("again")}})
}

func kerrIs(err error, want *kerr.Error) bool {
	ke, ok := err.(*kerr.Error)
	return ok && ke == want
}
