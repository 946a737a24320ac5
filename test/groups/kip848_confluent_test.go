//go:build cgo

package groups_test

import (
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/internal/testkit"
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
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions848, nil)
	g := groupName(t)

	m1, stop1 := runConfluent848(t, b.Addr(), g, topic, "m1")
	m2, stop2 := runConfluent848(t, b.Addr(), g, topic, "m2")
	waitAssigned(t, b.Addr(), g, 2)

	first := produce848(t, b.Addr(), topic, "a", 200)
	pollUntil(t, "both members read the first batch", 60*time.Second, func() bool {
		a, _ := m1.snapshot()
		b, _ := m2.snapshot()
		return len(a)+len(b) >= len(first)
	})
	got1, dups1 := m1.snapshot()
	got2, dups2 := m2.snapshot()
	if len(got1) == 0 || len(got2) == 0 || len(dups1)+len(dups2) > 0 {
		t.Fatalf("m1 read %d, m2 %d; read twice: %v %v", len(got1), len(got2), dups1, dups2)
	}
	requireExactly(t, first, mergeDisjoint(t, got1, got2))

	// m1 leaves: m2 takes over its partitions from the commits.
	stop1()
	waitAssigned(t, b.Addr(), g, 1)
	second := produce848(t, b.Addr(), topic, "b", 100)
	pollUntil(t, "m2 read the second batch", 60*time.Second, func() bool {
		a, _ := m2.snapshot()
		return readAllOf(a, second)
	})
	if _, dups := m2.snapshot(); len(dups) > 0 {
		t.Fatalf("m2 read records twice after taking over: %v", dups)
	}
	stop2()
	if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
		t.Fatalf("committed %v, want the high watermarks %v", got, want)
	}

	// A new member resumes from the commits.
	third := produce848(t, b.Addr(), topic, "c", 60)
	m3, stop3 := runConfluent848(t, b.Addr(), g, topic, "m3")
	pollUntil(t, "m3 read the third batch", 60*time.Second, func() bool {
		a, _ := m3.snapshot()
		return len(a) >= len(third)
	})
	stop3()
	got3, _ := m3.snapshot()
	requireExactly(t, third, got3)
}
