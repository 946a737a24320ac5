//go:build cgo

package clients_test

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// confluent-kafka-go wraps librdkafka, the C client behind the Python, .NET
// and Rust clients too. Its consumer insists on a group.id; with assign() and
// explicit offsets no group request is needed to read.
func TestConfluentProduceConsumeCodecs(t *testing.T) {
	b := testkit.StartBroker(t)
	for _, codec := range testkit.Codecs {
		t.Run(codec, func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
			want := testkit.MakeRecords(topic, "confluent-"+codec, recordsPerCodec, partitions)
			produceConfluent(t, b.Addr(), codec, want)
			ends := testkit.HighWatermarks(t, b.Addr(), topic)
			got := consumeConfluent(t, b.Addr(), topic, ends)
			testkit.RequireSameRecords(t, want, got)
		})
	}
}

// produceConfluent produces recs idempotently with acks=all and sets each
// record's offset from its delivery report.
func produceConfluent(t *testing.T, addr, codec string, recs []*kgo.Record) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":  addr,
		"client.id":          "strom-test-confluent",
		"acks":               "all",
		"enable.idempotence": true,
		"compression.codec":  codec,
		"linger.ms":          5,
		"message.timeout.ms": 60000,
	})
	if err != nil {
		t.Fatalf("kafka.NewProducer: %v", err)
	}
	defer p.Close()
	reports := make(chan kafka.Event, len(recs))
	for i, r := range recs {
		m := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &r.Topic, Partition: r.Partition},
			Key:            r.Key,
			Value:          r.Value,
			Opaque:         i,
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if err := p.Produce(m, reports); err != nil {
			t.Fatalf("Produce %d: %v", i, err)
		}
	}
	deadline := time.After(90 * time.Second)
	for n := 0; n < len(recs); n++ {
		select {
		case ev := <-reports:
			m, ok := ev.(*kafka.Message)
			if !ok {
				t.Fatalf("unexpected delivery event %T: %v", ev, ev)
			}
			if m.TopicPartition.Error != nil {
				t.Fatalf("delivery of record %v failed: %v", m.Opaque, m.TopicPartition.Error)
			}
			r := recs[m.Opaque.(int)]
			if m.TopicPartition.Partition != r.Partition {
				t.Fatalf("record %v delivered to partition %d, sent to %d", m.Opaque, m.TopicPartition.Partition, r.Partition)
			}
			r.Offset = int64(m.TopicPartition.Offset)
		case <-deadline:
			t.Fatalf("librdkafka: %d of %d delivery reports after 90s", n, len(recs))
		}
	}
}

// consumeConfluent reads each partition from offset 0 to its end with assign().
func consumeConfluent(t *testing.T, addr, topic string, ends map[int32]int64) []*kgo.Record {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":        addr,
		"client.id":                "strom-test-confluent",
		"group.id":                 "strom-test-unused",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"auto.offset.reset":        "error",
		"enable.partition.eof":     true,
	})
	if err != nil {
		t.Fatalf("kafka.NewConsumer: %v", err)
	}
	defer c.Close()
	var assign []kafka.TopicPartition
	remaining := 0
	for p, end := range ends {
		if end > 0 {
			assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(0)})
			remaining++
		}
	}
	if err := c.Assign(assign); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	var out []*kgo.Record
	done := map[int32]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(done) < remaining {
		if time.Now().After(deadline) {
			t.Fatalf("librdkafka consumer: %d records, partitions done %v of ends %v after 60s", len(out), done, ends)
		}
		switch ev := c.Poll(100).(type) {
		case *kafka.Message:
			r := &kgo.Record{Topic: *ev.TopicPartition.Topic, Partition: ev.TopicPartition.Partition,
				Offset: int64(ev.TopicPartition.Offset), Key: ev.Key, Value: ev.Value}
			for _, h := range ev.Headers {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
			if r.Offset < ends[r.Partition] {
				out = append(out, r)
			}
			if r.Offset+1 >= ends[r.Partition] {
				done[r.Partition] = true
			}
		case kafka.PartitionEOF:
			if int64(ev.Offset) >= ends[ev.Partition] {
				done[ev.Partition] = true
			}
		case kafka.Error:
			// Without group APIs on the broker, librdkafka's group
			// handler reports coordinator errors; reading does not
			// depend on them. Anything else is fatal.
			if ev.Code() == kafka.ErrCoordinatorNotAvailable {
				t.Logf("librdkafka (ignored, group-related): %v", ev)
				continue
			}
			t.Fatalf("librdkafka consumer error: %v (code %d)", ev, ev.Code())
		}
	}
	return out
}
