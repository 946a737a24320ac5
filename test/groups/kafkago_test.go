package groups_test

import (
	"context"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/strom-broker/strom/internal/testkit"
)

// consumeGroupKafkaGo reads want records with a kafka-go Reader in a
// group, commits them synchronously and closes the reader (leaving the
// group).
func consumeGroupKafkaGo(t *testing.T, addr, group, topic string, want int) map[string]recordID {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{addr},
		GroupID:           group,
		Topic:             topic,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		MaxWait:           200 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]recordID{}
	var msgs []kafka.Message
	for len(got) < want {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go group %s read %d of %d records: %v", group, len(got), want, err)
		}
		got[string(m.Key)] = recordID{int32(m.Partition), m.Offset}
		msgs = append(msgs, m)
	}
	if err := r.CommitMessages(ctx, msgs...); err != nil {
		t.Fatalf("kafka-go commit: %v", err)
	}
	return got
}

func TestKafkaGoReaderGroup(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	g := groupName(t)
	first := produce(t, b.Addr(), topic, "a", 150)
	requireExactly(t, first, consumeGroupKafkaGo(t, b.Addr(), g, topic, len(first)))
	if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
		t.Fatalf("committed %v, want %v", got, want)
	}
	second := produce(t, b.Addr(), topic, "b", 60)
	requireExactly(t, second, consumeGroupKafkaGo(t, b.Addr(), g, topic, len(second)))
}
