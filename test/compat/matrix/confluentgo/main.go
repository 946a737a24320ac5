// Command confluentgo runs the client-matrix scenario with
// confluent-kafka-go (librdkafka, linked statically by the module).
// Usage: confluentgo BOOTSTRAP TOPIC GROUP RF
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/test/compat/matrix/scenario"
)

func main() {
	a := scenario.ParseArgs()
	var r scenario.Run
	adm, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": a.Bootstrap})
	if err != nil {
		panic(err)
	}
	defer adm.Close()

	created := r.Step("create_topic", func(ctx context.Context) (string, error) {
		rs, err := adm.CreateTopics(ctx, []kafka.TopicSpecification{{
			Topic: a.Topic, NumPartitions: scenario.Partitions, ReplicationFactor: int(a.RF),
		}})
		if err != nil {
			return "", fmt.Errorf("create: %w", err)
		}
		if e := rs[0].Error; e.Code() != kafka.ErrNoError {
			return "", fmt.Errorf("create: %v", e)
		}
		err = scenario.Poll(ctx, func() (bool, string, error) {
			md, err := adm.GetMetadata(&a.Topic, false, 5000)
			if err != nil {
				return false, err.Error(), nil
			}
			tm := md.Topics[a.Topic]
			if tm.Error.Code() != kafka.ErrNoError || len(tm.Partitions) != scenario.Partitions {
				return false, fmt.Sprintf("topic: %v, %d partitions", tm.Error, len(tm.Partitions)), nil
			}
			for _, p := range tm.Partitions {
				if p.Leader < 0 {
					return false, fmt.Sprintf("partition %d has no leader", p.ID), nil
				}
			}
			return true, "", nil
		})
		return "3 partitions with leaders", err
	})
	if created {
		run(a, &r, adm)
	}
	r.Always("delete_topic", func(ctx context.Context) (string, error) {
		if !created {
			return "nothing created", nil
		}
		rs, err := adm.DeleteTopics(ctx, []string{a.Topic})
		if err != nil {
			return "", fmt.Errorf("delete: %w", err)
		}
		if e := rs[0].Error; e.Code() != kafka.ErrNoError {
			return "", fmt.Errorf("delete: %v", e)
		}
		err = scenario.Poll(ctx, func() (bool, string, error) {
			md, err := adm.GetMetadata(nil, true, 5000)
			if err != nil {
				return false, err.Error(), nil
			}
			_, listed := md.Topics[a.Topic]
			return !listed, "topic still listed", nil
		})
		return "topic gone from metadata", err
	})
	r.Exit()
}

func produce(ctx context.Context, a scenario.Args, codec, label string, n int) (string, error) {
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers": a.Bootstrap, "compression.type": codec, "linger.ms": 20, "acks": "all",
	})
	if err != nil {
		return "", err
	}
	defer p.Close()
	done := make(chan kafka.Event, n)
	for _, s := range scenario.Group(label, n) {
		m := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &a.Topic, Partition: kafka.PartitionAny},
			Key:            s.Key, Value: s.Value,
		}
		for _, h := range s.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if err := p.Produce(m, done); err != nil {
			return "", fmt.Errorf("produce: %w", err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case ev := <-done:
			if m, ok := ev.(*kafka.Message); !ok || m.TopicPartition.Error != nil {
				return "", fmt.Errorf("delivery: %v", ev)
			}
		case <-ctx.Done():
			return "", fmt.Errorf("%d of %d deliveries reported: %w", i, n, ctx.Err())
		}
	}
	return fmt.Sprintf("%d records acknowledged", n), nil
}

func newConsumer(a scenario.Args) (*kafka.Consumer, error) {
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers": a.Bootstrap, "group.id": a.Group,
		"enable.auto.commit": false, "auto.offset.reset": "earliest",
	})
	if err != nil {
		return nil, err
	}
	if err := c.Subscribe(a.Topic, nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func consume(ctx context.Context, c *kafka.Consumer, chk *scenario.Checker) error {
	for !chk.Done() {
		if ctx.Err() != nil {
			return fmt.Errorf("timed out with %s", chk.Progress())
		}
		m, err := c.ReadMessage(500 * time.Millisecond)
		if err != nil {
			var ke kafka.Error
			if errors.As(err, &ke) && ke.IsTimeout() {
				continue
			}
			return fmt.Errorf("read: %w", err)
		}
		got := scenario.Record{Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			got.Headers = append(got.Headers, scenario.Header{Key: h.Key, Value: h.Value})
		}
		if err := chk.Add(got, fmt.Sprintf("partition %d offset %v", m.TopicPartition.Partition, m.TopicPartition.Offset)); err != nil {
			return err
		}
	}
	return nil
}

func run(a scenario.Args, r *scenario.Run, adm *kafka.AdminClient) {
	var want []scenario.Record
	for _, c := range scenario.Codecs {
		if !r.Step("produce_"+c, func(ctx context.Context) (string, error) {
			return produce(ctx, a, c, c, scenario.PerCodec)
		}) {
			return
		}
		want = append(want, scenario.Group(c, scenario.PerCodec)...)
	}
	c, err := newConsumer(a)
	if err != nil {
		panic(err)
	}
	closed := false
	defer func() {
		if !closed {
			c.Close()
		}
	}()
	if !r.Step("consume_group", func(ctx context.Context) (string, error) {
		chk := scenario.NewChecker(want)
		if err := consume(ctx, c, chk); err != nil {
			return "", err
		}
		return chk.Progress() + " byte-exact", nil
	}) {
		return
	}
	if !r.Step("commit", func(ctx context.Context) (string, error) {
		if _, err := c.Commit(); err != nil {
			return "", fmt.Errorf("commit: %w", err)
		}
		var tps []kafka.TopicPartition
		for p := int32(0); p < scenario.Partitions; p++ {
			tps = append(tps, kafka.TopicPartition{Topic: &a.Topic, Partition: p})
		}
		committed, err := c.Committed(tps, 30000)
		if err != nil {
			return "", fmt.Errorf("committed: %w", err)
		}
		var sum int64
		for _, tp := range committed {
			_, high, err := c.QueryWatermarkOffsets(a.Topic, tp.Partition, 10000)
			if err != nil {
				return "", fmt.Errorf("watermarks: %w", err)
			}
			if int64(tp.Offset) != high {
				return "", fmt.Errorf("partition %d: committed %v, high watermark %d", tp.Partition, tp.Offset, high)
			}
			sum += high
		}
		return fmt.Sprintf("committed offsets equal high watermarks (sum %d)", sum), nil
	}) {
		return
	}
	closed = true
	if err := c.Close(); err != nil { // leaves the group
		r.Step("resume", func(context.Context) (string, error) { return "", fmt.Errorf("close consumer: %w", err) })
		return
	}
	r.Step("resume", func(ctx context.Context) (string, error) {
		if _, err := produce(ctx, a, "none", scenario.ResumeLabel, scenario.ResumeCount); err != nil {
			return "", err
		}
		c, err := newConsumer(a)
		if err != nil {
			return "", err
		}
		defer c.Close()
		if err := consume(ctx, c, scenario.NewChecker(scenario.Group(scenario.ResumeLabel, scenario.ResumeCount))); err != nil {
			return "", err
		}
		return fmt.Sprintf("restarted consumer got exactly the %d new records", scenario.ResumeCount), nil
	})
}
