package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// rdkafkaProducer is librdkafka's transactional producer (acks=all and
// idempotence are implied by transactional.id), delivery reports off.
type rdkafkaProducer struct {
	p     *kafka.Producer
	topic string
	parts int32
	next  int32
}

func newRdkafkaProducer(addr, topic string, size int) (txnProducer, error) {
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":            addr,
		"transactional.id":             topic,
		"acks":                         "all",
		"linger.ms":                    5,
		"go.delivery.reports":          false,
		"queue.buffering.max.messages": max(size*2, 100000),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("init_transactions: %w", err)
	}
	return &rdkafkaProducer{p: p, topic: topic}, nil
}

func (r *rdkafkaProducer) close() { r.p.Close() }

func (r *rdkafkaProducer) txn(ctx context.Context, size int, value []byte) (time.Duration, error) {
	if err := r.p.BeginTransaction(); err != nil {
		return 0, err
	}
	for range size {
		// The default partitioner: records without a key spread over
		// the partitions as librdkafka's sticky partitioner places them.
		msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &r.topic, Partition: kafka.PartitionAny}, Value: value}
		for {
			err := r.p.Produce(msg, nil)
			var kerr kafka.Error
			if errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull {
				r.p.Flush(10)
				continue
			}
			if err != nil {
				return 0, err
			}
			break
		}
	}
	for r.p.Flush(10_000) > 0 {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	t0 := time.Now()
	err := r.p.CommitTransaction(ctx)
	return time.Since(t0), err
}

// consumeRate reads total records of topic from the start with a
// librdkafka consumer (assigned partitions, no group) at the given
// isolation level and returns records per second.
func consumeRate(addr, topic string, partitions, total int, committed bool) (float64, error) {
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  addr,
		"group.id":           "bench-txn-reader",
		"isolation.level":    iso,
		"enable.auto.commit": false,
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for p := range int32(partitions) {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(5 * time.Minute)
	var t0 time.Time
	for n := 0; n < total; {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("read %d of %d records", n, total)
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if n == 0 {
				t0 = time.Now()
			}
			n++
		case kafka.Error:
			if e.IsFatal() {
				return 0, e
			}
		}
	}
	return float64(total-1) / time.Since(t0).Seconds(), nil
}
