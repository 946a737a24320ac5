// Package crash_test kills and restarts strom processes under a producer and
// checks that every acknowledged record survives, at its offset, exactly once.
package crash_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const crashPartitions = 4

// producer keeps producing unique records with one idempotent acks=all
// franz-go client until stopped, telling the checker what it attempted and
// what was acknowledged.
type producer struct {
	cl       *kgo.Client
	chk      *testkit.Checker
	topic    string
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	mu       sync.Mutex
	acked    int
}

func startProducer(t *testing.T, addr, topic string, chk *testkit.Checker) *producer {
	p := &producer{chk: chk, topic: topic, stop: make(chan struct{}), done: make(chan struct{})}
	// Registered before the client's cleanup, so it runs after the client is
	// closed, which unblocks a Produce waiting for buffer space.
	t.Cleanup(func() {
		p.stopOnce.Do(func() { close(p.stop) })
		<-p.done
	})
	p.cl = testkit.NewClient(t, addr,
		kgo.RequiredAcks(kgo.AllISRAcks()), // also franz-go's default, with idempotence on
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MaxBufferedRecords(2000),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
	)
	go p.run()
	return p
}

func (p *producer) run() {
	defer close(p.done)
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		default:
		}
		r := &kgo.Record{
			Topic:   p.topic,
			Key:     []byte(fmt.Sprintf("k%d", i%64)),
			Value:   []byte(fmt.Sprintf("crash-%07d-%s", i, strings.Repeat("x", i%200))),
			Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(fmt.Sprint(i))}},
		}
		p.chk.Attempt(r)
		// Produce blocks while MaxBufferedRecords are in flight, which
		// paces this loop to the broker.
		p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			p.chk.Done(r, err)
			if err == nil {
				p.mu.Lock()
				p.acked++
				p.mu.Unlock()
			}
		})
	}
}

func (p *producer) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

// waitAcked polls until at least n records are acknowledged.
func (p *producer) waitAcked(t *testing.T, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for p.ackedCount() < n {
		if time.Now().After(deadline) {
			a, ok, f := p.chk.Counts()
			t.Fatalf("%s: %d acknowledged after 90s, want %d (attempted %d, acked %d, failed %d: %v)",
				what, p.ackedCount(), n, a, ok, f, p.chk.Failures(5))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish stops producing and waits for every buffered record's outcome.
func (p *producer) finish(t *testing.T) {
	t.Helper()
	p.stopOnce.Do(func() { close(p.stop) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatalf("producer loop did not stop within 90s (blocked on a full buffer)")
	}
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatalf("flush after stopping the producer: %v (records still buffered: %d)", err, p.cl.BufferedProduceRecords())
	}
}

// TestKillDuringProduce SIGKILLs the broker three times while an idempotent
// producer with unlimited retries is writing to several partitions. The same
// producer carries on after each restart, retrying what was in flight: the
// broker must keep every acknowledged write and must deduplicate retried
// batches it had written but not acknowledged before it died.
func TestKillDuringProduce(t *testing.T) {
	proc := testkit.StartProcess(t, testkit.ProcessOptions{})
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, proc.Addr(), topic, crashPartitions, nil)
	chk := testkit.NewChecker()
	p := startProducer(t, proc.Addr(), topic, chk)

	for round := 1; round <= 3; round++ {
		// Targets are relative so that every round kills under load and
		// sees new acknowledgements after its restart.
		p.waitAcked(t, p.ackedCount()+1500, fmt.Sprintf("round %d before kill", round))
		proc.Kill(t)
		a, ok, _ := chk.Counts()
		t.Logf("round %d: killed with %d records attempted, %d acknowledged", round, a, ok)
		proc.Restart(t)
		p.waitAcked(t, ok+500, fmt.Sprintf("round %d after restart", round))
	}
	p.finish(t)

	attempted, acked, failed := chk.Counts()
	t.Logf("attempted %d, acknowledged %d, failed %d", attempted, acked, failed)
	if failed > 0 {
		// With unlimited retries and a broker that came back, an
		// idempotent producer should never give up on a record.
		t.Errorf("%d records failed; first errors: %v", failed, chk.Failures(10))
	}
	read := testkit.ConsumePartitions(t, proc.Addr(), topic, crashPartitions)
	chk.Verify(t, read)
	if failed == 0 && len(read) != attempted {
		t.Errorf("read %d records, produced and acknowledged %d", len(read), attempted)
	}
}

// TestStopAndRestart stops the broker with SIGTERM, which must exit 0, and
// checks that a restart serves everything written before, and that new
// writes continue at the next offsets.
func TestStopAndRestart(t *testing.T) {
	proc := testkit.StartProcess(t, testkit.ProcessOptions{})
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, proc.Addr(), topic, crashPartitions, nil)

	first := testkit.MakeRecords(topic, "before", 1000, crashPartitions)
	cl := testkit.NewClient(t, proc.Addr(), testkit.ManualPartitioner())
	testkit.ProduceSync(t, cl, first)
	cl.Close()

	proc.Stop(t)
	proc.Restart(t)

	got := testkit.ConsumePartitions(t, proc.Addr(), topic, crashPartitions)
	testkit.RequireSameRecords(t, first, got)

	second := testkit.MakeRecords(topic, "after", 400, crashPartitions)
	cl = testkit.NewClient(t, proc.Addr(), testkit.ManualPartitioner())
	testkit.ProduceSync(t, cl, second)
	cl.Close()
	for _, r := range second {
		// Each partition already held 1000/crashPartitions records.
		if want := int64(1000 / crashPartitions); r.Offset < want {
			t.Fatalf("record after restart acknowledged at %d/%d, below the %d records already there", r.Partition, r.Offset, want)
		}
	}
	all := append(append([]*kgo.Record{}, first...), second...)
	got = testkit.ConsumePartitions(t, proc.Addr(), topic, crashPartitions)
	testkit.RequireSameRecords(t, all, got)

	// A second clean cycle with nothing new written keeps the log as is.
	proc.Stop(t)
	proc.Restart(t)
	got = testkit.ConsumePartitions(t, proc.Addr(), topic, crashPartitions)
	testkit.RequireSameRecords(t, all, got)
}
