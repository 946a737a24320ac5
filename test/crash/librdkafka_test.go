//go:build cgo

package crash_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestKillDuringLibrdkafkaProduce is TestKillDuringProduce with librdkafka's
// idempotent producer, whose recovery from a broker that vanished mid-request
// differs from franz-go's: it must neither lose an acknowledged message nor
// see one written twice.
func TestKillDuringLibrdkafkaProduce(t *testing.T) {
	proc := testkit.StartProcess(t, testkit.ProcessOptions{})
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, proc.Addr(), topic, crashPartitions, nil)
	chk := testkit.NewChecker()

	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":            proc.Addr(),
		"client.id":                    "strom-test-crash",
		"acks":                         "all",
		"enable.idempotence":           true,
		"compression.codec":            "zstd",
		"linger.ms":                    2,
		"message.timeout.ms":           120000,
		"queue.buffering.max.messages": 2000,
		"reconnect.backoff.ms":         50,
		"reconnect.backoff.max.ms":     500,
	})
	if err != nil {
		t.Fatalf("kafka.NewProducer: %v", err)
	}
	var acked atomic.Int64
	reportsDone := make(chan struct{})
	go func() {
		defer close(reportsDone)
		for ev := range p.Events() {
			switch e := ev.(type) {
			case *kafka.Message:
				r := fromKafka(e)
				var err error
				if e.TopicPartition.Error != nil {
					err = e.TopicPartition.Error
				} else {
					acked.Add(1)
				}
				chk.Done(r, err)
			case kafka.Error:
				if e.IsFatal() {
					chk.Done(&kgo.Record{Value: []byte("fatal producer error")}, e)
				}
			}
		}
	}()
	closed := false
	closeProducer := func() {
		if !closed {
			closed = true
			p.Close() // closes Events(), ending the reports goroutine
			<-reportsDone
		}
	}
	t.Cleanup(closeProducer)

	stop := make(chan struct{})
	loopDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				loopDone <- nil
				return
			default:
			}
			r := &kgo.Record{
				Topic:   topic,
				Key:     []byte(fmt.Sprintf("k%d", i%64)),
				Value:   []byte(fmt.Sprintf("rdk-%07d-%s", i, strings.Repeat("y", i%200))),
				Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(fmt.Sprint(i))}},
			}
			chk.Attempt(r)
			m := &kafka.Message{
				TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
				Key:            r.Key, Value: r.Value,
				Headers: []kafka.Header{{Key: "seq", Value: r.Headers[0].Value}},
			}
			for {
				err := p.Produce(m, nil)
				if err == nil {
					break
				}
				var kerr kafka.Error
				if !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull {
					loopDone <- fmt.Errorf("produce record %d: %w", i, err)
					return
				}
				select {
				case <-stop:
					// Attempted but never handed to the client: the
					// checker allows it to be absent.
					loopDone <- nil
					return
				case <-time.After(5 * time.Millisecond): // queue full: let deliveries drain
				}
			}
		}
	}()

	waitAcked := func(n int64, what string) {
		t.Helper()
		deadline := time.Now().Add(120 * time.Second)
		for acked.Load() < n {
			if time.Now().After(deadline) {
				a, ok, f := chk.Counts()
				t.Fatalf("%s: %d acknowledged after 120s, want %d (attempted %d, acked %d, failed %d: %v)",
					what, acked.Load(), n, a, ok, f, chk.Failures(5))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for round := 1; round <= 3; round++ {
		// Targets are relative so that every round kills under load and
		// sees new acknowledgements after its restart.
		waitAcked(acked.Load()+1500, fmt.Sprintf("round %d before kill", round))
		proc.Kill(t)
		a, ok, _ := chk.Counts()
		t.Logf("round %d: killed with %d records attempted, %d acknowledged", round, a, ok)
		proc.Restart(t)
		waitAcked(int64(ok)+500, fmt.Sprintf("round %d after restart", round))
	}
	close(stop)
	if err := <-loopDone; err != nil {
		t.Fatal(err)
	}
	if left := p.Flush(120000); left > 0 {
		t.Fatalf("librdkafka: %d messages still undelivered 120s after the last restart", left)
	}
	closeProducer()

	attempted, ackedN, failed := chk.Counts()
	t.Logf("attempted %d, acknowledged %d, failed %d", attempted, ackedN, failed)
	if failed > 0 {
		t.Errorf("%d records failed; first errors: %v", failed, chk.Failures(10))
	}
	read := testkit.ConsumePartitions(t, proc.Addr(), topic, crashPartitions)
	chk.Verify(t, read)
}

func fromKafka(m *kafka.Message) *kgo.Record {
	r := &kgo.Record{Key: m.Key, Value: m.Value, Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset)}
	if m.TopicPartition.Topic != nil {
		r.Topic = *m.TopicPartition.Topic
	}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}
