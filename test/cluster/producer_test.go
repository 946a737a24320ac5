package cluster_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// startProducer keeps producing unique 100-byte records, at most 5,000 a
// second round-robin over the partitions (enough to keep every partition
// busy through a failover while keeping the checker's memory and the
// read-back small), with one idempotent acks=all franz-go client.
// Extra client options (an AckLedger's) are added to the test defaults.
func startProducer(t *testing.T, bootstrap, topic string, chk *testkit.Checker, extra ...kgo.Opt) *testkit.Producer {
	t.Helper()
	return testkit.StartProducer(t, bootstrap, chk, testkit.ProducerOptions{
		Record: func(i int) *kgo.Record {
			return &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: value100("franz", i)}
		},
		PerTick: 50,
		Tick:    10 * time.Millisecond,
		Opts: append([]kgo.Opt{
			testkit.Seeds(bootstrap),
			testkit.ManualPartitioner(),
			kgo.ProducerLinger(2 * time.Millisecond),
			kgo.MaxBufferedRecords(500),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
			kgo.MetadataMinAge(250 * time.Millisecond),
			// A frozen (SIGSTOP) or cut-off node never answers: give up on a
			// produce request after 6s and on any other request (metadata
			// included) after 2s, instead of franz-go's 20s and 10s, so the
			// producer finds the new leader within the failover bound.
			kgo.ProduceRequestTimeout(4 * time.Second),
			kgo.RequestTimeoutOverhead(2 * time.Second),
		}, extra...),
	})
}

// producerFinish bounds how long a producer may take to drain at the end.
const producerFinish = 60 * time.Second

// verify reads every partition through the cluster and checks it against
// what the producer was told.
func verify(t *testing.T, c *testkit.Cluster, topic string, chk *testkit.Checker) []*kgo.Record {
	t.Helper()
	// Read only once every node agrees on the leaders, so that no node
	// still holding an image from before a fault answers for them.
	addr := c.Node(c.WaitStable(t, topic, partitions)[0].Leader).KafkaAddr()
	read := testkit.ConsumePartitions(t, addr, topic, partitions, testkit.Seeds(c.Bootstrap()))
	// Violations are errors, not fatal, so that verifyLeaders still runs.
	res := chk.Check(read)
	for i, v := range res.Violations {
		if i == 20 {
			t.Errorf("... and %d more violations", len(res.Violations)-20)
			break
		}
		t.Errorf("%s", v)
	}
	if len(res.Violations) > 0 {
		t.Errorf("checker: %d violations (%d acknowledged records lost) over %d records read, %d attempted, %d acknowledged",
			len(res.Violations), res.Lost, res.Read, res.Attempted, res.Acked)
	}
	acked := res.Acked
	if acked == 0 {
		t.Fatalf("nothing was acknowledged; the check proves nothing")
	}
	t.Logf("verified %d records read against %d acknowledged", len(read), acked)
	return read
}

// verifyLeaders checks, with the records read back by verify, that no two
// nodes acknowledged acks=all writes to one partition in the same leader
// epoch and that no offset was acknowledged twice (testkit.AckLedger).
func verifyLeaders(t *testing.T, topic string, read []*kgo.Record, chk *testkit.Checker, l *testkit.AckLedger) {
	t.Helper()
	by := l.Acks()
	total := 0
	for _, n := range by {
		total += n
	}
	if total == 0 {
		t.Fatalf("the ack ledger saw no acknowledged produce batch; it checks nothing")
	}
	for _, e := range l.Excused() {
		t.Logf("ack ledger: %s", e)
	}
	for _, v := range l.Check(topic, read, chk) {
		t.Errorf("two leaders at once: %s", v)
	}
	t.Logf("ack ledger: batches acknowledged per node %v; one acknowledging node per partition and leader epoch", by)
}

func logf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("%s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
