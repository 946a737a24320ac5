//go:build cgo

package groups_test

import (
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// runConfluent848 starts a librdkafka member with group.protocol=consumer;
// it commits synchronously after each record it reads, and stop closes it
// (leaving the group).
func runConfluent848(t *testing.T, addr, group, topic, name string) (*member848, func()) {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  addr,
		"client.id":          name,
		"group.id":           group,
		"group.protocol":     "consumer",
		"auto.offset.reset":  "earliest",
		"enable.auto.commit": false,
	})
	if err != nil {
		t.Fatalf("kafka.NewConsumer: %v", err)
	}
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	m := &member848{got: map[string]recordID{}}
	stopping := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stopping:
				return
			default:
			}
			msg, err := c.ReadMessage(200 * time.Millisecond)
			if err != nil {
				if kerr, ok := err.(kafka.Error); ok && !kerr.IsTimeout() {
					t.Logf("%s: read: %v", name, err)
				}
				continue
			}
			m.add(string(msg.Key), recordID{msg.TopicPartition.Partition, int64(msg.TopicPartition.Offset)})
			if _, err := c.CommitMessage(msg); err != nil {
				t.Logf("%s: commit: %v", name, err)
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(stopping)
			<-done
			if err := c.Close(); err != nil {
				t.Errorf("%s: close: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return m, stop
}

func TestKIP848Confluent(t *testing.T) {
	scenario848(t, runConfluent848, 200, nil)
}
