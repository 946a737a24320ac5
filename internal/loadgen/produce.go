package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// flushGrace bounds how long a cancelled run waits for records already
// handed to the client.
const flushGrace = 10 * time.Second

// producer is the state of one Produce run. Counters are atomics because
// franz-go calls promises from its own goroutines.
type producer struct {
	opts    Options
	cl      *kgo.Client
	payload []byte

	measureFrom time.Time // sends before this are warm-up

	sent     atomic.Int64 // all records handed to the client
	acked    atomic.Int64 // all records acknowledged, warm-up included
	measured atomic.Int64 // acknowledged records sent after warm-up
	errs     atomic.Int64
	failed   atomic.Bool
	firstErr atomic.Pointer[error]

	mu   sync.Mutex // guards hist
	hist *Histogram
}

// Produce sends records to opts.Topic, creating it when missing, and
// returns what it measured after the warm-up. It stops early on ctx
// cancellation (returning the partial result and ctx's error) or on the
// first failed record (returning the result and that error).
func Produce(ctx context.Context, opts Options) (Result, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Result{}, err
	}
	acks, _ := AcksOpt(o.Acks)
	comp, _ := CompressionOpt(o.Compression)
	kopts := append([]kgo.Opt{
		kgo.SeedBrokers(o.Bootstrap...),
		kgo.ClientID("strom-bench"),
		kgo.DefaultProduceTopic(o.Topic),
		kgo.MaxBufferedRecords(o.MaxBuffered),
		comp,
	}, acks...)
	if o.Linger > 0 {
		kopts = append(kopts, kgo.ProducerLinger(o.Linger))
	}
	if o.BatchMaxBytes > 0 {
		kopts = append(kopts, kgo.ProducerBatchMaxBytes(o.BatchMaxBytes))
	}
	cl, err := kgo.NewClient(append(kopts, o.ClientOpts...)...)
	if err != nil {
		return Result{}, fmt.Errorf("produce: new client: %w", err)
	}
	defer cl.Close()
	if err := EnsureTopic(ctx, cl, o.Topic, o.Partitions, o.ReplicationFactor); err != nil {
		return Result{}, fmt.Errorf("produce: %w", err)
	}
	p := &producer{opts: o, cl: cl, payload: Payload(o.RecordSize, 1), hist: NewHistogram()}
	return p.run(ctx)
}

// Payload returns n random upper-case letters, as Kafka's perf tool sends:
// compressible like text, not trivially so.
func Payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = 'A' + byte(r.IntN(26))
	}
	return b
}

func (p *producer) run(ctx context.Context) (Result, error) {
	start := time.Now()
	p.measureFrom = start.Add(p.opts.Warmup)
	stopProgress := startProgress(p.opts, func() (int64, int64, int64) {
		return p.acked.Load(), p.acked.Load() * int64(p.opts.RecordSize), p.sent.Load() - p.acked.Load()
	})
	sendErr := p.sendAll(ctx, start)

	// Wait for what is buffered; a cancelled run still gives those records
	// a short grace so the partial result counts them.
	flushCtx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		flushCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), flushGrace)
		defer cancel()
	}
	flushErr := p.cl.Flush(flushCtx)
	end := time.Now()
	stopProgress()

	p.mu.Lock()
	defer p.mu.Unlock()
	res := Result{
		Records:     p.measured.Load(),
		Bytes:       p.measured.Load() * int64(p.opts.RecordSize),
		Elapsed:     end.Sub(p.measureFrom),
		Errors:      p.errs.Load(),
		Latency:     p.hist,
		LatencyKind: "ack",
	}
	if e := p.firstErr.Load(); e != nil {
		return res, fmt.Errorf("produce: %d records failed, first: %w", res.Errors, *e)
	}
	if sendErr != nil {
		return res, sendErr
	}
	if flushErr != nil {
		return res, fmt.Errorf("produce: flush: %w", flushErr)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// sendAll runs the warm-up and then the measured phase, pacing sends to
// opts.Throughput. It returns ctx's error when cancelled.
func (p *producer) sendAll(ctx context.Context, start time.Time) error {
	var deadline time.Time
	if p.opts.NumRecords == 0 {
		deadline = p.measureFrom.Add(p.opts.Duration)
	}
	var measuredSent int64
	for i := int64(0); ; i++ {
		now := time.Now()
		measuring := !now.Before(p.measureFrom)
		if measuring {
			if p.opts.NumRecords > 0 && measuredSent >= p.opts.NumRecords {
				return nil
			}
			if !deadline.IsZero() && !now.Before(deadline) {
				return nil
			}
			measuredSent++
		}
		if p.failed.Load() {
			return nil
		}
		if err := pace(ctx, start, now, i, p.opts.Throughput); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		p.send(ctx, measuring)
	}
}

func (p *producer) send(ctx context.Context, measuring bool) {
	rec := &kgo.Record{Value: p.payload, Headers: benchHeaders}
	t0 := time.Now()
	p.sent.Add(1)
	p.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		p.acked.Add(1)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				p.errs.Add(1)
				if p.firstErr.CompareAndSwap(nil, &err) {
					p.failed.Store(true)
				}
			}
			return
		}
		if !measuring {
			return
		}
		lat := time.Since(t0)
		p.measured.Add(1)
		p.mu.Lock()
		p.hist.Record(int64(lat))
		p.mu.Unlock()
	})
}

// pace sleeps until record i is due at rate records/s; rate <= 0 never
// waits. It waits only when at least a millisecond ahead, so timer cost
// stays off the per-record path.
func pace(ctx context.Context, start, now time.Time, i int64, rate float64) error {
	if rate <= 0 {
		return nil
	}
	due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	ahead := due.Sub(now)
	if ahead < time.Millisecond {
		return nil
	}
	t := time.NewTimer(ahead)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// EnsureTopic creates topic when the cluster does not have it.
// partitions and rf of -1 let the broker choose.
func EnsureTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32, rf int16) error {
	adm := kadm.NewClient(cl)
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("list topic %s: %w", topic, err)
	}
	if td, ok := tds[topic]; ok && td.Err == nil {
		return nil
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, nil, topic)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, resp.Err)
	}
	return nil
}

// startProgress prints a line per interval with the rates since the last
// line; stats returns cumulative records, bytes, and current in-flight
// (negative when not meaningful).
// The returned function stops the printer and waits for it.
func startProgress(o Options, stats func() (records, bytes, inflight int64)) (stop func()) {
	if o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(o.ProgressInterval)
		defer t.Stop()
		last := time.Now()
		var lastRec, lastBytes int64
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				rec, b, inflight := stats()
				secs := now.Sub(last).Seconds()
				line := fmt.Sprintf("%10d records, %10.1f msg/s, %8.2f MB/s",
					rec, float64(rec-lastRec)/secs, float64(b-lastBytes)/(1<<20)/secs)
				if inflight >= 0 {
					line += fmt.Sprintf(", in-flight %d", inflight)
				}
				fmt.Fprintln(o.Progress, line)
				last, lastRec, lastBytes = now, rec, b
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
