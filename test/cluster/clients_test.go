package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// roundTripFor is how long each client produces in the round-trip tests.
const roundTripFor = 3 * time.Second

// TestFranzRoundTrip: franz-go bootstrapped through a non-controller node
// creates an RF=3 topic, produces 100-byte records with acks=all
// (idempotent) and reads them back: no loss, no duplicates, gapless offsets.
func TestFranzRoundTrip(t *testing.T) {
	c := testkit.StartCluster(t, nodes)
	boot := nonController(t, c).KafkaAddr()
	topic := testkit.TopicName(t, "")
	testkit.CreateTopicRF(t, boot, topic, partitions, rf, nil)
	c.WaitTopic(t, topic, partitions)

	cl := testkit.NewClient(t, boot, kgo.RequiredAcks(kgo.AllISRAcks()), testkit.ManualPartitioner(),
		kgo.ProducerLinger(2*time.Millisecond))
	chk := testkit.NewChecker()
	start := time.Now()
	for n := 0; time.Since(start) < roundTripFor; {
		recs := make([]*kgo.Record, 200)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Partition: int32(n % partitions), Value: value100("franz", n)}
			chk.Attempt(recs[i])
			n++
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res := cl.ProduceSync(ctx, recs...)
		cancel()
		for _, r := range res {
			chk.Done(r.Record, r.Err)
		}
		if err := res.FirstErr(); err != nil {
			t.Fatalf("franz-go produce: %v", err)
		}
	}
	read := testkit.ConsumePartitions(t, boot, topic, partitions)
	chk.Verify(t, read)
	if _, acked, _ := chk.Counts(); len(read) != acked {
		t.Errorf("read %d records, acknowledged %d", len(read), acked)
	}
}

// TestSaramaRoundTrip is the round trip with IBM/sarama: an idempotent
// SyncProducer with WaitForAll and one partition consumer per partition.
func TestSaramaRoundTrip(t *testing.T) {
	c := testkit.StartCluster(t, nodes)
	boot := nonController(t, c).KafkaAddr()
	topic := testkit.TopicName(t, "")

	cfg := sarama.NewConfig()
	cfg.ClientID = "strom-test-cluster-sarama"
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by sarama's idempotent producer
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Flush.Messages = 50
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Return.Errors = true

	adm, err := sarama.NewClusterAdmin([]string{boot}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewClusterAdmin: %v", err)
	}
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: rf}, false)
	adm.Close()
	if err != nil {
		t.Fatalf("sarama CreateTopic: %v", err)
	}
	c.WaitTopic(t, topic, partitions)

	prod, err := sarama.NewSyncProducer([]string{boot}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	chk := testkit.NewChecker()
	start := time.Now()
	for n := 0; time.Since(start) < roundTripFor; {
		msgs := make([]*sarama.ProducerMessage, 200)
		recs := make([]*kgo.Record, len(msgs))
		for i := range msgs {
			recs[i] = &kgo.Record{Topic: topic, Partition: int32(n % partitions), Value: value100("sarama", n)}
			chk.Attempt(recs[i])
			msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: recs[i].Partition, Value: sarama.ByteEncoder(recs[i].Value)}
			n++
		}
		if err := prod.SendMessages(msgs); err != nil {
			prod.Close()
			t.Fatalf("sarama SendMessages: %v", err)
		}
		for i, m := range msgs {
			if m.Partition != recs[i].Partition {
				t.Fatalf("sarama: record for partition %d acknowledged on %d", recs[i].Partition, m.Partition)
			}
			recs[i].Offset = m.Offset
			chk.Done(recs[i], nil)
		}
	}
	if err := prod.Close(); err != nil {
		t.Fatalf("sarama producer close: %v", err)
	}

	ends := testkit.HighWatermarks(t, boot, topic)
	cons, err := sarama.NewConsumer([]string{boot}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumer: %v", err)
	}
	defer cons.Close()
	var read []*kgo.Record
	for p := int32(0); p < partitions; p++ {
		if ends[p] == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama ConsumePartition %d: %v", p, err)
		}
		deadline := time.After(60 * time.Second)
	partition:
		for {
			select {
			case m := <-pc.Messages():
				read = append(read, &kgo.Record{Topic: topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value})
				if m.Offset+1 >= ends[p] {
					break partition
				}
			case err := <-pc.Errors():
				pc.Close()
				t.Fatalf("sarama consume %s/%d: %v", topic, p, err)
			case <-deadline:
				pc.Close()
				t.Fatalf("sarama consume %s/%d: not at end offset %d after 60s", topic, p, ends[p])
			}
		}
		pc.Close()
	}
	chk.Verify(t, read)
	if _, acked, _ := chk.Counts(); len(read) != acked {
		t.Errorf("read %d records, acknowledged %d", len(read), acked)
	}
}
