package clients_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

var kafkaGoCodecs = map[string]kafka.Compression{
	"none":   0,
	"gzip":   kafka.Gzip,
	"snappy": kafka.Snappy,
	"lz4":    kafka.Lz4,
	"zstd":   kafka.Zstd,
}

// keyBalancer sends each message to the partition recorded for its key.
type keyBalancer map[string]int

func (b keyBalancer) Balance(m kafka.Message, _ ...int) int { return b[string(m.Key)] }

// segmentio/kafka-go negotiates Produce through its Transport and reads with
// the older Conn-based Fetch path; Reader without GroupID is a plain
// partition reader.
func TestKafkaGoProduceConsumeCodecs(t *testing.T) {
	b := testkit.StartBroker(t)
	for _, codec := range testkit.Codecs {
		t.Run(codec, func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
			want := testkit.MakeRecords(topic, "kafkago-"+codec, recordsPerCodec, partitions)

			bal := keyBalancer{}
			msgs := make([]kafka.Message, len(want))
			byKey := map[string]*kgo.Record{}
			for i, r := range want {
				bal[string(r.Key)] = int(r.Partition)
				byKey[string(r.Key)] = r
				r.Offset = -1
				msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
				for _, h := range r.Headers {
					msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h.Key, Value: h.Value})
				}
			}
			transport := &kafka.Transport{ClientID: "strom-test-kafkago"}
			defer transport.CloseIdleConnections()
			var mu sync.Mutex // Completion runs on one goroutine per partition
			var completionErr error
			w := &kafka.Writer{
				Addr:         kafka.TCP(b.Addr()),
				Topic:        topic,
				Balancer:     bal,
				RequiredAcks: kafka.RequireAll,
				Compression:  kafkaGoCodecs[codec],
				BatchSize:    50,
				BatchTimeout: 5 * time.Millisecond,
				Transport:    transport,
				// Completion runs on the writer's goroutines before
				// WriteMessages returns (synchronous writer).
				Completion: func(done []kafka.Message, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						completionErr = err
						return
					}
					for _, m := range done {
						r := byKey[string(m.Key)]
						if int32(m.Partition) != r.Partition {
							completionErr = fmt.Errorf("key %s acknowledged on partition %d, balanced to %d", m.Key, m.Partition, r.Partition)
						}
						r.Offset = m.Offset
					}
				},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := w.WriteMessages(ctx, msgs...)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("kafka-go WriteMessages: %v", err)
			}
			if completionErr != nil {
				t.Fatalf("kafka-go completion: %v", completionErr)
			}
			for _, r := range want {
				if r.Offset < 0 {
					t.Fatalf("kafka-go reported no offset for key %s", r.Key)
				}
			}

			ends := testkit.HighWatermarks(t, b.Addr(), topic)
			var got []*kgo.Record
			for p := 0; p < partitions; p++ {
				got = append(got, readKafkaGo(t, b.Addr(), topic, p, ends[int32(p)])...)
			}
			testkit.RequireSameRecords(t, want, got)
		})
	}
}

func readKafkaGo(t *testing.T, addr, topic string, partition int, end int64) []*kgo.Record {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{addr},
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   200 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatalf("kafka-go SetOffset: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for next := int64(0); next < end; {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go ReadMessage %s/%d after %d records (end %d): %v", topic, partition, len(out), end, err)
		}
		rec := &kgo.Record{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		out = append(out, rec)
		next = m.Offset + 1
	}
	return out
}
