package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// producer keeps producing unique 100-byte records, round-robin over the
// partitions, with one idempotent acks=all franz-go client until finished,
// telling the checker what it attempted and what was acknowledged.
type producer struct {
	cl       *kgo.Client
	chk      *testkit.Checker
	topic    string
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu struct {
		sync.Mutex
		acked   map[int32]int // acknowledged records per partition
		lastErr error
	}
}

func startProducer(t *testing.T, bootstrap, topic string, chk *testkit.Checker) *producer {
	t.Helper()
	p := &producer{chk: chk, topic: topic, stop: make(chan struct{}), done: make(chan struct{})}
	p.mu.acked = map[int32]int{}
	// Registered before the client's cleanup, so it runs after the client
	// is closed, which unblocks a Produce waiting for buffer space.
	t.Cleanup(func() {
		p.stopOnce.Do(func() { close(p.stop) })
		<-p.done
	})
	p.cl = testkit.NewClient(t, bootstrap, testkit.Seeds(bootstrap),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		testkit.ManualPartitioner(),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MaxBufferedRecords(500),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.MetadataMinAge(250*time.Millisecond),
		// A frozen (SIGSTOP) or cut-off node never answers: give up on a
		// produce request after 6s and on any other request (metadata
		// included) after 2s, instead of franz-go's 20s and 10s, so the
		// producer finds the new leader within the failover bound.
		kgo.ProduceRequestTimeout(4*time.Second),
		kgo.RequestTimeoutOverhead(2*time.Second),
	)
	go p.run()
	return p
}

// producePerTick records are produced every tick of producerTick: at most
// 5,000 records a second, enough to keep every partition busy through a
// failover while keeping the checker's memory and the read-back small.
const (
	producePerTick = 50
	producerTick   = 10 * time.Millisecond
)

func (p *producer) run() {
	defer close(p.done)
	tick := time.NewTicker(producerTick)
	defer tick.Stop()
	for i := 0; ; {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		for range producePerTick {
			r := &kgo.Record{Topic: p.topic, Partition: int32(i % partitions), Value: value100("franz", i)}
			i++
			p.chk.Attempt(r)
			// Produce blocks while MaxBufferedRecords are in flight,
			// which holds this loop back while a partition has no
			// usable leader.
			p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
				p.chk.Done(r, err)
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

// acked returns acknowledged records of partition p, or of all partitions
// when p is -1.
func (p *producer) acked(part int32) int {
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

// waitMore polls until partition part (-1: all) has n more acknowledged
// records than it had when called, and fails the test after timeout.
func (p *producer) waitMore(t *testing.T, part int32, n int, timeout time.Duration, what string) {
	t.Helper()
	start := p.acked(part)
	deadline := time.Now().Add(timeout)
	for p.acked(part) < start+n {
		if time.Now().After(deadline) {
			a, ok, f := p.chk.Counts()
			p.mu.Lock()
			lastErr := p.mu.lastErr
			p.mu.Unlock()
			t.Fatalf("%s: partition %d got %d more acknowledgements in %v, want %d (attempted %d, acked %d, failed %d; last error %v)",
				what, part, p.acked(part)-start, timeout, n, a, ok, f, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish stops producing and waits for every buffered record's outcome.
func (p *producer) finish(t *testing.T) {
	t.Helper()
	p.stopOnce.Do(func() { close(p.stop) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatalf("producer loop did not stop within 60s (blocked on a full buffer)")
	}
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatalf("flush after stopping the producer: %v (records still buffered: %d)", err, p.cl.BufferedProduceRecords())
	}
	attempted, acked, failed := p.chk.Counts()
	t.Logf("producer: attempted %d, acknowledged %d, failed %d %v", attempted, acked, failed, p.chk.Failures(3))
}

// verify reads every partition through the cluster and checks it against
// what the producer was told.
func verify(t *testing.T, c *testkit.Cluster, topic string, chk *testkit.Checker) {
	t.Helper()
	// Read only once every node agrees on the leaders, so that no node
	// still holding an image from before a fault answers for them.
	addr := c.Node(c.WaitStable(t, topic, partitions)[0].Leader).KafkaAddr()
	read := testkit.ConsumePartitions(t, addr, topic, partitions, testkit.Seeds(c.Bootstrap()))
	chk.Verify(t, read)
	_, acked, _ := chk.Counts()
	if acked == 0 {
		t.Fatalf("nothing was acknowledged; the check proves nothing")
	}
	t.Logf("verified %d records read against %d acknowledged", len(read), acked)
}

func logf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("%s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
