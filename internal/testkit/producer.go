package testkit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ProducerOptions shape a Producer.
type ProducerOptions struct {
	// Record builds the i-th record (i from 0); Topic must be set.
	Record func(i int) *kgo.Record
	// PerTick records are produced every Tick; 0 produces as fast as the
	// client's buffer (kgo.MaxBufferedRecords) lets the loop go.
	PerTick int
	Tick    time.Duration
	// Client options, added to acks=all (franz-go's default, with
	// idempotence on) and the package's test defaults.
	Opts []kgo.Opt
	// OnDone, if set, is called with each record's outcome after the
	// checker is told (from the client's promise goroutine).
	OnDone func(r *kgo.Record, err error)
}

// Producer keeps producing records with one idempotent acks=all franz-go
// client until Finish, telling a Checker what it attempted and what was
// acknowledged, and counting acknowledgements per partition. It is the
// background load of the kill, pause, cut and restart tests.
type Producer struct {
	cl       *kgo.Client
	chk      *Checker
	o        ProducerOptions
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu struct {
		sync.Mutex
		acked   map[int32]int // acknowledged records per partition
		lastErr error
	}
}

// StartProducer starts producing through bootstrap in the background.
func StartProducer(t testing.TB, bootstrap string, chk *Checker, o ProducerOptions) *Producer {
	t.Helper()
	if o.Record == nil {
		t.Fatal("StartProducer: ProducerOptions.Record is required")
	}
	if o.PerTick > 0 && o.Tick <= 0 {
		o.Tick = 10 * time.Millisecond
	}
	p := &Producer{chk: chk, o: o, stop: make(chan struct{}), done: make(chan struct{})}
	p.mu.acked = map[int32]int{}
	// Registered before the client's cleanup, so it runs after the client
	// is closed, which unblocks a Produce waiting for buffer space.
	t.Cleanup(func() {
		p.stopOnce.Do(func() { close(p.stop) })
		if p.cl != nil { // nil: NewClient failed the test, run never started
			<-p.done
		}
	})
	p.cl = NewClient(t, bootstrap, append([]kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, o.Opts...)...)
	go p.run()
	return p
}

func (p *Producer) run() {
	defer close(p.done)
	var tick <-chan time.Time
	if p.o.PerTick > 0 {
		t := time.NewTicker(p.o.Tick)
		defer t.Stop()
		tick = t.C
	}
	for i := 0; ; {
		if tick != nil {
			select {
			case <-p.stop:
				return
			case <-tick:
			}
		} else {
			select {
			case <-p.stop:
				return
			default:
			}
		}
		for range max(p.o.PerTick, 1) {
			r := p.o.Record(i)
			i++
			p.chk.Attempt(r)
			// Produce blocks while MaxBufferedRecords are in flight,
			// which holds this loop back while a partition has no usable
			// leader or the broker is down.
			p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
				p.chk.Done(r, err)
				if p.o.OnDone != nil {
					p.o.OnDone(r, err)
				}
				p.mu.Lock()
				defer p.mu.Unlock()
				if err == nil {
					p.mu.acked[r.Partition]++
				} else {
					p.mu.lastErr = err
				}
			})
		}
	}
}

// Acked returns the acknowledged records of partition part, or of all
// partitions when part is -1.
func (p *Producer) Acked(part int32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if part >= 0 {
		return p.mu.acked[part]
	}
	n := 0
	for _, c := range p.mu.acked {
		n += c
	}
	return n
}

// WaitMore polls until partition part (-1: all) has n more acknowledged
// records than when called, and fails the test after timeout.
func (p *Producer) WaitMore(t testing.TB, part int32, n int, timeout time.Duration, what string) {
	t.Helper()
	start := p.Acked(part)
	deadline := time.Now().Add(timeout)
	for p.Acked(part) < start+n {
		if time.Now().After(deadline) {
			a, ok, f := p.chk.Counts()
			p.mu.Lock()
			lastErr := p.mu.lastErr
			p.mu.Unlock()
			t.Fatalf("%s: partition %d got %d more acknowledgements in %v, want %d (attempted %d, acked %d, failed %d; last error %v; first failures %v)",
				what, part, p.Acked(part)-start, timeout, n, a, ok, f, lastErr, p.chk.Failures(3))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Finish stops producing and waits up to timeout for every buffered
// record's outcome.
func (p *Producer) Finish(t testing.TB, timeout time.Duration) {
	t.Helper()
	p.stopOnce.Do(func() { close(p.stop) })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatalf("producer loop did not stop within %v (blocked on a full buffer)", timeout)
	}
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatalf("flush after stopping the producer: %v (records still buffered: %d)", err, p.cl.BufferedProduceRecords())
	}
	attempted, acked, failed := p.chk.Counts()
	t.Logf("producer: attempted %d, acknowledged %d, failed %d %v", attempted, acked, failed, p.chk.Failures(3))
}
