// Command franzgo runs the client-matrix scenario with franz-go (kgo, kadm).
// Usage: franzgo BOOTSTRAP TOPIC GROUP RF
package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/test/compat/matrix/scenario"
)

func main() {
	a := scenario.ParseArgs()
	var r scenario.Run
	admCl, err := kgo.NewClient(kgo.SeedBrokers(a.Brokers()...))
	if err != nil {
		panic(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	created := r.Step("create_topic", func(ctx context.Context) (string, error) {
		resp, err := adm.CreateTopic(ctx, scenario.Partitions, a.RF, nil, a.Topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return "", fmt.Errorf("create: %w", err)
		}
		err = scenario.Poll(ctx, func() (bool, string, error) {
			td, err := adm.ListTopics(ctx, a.Topic)
			if err != nil {
				return false, err.Error(), nil
			}
			d := td[a.Topic]
			if d.Err != nil || len(d.Partitions) != scenario.Partitions {
				return false, fmt.Sprintf("topic: err %v, %d partitions", d.Err, len(d.Partitions)), nil
			}
			for _, p := range d.Partitions {
				if p.Leader < 0 {
					return false, fmt.Sprintf("partition %d has no leader", p.Partition), nil
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
		resp, err := adm.DeleteTopic(ctx, a.Topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return "", fmt.Errorf("delete: %w", err)
		}
		err = scenario.Poll(ctx, func() (bool, string, error) {
			td, err := adm.ListTopics(ctx)
			if err != nil {
				return false, err.Error(), nil
			}
			return !td.Has(a.Topic), "topic still listed", nil
		})
		return "topic gone from metadata", err
	})
	r.Exit()
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func produce(ctx context.Context, a scenario.Args, codecName, label string, n int) (string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Brokers()...), kgo.ProducerBatchCompression(codec(codecName)),
		kgo.ProducerLinger(0))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, s := range scenario.Group(label, n) {
		r := &kgo.Record{Topic: a.Topic, Key: s.Key, Value: s.Value}
		for _, h := range s.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return "", fmt.Errorf("produce: %w", err)
	}
	return fmt.Sprintf("%d records acknowledged", n), nil
}

func newConsumer(a scenario.Args) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(a.Brokers()...), kgo.ConsumerGroup(a.Group), kgo.ConsumeTopics(a.Topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
}

func consume(ctx context.Context, cl *kgo.Client, c *scenario.Checker) error {
	for !c.Done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("timed out with %s", c.Progress())
		}
		var err error
		fs.EachError(func(t string, p int32, e error) {
			if err == nil {
				err = fmt.Errorf("fetch %s/%d: %w", t, p, e)
			}
		})
		if err != nil {
			return err
		}
		for _, rec := range fs.Records() {
			got := scenario.Record{Key: rec.Key, Value: rec.Value}
			for _, h := range rec.Headers {
				got.Headers = append(got.Headers, scenario.Header{Key: h.Key, Value: h.Value})
			}
			if err := c.Add(got, fmt.Sprintf("partition %d offset %d", rec.Partition, rec.Offset)); err != nil {
				return err
			}
		}
	}
	return nil
}

func run(a scenario.Args, r *scenario.Run, adm *kadm.Client) {
	var want []scenario.Record
	for _, c := range scenario.Codecs {
		if !r.Step("produce_"+c, func(ctx context.Context) (string, error) {
			return produce(ctx, a, c, c, scenario.PerCodec)
		}) {
			return
		}
		want = append(want, scenario.Group(c, scenario.PerCodec)...)
	}
	cl, err := newConsumer(a)
	if err != nil {
		panic(err)
	}
	closed := false
	defer func() {
		if !closed {
			cl.Close()
		}
	}()
	if !r.Step("consume_group", func(ctx context.Context) (string, error) {
		c := scenario.NewChecker(want)
		if err := consume(ctx, cl, c); err != nil {
			return "", err
		}
		return c.Progress() + " byte-exact", nil
	}) {
		return
	}
	if !r.Step("commit", func(ctx context.Context) (string, error) {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return "", fmt.Errorf("commit: %w", err)
		}
		committed, err := adm.FetchOffsets(ctx, a.Group)
		if err != nil {
			return "", fmt.Errorf("fetch offsets: %w", err)
		}
		ends, err := adm.ListEndOffsets(ctx, a.Topic)
		if err != nil {
			return "", fmt.Errorf("list end offsets: %w", err)
		}
		var sum int64
		for p := int32(0); p < scenario.Partitions; p++ {
			end, _ := ends.Lookup(a.Topic, p)
			got, ok := committed.Lookup(a.Topic, p)
			if !ok || got.At != end.Offset {
				return "", fmt.Errorf("partition %d: committed %d (present %v), high watermark %d", p, got.At, ok, end.Offset)
			}
			sum += end.Offset
		}
		return fmt.Sprintf("committed offsets equal high watermarks (sum %d)", sum), nil
	}) {
		return
	}
	cl.Close() // leaves the group
	closed = true
	r.Step("resume", func(ctx context.Context) (string, error) {
		if _, err := produce(ctx, a, "none", scenario.ResumeLabel, scenario.ResumeCount); err != nil {
			return "", err
		}
		cl, err := newConsumer(a)
		if err != nil {
			return "", err
		}
		defer cl.Close()
		if err := consume(ctx, cl, scenario.NewChecker(scenario.Group(scenario.ResumeLabel, scenario.ResumeCount))); err != nil {
			return "", err
		}
		return fmt.Sprintf("restarted consumer got exactly the %d new records", scenario.ResumeCount), nil
	})
}
