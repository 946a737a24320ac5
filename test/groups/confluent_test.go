//go:build cgo

package groups_test

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/internal/testkit"
)

// consumeGroupConfluent reads want records with a librdkafka consumer in
// a classic group, commits synchronously and closes (leaving the group).
func consumeGroupConfluent(t *testing.T, addr, group, topic string, want int) map[string]recordID {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  addr,
		"client.id":          "strom-test-confluent",
		"group.id":           group,
		"group.protocol":     "classic",
		"auto.offset.reset":  "earliest",
		"enable.auto.commit": false,
	})
	if err != nil {
		t.Fatalf("kafka.NewConsumer: %v", err)
	}
	defer c.Close()
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	got := map[string]recordID{}
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < want {
		if time.Now().After(deadline) {
			t.Fatalf("confluent group %s read %d of %d records", group, len(got), want)
		}
		m, err := c.ReadMessage(time.Second)
		if err != nil {
			if kerr, ok := err.(kafka.Error); ok && kerr.IsTimeout() {
				continue
			}
			t.Fatalf("read: %v", err)
		}
		got[string(m.Key)] = recordID{m.TopicPartition.Partition, int64(m.TopicPartition.Offset)}
	}
	if _, err := c.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return got
}

func TestConfluentConsumerGroup(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	g := groupName(t)
	first := produce(t, b.Addr(), topic, "a", 150)
	requireExactly(t, first, consumeGroupConfluent(t, b.Addr(), g, topic, len(first)))
	if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
		t.Fatalf("committed %v, want %v", got, want)
	}
	second := produce(t, b.Addr(), topic, "b", 60)
	requireExactly(t, second, consumeGroupConfluent(t, b.Addr(), g, topic, len(second)))
}
