// Package crash_test kills and restarts strom processes under a producer and
// checks that every acknowledged record survives, at its offset, exactly once.
package crash_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const crashPartitions = 4

// startProducer keeps producing unique keyed records with headers, lz4
// compressed, as fast as the broker takes them, with one idempotent
// acks=all franz-go client.
func startProducer(t *testing.T, addr, topic string, chk *testkit.Checker) *testkit.Producer {
	t.Helper()
	return testkit.StartProducer(t, addr, chk, testkit.ProducerOptions{
		Record: func(i int) *kgo.Record {
			return &kgo.Record{
				Topic:   topic,
				Key:     []byte(fmt.Sprintf("k%d", i%64)),
				Value:   []byte(fmt.Sprintf("crash-%07d-%s", i, strings.Repeat("x", i%200))),
				Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(fmt.Sprint(i))}},
			}
		},
		Opts: []kgo.Opt{
			kgo.ProducerLinger(2 * time.Millisecond),
			kgo.MaxBufferedRecords(2000),
			kgo.ProducerBatchCompression(kgo.Lz4Compression()),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		},
	})
}

// waitFor bounds each wait for new acknowledgements (after a restart has
// returned) and the producer's final drain.
const waitFor = 90 * time.Second

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
		p.WaitMore(t, -1, 1500, waitFor, fmt.Sprintf("round %d before kill", round))
		proc.Kill(t)
		a, ok, _ := chk.Counts()
		t.Logf("round %d: killed with %d records attempted, %d acknowledged", round, a, ok)
		proc.Restart(t)
		p.WaitMore(t, -1, 500, waitFor, fmt.Sprintf("round %d after restart", round))
	}
	p.Finish(t, waitFor)

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
