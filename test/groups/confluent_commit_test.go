//go:build cgo

package groups_test

import (
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestConfluentCommitPerRecordThenCommitted is librdkafka consuming one
// partition with enable.auto.offset.store, committing after every record
// without waiting for the answer (each commit on its own goroutine, as an
// asynchronous commit does), then asking Committed: the answer must come
// within the client's timeout and name the last record's offset + 1; asked
// while commits are still in flight it never goes backwards. The broker's
// side of it, commits pipelined on one connection and applied in the
// order sent, is pinned down byte for byte by
// TestPipelinedCommitsKeepOrder (librdkafka's own timing rarely lets two
// commits overtake each other).
func TestConfluentCommitPerRecordThenCommitted(t *testing.T) {
	const n = 50
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	testkit.ProduceSync(t, testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner()),
		testkit.MakeRecords(topic, "c", n, 1))

	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":        b.Addr(),
		"group.id":                 groupName(t),
		"group.protocol":           "classic",
		"auto.offset.reset":        "earliest",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": true,
	})
	if err != nil {
		t.Fatalf("kafka.NewConsumer: %v", err)
	}
	defer c.Close()
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	var inflight sync.WaitGroup
	commitErrs := make(chan error, n)
	read := 0
	deadline := time.Now().Add(60 * time.Second)
	for read < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d records", read, n)
		}
		_, err := c.ReadMessage(time.Second)
		if err != nil {
			if kerr, ok := err.(kafka.Error); ok && kerr.IsTimeout() {
				continue
			}
			t.Fatalf("read: %v", err)
		}
		read++
		// Paced, so the commits carry different offsets and several are
		// in flight at once.
		time.Sleep(time.Millisecond)
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			// Commit the stored offsets: librdkafka reads them when its
			// group thread takes the commit, so the commits leave in
			// offset order however these goroutines are scheduled.
			if _, err := c.Commit(); err != nil && err.(kafka.Error).Code() != kafka.ErrNoOffset {
				commitErrs <- err
			}
		}()
	}
	tp := []kafka.TopicPartition{{Topic: &topic, Partition: 0}}
	committedAt := func() int64 {
		t.Helper()
		got, err := c.Committed(tp, 10_000)
		if err != nil {
			t.Fatalf("Committed (10 s timeout): %v", err)
		}
		return int64(got[0].Offset)
	}
	// While commits are in flight: answered, and never going backwards.
	last := int64(-1001)
	for range 3 {
		o := committedAt()
		if o < last {
			t.Fatalf("committed offset went back from %d to %d", last, o)
		}
		last = o
	}
	inflight.Wait()
	close(commitErrs)
	for err := range commitErrs {
		t.Errorf("commit: %v", err)
	}
	if o := committedAt(); o != n {
		t.Fatalf("committed offset %d, want %d", o, n)
	}
}
