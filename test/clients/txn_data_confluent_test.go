//go:build cgo

package clients_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestTxnReadCommittedConfluent: librdkafka with isolation.level=
// read_committed sees the committed transaction, never the aborted one,
// and reports its lag from the last stable offset.
func TestTxnReadCommittedConfluent(t *testing.T) {
	b := startTxnDataBroker(t)
	topic, want := txnScenario(t, b.Addr())
	// A transaction left open after "end" (offset 10): the last stable
	// offset stays at 11, the high watermark moves to 12.
	cl := testkit.NewRawClient(t, b.Addr())
	if code, _ := testkit.InitTxnProducer(t, cl, "txn-c").Produce(t, cl, topic, 0, false, "c0"); code != 0 {
		t.Fatalf("txn c: code %d", code)
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":      b.Addr(),
		"client.id":              "strom-test-confluent-txn",
		"group.id":               "strom-test-unused",
		"enable.auto.commit":     false,
		"auto.offset.reset":      "error",
		"isolation.level":        "read_committed",
		"enable.partition.eof":   true,
		"statistics.interval.ms": 100,
	})
	if err != nil {
		t.Fatalf("kafka.NewConsumer: %v", err)
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.Offset(0)}}); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(got, "end") {
		if time.Now().After(deadline) {
			t.Fatalf("read_committed consumer: %v after 30s, no \"end\"", got)
		}
		switch ev := c.Poll(100).(type) {
		case *kafka.Message:
			got = append(got, string(ev.Value))
		case kafka.Error:
			if ev.Code() == kafka.ErrCoordinatorNotAvailable {
				continue // group-related; reading does not depend on it
			}
			t.Fatalf("librdkafka consumer error: %v", ev)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
	// librdkafka's end offset of a read_committed partition, which its lag
	// is computed from, is the last stable offset of the fetch answers
	// (statistics: ls_offset; hi_offset is the high watermark).
	for {
		if time.Now().After(deadline) {
			t.Fatal("no statistics with the consumed position after 30s")
		}
		ev, ok := c.Poll(100).(*kafka.Stats)
		if !ok {
			continue
		}
		var st struct {
			Topics map[string]struct {
				Partitions map[string]struct {
					HiOffset  int64 `json:"hi_offset"`
					LsOffset  int64 `json:"ls_offset"`
					AppOffset int64 `json:"app_offset"`
				} `json:"partitions"`
			} `json:"topics"`
		}
		if err := json.Unmarshal([]byte(ev.String()), &st); err != nil {
			t.Fatalf("statistics: %v", err)
		}
		ps, ok := st.Topics[topic].Partitions["0"]
		if !ok || ps.AppOffset != 11 {
			continue
		}
		if ps.LsOffset != 11 || ps.HiOffset != 12 {
			t.Fatalf("statistics: ls_offset %d, hi_offset %d; want 11, 12", ps.LsOffset, ps.HiOffset)
		}
		return
	}
}
