package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchHeader marks the records Produce writes: Consume measures end-to-end
// latency only on those, and only on the ones written after it started, so
// an old backlog (or another producer's records, with their own clocks and
// timestamps) does not count as latency.
const BenchHeader = "strom-bench"

// benchHeaders is shared by every record Produce writes; nothing mutates it.
var benchHeaders = []kgo.RecordHeader{{Key: BenchHeader}}

func isBenchRecord(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == BenchHeader {
			return true
		}
	}
	return false
}

// Consume reads opts.Topic from the earliest offset until opts.NumRecords
// records have arrived (0 = no limit) or none has arrived for
// opts.IdleTimeout, and reports the rate from the start to the last record
// received. End-to-end latency (receive time minus the record's timestamp)
// counts only records Produce wrote after Consume started. With opts.Group
// set it joins that group and commits nothing.
func Consume(ctx context.Context, opts Options) (Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(o.Bootstrap...),
		kgo.ClientID("strom-bench"),
		kgo.ConsumeTopics(o.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if o.Group != "" {
		kopts = append(kopts, kgo.ConsumerGroup(o.Group), kgo.DisableAutoCommit())
	}
	cl, err := kgo.NewClient(append(kopts, o.ClientOpts...)...)
	if err != nil {
		return Result{}, fmt.Errorf("consume: new client: %w", err)
	}
	defer cl.Close()

	var records, bytes atomic.Int64
	stopProgress := startProgress(o, func() (int64, int64, int64) { return records.Load(), bytes.Load(), -1 })
	defer stopProgress()

	hist := NewHistogram()
	start := time.Now()
	measureFrom := start.Truncate(time.Millisecond)
	last := start
	for o.NumRecords == 0 || records.Load() < o.NumRecords {
		pollCtx, cancel := context.WithDeadline(ctx, last.Add(o.IdleTimeout))
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if err := ctx.Err(); err != nil {
			return consumeResult(records.Load(), bytes.Load(), last.Sub(start), hist), err
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && fetchErr == nil {
				fetchErr = fmt.Errorf("consume %s[%d]: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			return consumeResult(records.Load(), bytes.Load(), last.Sub(start), hist), fetchErr
		}
		if fetches.NumRecords() == 0 {
			if !time.Now().Before(last.Add(o.IdleTimeout)) {
				break
			}
			continue
		}
		now := time.Now()
		fetches.EachRecord(func(r *kgo.Record) {
			if o.NumRecords > 0 && records.Load() >= o.NumRecords {
				return // count exactly NumRecords, as Kafka's perf tool does
			}
			records.Add(1)
			bytes.Add(int64(len(r.Value)))
			// Timestamps are whole milliseconds: compare with the start
			// truncated alike.
			if isBenchRecord(r) && !r.Timestamp.Before(measureFrom) {
				hist.Record(int64(now.Sub(r.Timestamp)))
			}
		})
		last = now
	}
	return consumeResult(records.Load(), bytes.Load(), last.Sub(start), hist), nil
}

func consumeResult(records, bytes int64, elapsed time.Duration, h *Histogram) Result {
	return Result{Records: records, Bytes: bytes, Elapsed: elapsed, Latency: h, LatencyKind: "end-to-end"}
}
