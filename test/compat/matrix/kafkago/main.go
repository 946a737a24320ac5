// Command kafkago runs the client-matrix scenario with segmentio/kafka-go.
// Usage: kafkago BOOTSTRAP TOPIC GROUP RF
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/strom-broker/strom/test/compat/matrix/scenario"
)

func main() {
	a := scenario.ParseArgs()
	var r scenario.Run
	cl := &kafka.Client{Addr: kafka.TCP(a.Brokers()...), Timeout: 30 * time.Second}

	created := r.Step("create_topic", func(ctx context.Context) (string, error) {
		resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic: a.Topic, NumPartitions: scenario.Partitions, ReplicationFactor: int(a.RF),
		}}})
		if err == nil {
			err = resp.Errors[a.Topic]
		}
		if err != nil {
			return "", fmt.Errorf("create: %w", err)
		}
		err = scenario.Poll(ctx, func() (bool, string, error) {
			md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{a.Topic}})
			if err != nil {
				return false, err.Error(), nil
			}
			if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != scenario.Partitions {
				return false, fmt.Sprintf("metadata %+v", md.Topics), nil
			}
			for _, p := range md.Topics[0].Partitions {
				if p.Leader.ID < 0 || p.Leader.Host == "" {
					return false, fmt.Sprintf("partition %d has no leader", p.ID), nil
				}
			}
			return true, "", nil
		})
		return "3 partitions with leaders", err
	})
	if created {
		run(a, &r, cl)
	}
	r.Always("delete_topic", func(ctx context.Context) (string, error) {
		if !created {
			return "nothing created", nil
		}
		resp, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{a.Topic}})
		if err == nil {
			err = resp.Errors[a.Topic]
		}
		if err != nil {
			return "", fmt.Errorf("delete: %w", err)
		}
		err = scenario.Poll(ctx, func() (bool, string, error) {
			md, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
			if err != nil {
				return false, err.Error(), nil
			}
			for _, t := range md.Topics {
				if t.Name == a.Topic {
					return false, "topic still listed", nil
				}
			}
			return true, "", nil
		})
		return "topic gone from metadata", err
	})
	r.Exit()
}

var codecs = map[string]kafka.Compression{
	"gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

func produce(ctx context.Context, a scenario.Args, codec, label string, n int) (string, error) {
	w := &kafka.Writer{
		Addr: kafka.TCP(a.Brokers()...), Topic: a.Topic, Balancer: &kafka.Hash{},
		Compression: codecs[codec], RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond,
	}
	defer w.Close()
	var msgs []kafka.Message
	for _, s := range scenario.Group(label, n) {
		m := kafka.Message{Key: s.Key, Value: s.Value}
		for _, h := range s.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs = append(msgs, m)
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return "", fmt.Errorf("produce: %w", err)
	}
	return fmt.Sprintf("%d records acknowledged", n), nil
}

func newReader(a scenario.Args) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: a.Brokers(), GroupID: a.Group, Topic: a.Topic,
		StartOffset: kafka.FirstOffset, MaxWait: 500 * time.Millisecond,
	})
}

// consume reads until the checker is satisfied and returns the last message
// of each partition, to commit.
func consume(ctx context.Context, rd *kafka.Reader, chk *scenario.Checker) (map[int]kafka.Message, error) {
	last := map[int]kafka.Message{}
	for !chk.Done() {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("timed out with %s", chk.Progress())
			}
			return nil, fmt.Errorf("fetch: %w", err)
		}
		got := scenario.Record{Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			got.Headers = append(got.Headers, scenario.Header{Key: h.Key, Value: h.Value})
		}
		if err := chk.Add(got, fmt.Sprintf("partition %d offset %d", m.Partition, m.Offset)); err != nil {
			return nil, err
		}
		last[m.Partition] = m
	}
	return last, nil
}

func run(a scenario.Args, r *scenario.Run, cl *kafka.Client) {
	var want []scenario.Record
	for _, c := range scenario.Codecs {
		if !r.Step("produce_"+c, func(ctx context.Context) (string, error) {
			return produce(ctx, a, c, c, scenario.PerCodec)
		}) {
			return
		}
		want = append(want, scenario.Group(c, scenario.PerCodec)...)
	}
	rd := newReader(a)
	var last map[int]kafka.Message
	ok := r.Step("consume_group", func(ctx context.Context) (string, error) {
		chk := scenario.NewChecker(want)
		var err error
		if last, err = consume(ctx, rd, chk); err != nil {
			return "", err
		}
		return chk.Progress() + " byte-exact", nil
	}) && r.Step("commit", func(ctx context.Context) (string, error) {
		var msgs []kafka.Message
		for _, m := range last {
			msgs = append(msgs, m)
		}
		if err := rd.CommitMessages(ctx, msgs...); err != nil {
			return "", fmt.Errorf("commit: %w", err)
		}
		parts := []int{0, 1, 2}
		of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: a.Group, Topics: map[string][]int{a.Topic: parts}})
		if err != nil {
			return "", fmt.Errorf("fetch offsets: %w", err)
		}
		var reqs []kafka.OffsetRequest
		for _, p := range parts {
			reqs = append(reqs, kafka.LastOffsetOf(p))
		}
		lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{a.Topic: reqs}})
		if err != nil {
			return "", fmt.Errorf("list offsets: %w", err)
		}
		ends := map[int]int64{}
		for _, po := range lo.Topics[a.Topic] {
			if po.Error != nil {
				return "", fmt.Errorf("list offsets partition %d: %w", po.Partition, po.Error)
			}
			ends[po.Partition] = po.LastOffset
		}
		var sum int64
		seen := 0
		for _, p := range of.Topics[a.Topic] {
			if p.Error != nil || p.CommittedOffset != ends[p.Partition] {
				return "", fmt.Errorf("partition %d: committed %d (%v), high watermark %d", p.Partition, p.CommittedOffset, p.Error, ends[p.Partition])
			}
			sum += p.CommittedOffset
			seen++
		}
		if seen != scenario.Partitions {
			return "", fmt.Errorf("offset fetch returned %d partitions", seen)
		}
		return fmt.Sprintf("committed offsets equal high watermarks (sum %d)", sum), nil
	})
	if err := rd.Close(); err != nil && ok { // leaves the group
		r.Step("resume", func(context.Context) (string, error) { return "", fmt.Errorf("close reader: %w", err) })
		return
	}
	if !ok {
		return
	}
	r.Step("resume", func(ctx context.Context) (string, error) {
		if _, err := produce(ctx, a, "none", scenario.ResumeLabel, scenario.ResumeCount); err != nil {
			return "", err
		}
		rd := newReader(a)
		defer rd.Close()
		if _, err := consume(ctx, rd, scenario.NewChecker(scenario.Group(scenario.ResumeLabel, scenario.ResumeCount))); err != nil {
			return "", err
		}
		return fmt.Sprintf("restarted consumer got exactly the %d new records", scenario.ResumeCount), nil
	})
}
