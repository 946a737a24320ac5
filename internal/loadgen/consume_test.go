package loadgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/loadgen"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestConsumeLatencyOnlyOwnRecords: records already in the topic (an hour
// old) and records of other producers are read but are no end-to-end
// latency; the records Produce writes while Consume runs are.
func TestConsumeLatencyOnlyOwnRecords(t *testing.T) {
	b := testkit.StartBroker(t)
	topic := testkit.TopicName(t, "lat")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	old := testkit.MakeRecords(topic, "old", 30, 1)
	for _, r := range old {
		r.Timestamp = time.Now().Add(-time.Hour)
	}
	testkit.ProduceSync(t, testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner()), old)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := loadgen.Options{Bootstrap: []string{b.Addr()}, Topic: topic, RecordSize: 10, IdleTimeout: 30 * time.Second}
	type consumed struct {
		res loadgen.Result
		err error
	}
	done := make(chan consumed, 1)
	copts := opts
	copts.NumRecords = 50
	go func() {
		res, err := loadgen.Consume(ctx, copts)
		done <- consumed{res, err}
	}()
	popts := opts
	popts.NumRecords = 20
	if _, err := loadgen.Produce(ctx, popts); err != nil {
		t.Fatalf("produce: %v", err)
	}
	c := <-done
	if c.err != nil {
		t.Fatalf("consume: %v", c.err)
	}
	if c.res.Records != 50 {
		t.Fatalf("consumed %d records, want 50", c.res.Records)
	}
	if got := c.res.Latency.Count(); got != 20 {
		t.Fatalf("latency measured on %d records, want the 20 Produce wrote", got)
	}
	if max := time.Duration(c.res.Latency.Max()); max >= time.Hour {
		t.Fatalf("max end-to-end latency %v counts the old records", max)
	}
}
