package clients_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// sarama does not negotiate request versions: it derives them from
// Config.Version, so each version here pins a different set of Produce and
// Fetch versions on the wire.
var saramaVersions = []sarama.KafkaVersion{sarama.V1_0_0_0, sarama.V2_8_0_0, sarama.MaxVersion}

func TestSaramaProduceConsumeCodecs(t *testing.T) {
	b := testkit.StartBroker(t)
	for _, version := range saramaVersions {
		for _, codec := range testkit.Codecs {
			t.Run(version.String()+"/"+codec, func(t *testing.T) {
				if codec == "zstd" && !version.IsAtLeast(sarama.V2_1_0_0) {
					t.Skip("sarama refuses zstd below Kafka 2.1, as the protocol requires")
				}
				testSarama(t, b.Addr(), version, codec)
			})
		}
	}
}

func testSarama(t *testing.T, addr string, version sarama.KafkaVersion, codec string) {
	t.Helper()
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, addr, topic, partitions, nil)
	want := testkit.MakeRecords(topic, "sarama-"+version.String()+"-"+codec, recordsPerCodec, partitions)

	cfg := sarama.NewConfig()
	cfg.ClientID = "strom-test-sarama"
	cfg.Version = version
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by sarama's idempotent producer
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = saramaCodecs[codec]
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Flush.Messages = 50
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond

	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	msgs := make([]*sarama.ProducerMessage, len(want))
	for i, r := range want {
		m := &sarama.ProducerMessage{
			Topic:     topic,
			Partition: r.Partition,
			Key:       sarama.ByteEncoder(r.Key),
			Value:     sarama.ByteEncoder(r.Value),
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		msgs[i] = m
	}
	if err := prod.SendMessages(msgs); err != nil {
		prod.Close()
		t.Fatalf("SendMessages: %v", err)
	}
	if err := prod.Close(); err != nil {
		t.Fatalf("close producer: %v", err)
	}
	for i, m := range msgs {
		if m.Partition != want[i].Partition {
			t.Fatalf("message %d acknowledged on partition %d, sent to %d", i, m.Partition, want[i].Partition)
		}
		want[i].Offset = m.Offset
	}

	cons, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumer: %v", err)
	}
	defer cons.Close()
	ends := testkit.HighWatermarks(t, addr, topic)
	var got []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition %d: %v", p, err)
		}
		got = append(got, readSarama(t, pc, ends[p])...)
		if err := pc.Close(); err != nil {
			t.Fatalf("close partition consumer %d: %v", p, err)
		}
	}
	testkit.RequireSameRecords(t, want, got)
}

// readSarama reads a partition up to (not including) end.
func readSarama(t *testing.T, pc sarama.PartitionConsumer, end int64) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	deadline := time.After(60 * time.Second)
	for next := int64(0); next < end; {
		select {
		case m := <-pc.Messages():
			r := &kgo.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value}
			for _, h := range m.Headers {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
			}
			out = append(out, r)
			next = m.Offset + 1
		case err := <-pc.Errors():
			t.Fatalf("sarama partition consumer: %v", err)
		case <-deadline:
			t.Fatalf("sarama: read %d records, partition end is %d: %v", len(out), end, fmt.Errorf("timed out after 60s"))
		}
	}
	return out
}
