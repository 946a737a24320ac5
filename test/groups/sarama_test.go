package groups_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/strom-broker/strom/internal/testkit"
)

// saramaHandler records what a session reads and commits the marked
// offsets when the session ends.
type saramaHandler struct {
	mu   sync.Mutex
	got  map[string]recordID
	want int
	done chan struct{}
	once sync.Once
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	sess.Commit()
	return nil
}

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		sess.MarkMessage(msg, "")
		h.mu.Lock()
		h.got[string(msg.Key)] = recordID{msg.Partition, msg.Offset}
		if len(h.got) >= h.want {
			h.once.Do(func() { close(h.done) })
		}
		h.mu.Unlock()
	}
	return nil
}

// consumeGroupSarama reads want records with a sarama ConsumerGroup,
// commits when the session ends and closes the group.
func consumeGroupSarama(t *testing.T, addr, group, topic string, version sarama.KafkaVersion, want int) map[string]recordID {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.ClientID = "strom-test-sarama"
	cfg.Version = version
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup: %v", err)
	}
	defer cg.Close()
	h := &saramaHandler{got: map[string]recordID{}, want: want, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		var err error
		for ctx.Err() == nil && err == nil {
			err = cg.Consume(ctx, []string{topic}, h)
		}
		errc <- err
	}()
	go func() {
		for err := range cg.Errors() {
			t.Logf("sarama group error: %v", err)
		}
	}()
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		h.mu.Lock()
		n := len(h.got)
		h.mu.Unlock()
		cancel()
		<-errc
		t.Fatalf("sarama group %s read %d of %d records", group, n, want)
	}
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("sarama consume: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got
}

func TestSaramaConsumerGroup(t *testing.T) {
	b := startBroker(t)
	for _, v := range []sarama.KafkaVersion{sarama.V1_0_0_0, sarama.V2_8_0_0, sarama.MaxVersion} {
		t.Run(v.String(), func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
			g := groupName(t)
			first := produce(t, b.Addr(), topic, "a", 150)
			requireExactly(t, first, consumeGroupSarama(t, b.Addr(), g, topic, v, len(first)))
			if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
				t.Fatalf("committed %v, want %v", got, want)
			}
			second := produce(t, b.Addr(), topic, "b", 60)
			requireExactly(t, second, consumeGroupSarama(t, b.Addr(), g, topic, v, len(second)))
		})
	}
}
