//go:build cgo

package txn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestLibrdkafkaCluster runs librdkafka's transactional producer and
// read_committed consumer (confluent-kafka-go) against a 3-node cluster,
// each node its own process, with every topic at replication factor 3.
// The default run has one scenario (commit and abort, lz4); the others
// run with STROM_TXN=full (make txn-full).
func TestLibrdkafkaCluster(t *testing.T) {
	c := testkit.StartCluster(t, 3, testkit.WithNodeTOML("transaction_state_partitions = 3\noffsets_topic_partitions = 3\n"))
	addr := c.Bootstrap()
	t.Run("commit-abort-lz4", func(t *testing.T) { rdkCommitAbort(t, addr, "lz4") })
	for _, sc := range []struct {
		name string
		run  func(t *testing.T, addr string)
	}{
		{"commit-abort-none", func(t *testing.T, addr string) { rdkCommitAbort(t, addr, "none") }},
		{"commit-abort-zstd", func(t *testing.T, addr string) { rdkCommitAbort(t, addr, "zstd") }},
		{"empty", rdkEmptyTransactions},
		{"fencing", rdkClusterFencing},
		{"consume-transform-produce", rdkConsumeTransformProduce},
		{"lag-from-lso", rdkLagFromLSO},
		{"kcat", kcatClusterProduce},
	} {
		t.Run(sc.name, func(t *testing.T) {
			fullTxn(t)
			sc.run(t, addr)
		})
	}
}

// newRdkTxnProducer is a librdkafka transactional producer (acks=all,
// idempotent by implication) on addr whose init_transactions succeeded.
func newRdkTxnProducer(t *testing.T, addr, txnID string, extra kafka.ConfigMap) *kafka.Producer {
	t.Helper()
	cm := kafka.ConfigMap{
		"bootstrap.servers":      addr,
		"client.id":              "strom-test-txn-cluster",
		"transactional.id":       txnID,
		"transaction.timeout.ms": 60000,
		"message.timeout.ms":     60000,
		"linger.ms":              5,
	}
	for k, v := range extra {
		cm[k] = v
	}
	p, err := kafka.NewProducer(&cm)
	if err != nil {
		t.Fatalf("kafka.NewProducer: %v", err)
	}
	t.Cleanup(p.Close)
	go func() { // delivery reports: nothing to do, but the channel must drain
		for range p.Events() {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("init_transactions %s: %v", txnID, err)
	}
	return p
}

func createRF3(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(testkit.NewClient(t, addr, seeds(addr)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if r, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
}

func rdkProduce(t *testing.T, p *kafka.Producer, topic string, partition int32, value string) {
	t.Helper()
	msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition}, Value: []byte(value)}
	for {
		err := p.Produce(msg, nil)
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull {
			p.Flush(100)
			continue
		}
		if err != nil {
			t.Fatalf("produce %s: %v", value, err)
		}
		return
	}
}

// rdkReadCommitted reads every partition of topic from its start with a
// read_committed librdkafka consumer until it has at least want records
// and every partition reported its end (the last stable offset) after the
// last record, and returns the values read.
func rdkReadCommitted(t *testing.T, addr, topic string, partitions int32, want int) []string {
	t.Helper()
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":    addr,
		"group.id":             "unused-" + topic,
		"isolation.level":      "read_committed",
		"enable.partition.eof": true,
		"enable.auto.commit":   false,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var tps []kafka.TopicPartition
	for p := range partitions {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := cons.Assign(tps); err != nil {
		t.Fatal(err)
	}
	atEnd := map[int32]bool{}
	var got []string
	deadline := time.Now().Add(90 * time.Second)
	for len(got) < want || len(atEnd) < int(partitions) {
		if time.Now().After(deadline) {
			t.Fatalf("read_committed read %d of %d records of %s, %d partitions at their end", len(got), want, topic, len(atEnd))
		}
		switch e := cons.Poll(200).(type) {
		case *kafka.Message:
			got = append(got, string(e.Value))
			delete(atEnd, e.TopicPartition.Partition)
		case kafka.PartitionEOF:
			atEnd[e.Partition] = true
		case kafka.Error:
			if e.IsFatal() {
				t.Fatalf("consumer: %v", e)
			}
		}
	}
	return got
}

// rdkCommitAbort: transactions over three partitions, committed and
// aborted in turn, with the given compression; read_committed reads
// exactly the committed records.
func rdkCommitAbort(t *testing.T, addr, codec string) {
	topic := testkit.TopicName(t, "")
	createRF3(t, addr, topic, 3)
	p := newRdkTxnProducer(t, addr, topic, kafka.ConfigMap{"compression.type": codec})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var want []string
	for i := range 6 {
		commit := i%2 == 0
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 300 {
			v := fmt.Sprintf("txn%d-commit%v-%03d-%s", i, commit, j, strings.Repeat("x", 64))
			rdkProduce(t, p, topic, int32(j%3), v)
			if commit {
				want = append(want, v)
			}
		}
		var err error
		if commit {
			err = p.CommitTransaction(ctx)
		} else {
			// Delivered first: see rdkConsumeTransformProduce on
			// librdkafka#4849.
			if n := p.Flush(30000); n > 0 {
				t.Fatalf("transaction %d: %d records not delivered", i, n)
			}
			err = p.AbortTransaction(ctx)
		}
		if err != nil {
			t.Fatalf("transaction %d (commit %v): %v", i, commit, err)
		}
	}
	requireSameValues(t, want, rdkReadCommitted(t, addr, topic, 3, len(want)))
}

func requireSameValues(t *testing.T, want, got []string) {
	t.Helper()
	w, g := slices.Clone(want), slices.Clone(got)
	slices.Sort(w)
	slices.Sort(g)
	if slices.Equal(w, g) {
		return
	}
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	bad := 0
	for v, n := range seen {
		if n != 1 || !slices.Contains(want, v) {
			if bad++; bad <= 10 {
				t.Errorf("%q read %d times", v, n)
			}
		}
	}
	for _, v := range want {
		if seen[v] == 0 {
			if bad++; bad <= 10 {
				t.Errorf("%q not read", v)
			}
		}
	}
	t.Fatalf("read %d records, want %d (%d wrong)", len(got), len(want), bad)
}

// rdkEmptyTransactions: transactions without records commit and abort,
// and a transaction with records after them commits.
func rdkEmptyTransactions(t *testing.T, addr string) {
	topic := testkit.TopicName(t, "")
	createRF3(t, addr, topic, 1)
	p := newRdkTxnProducer(t, addr, topic, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, commit := range []bool{true, false, true, false} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var err error
		if commit {
			err = p.CommitTransaction(ctx)
		} else {
			err = p.AbortTransaction(ctx)
		}
		if err != nil {
			t.Fatalf("empty transaction %d (commit %v): %v", i, commit, err)
		}
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	rdkProduce(t, p, topic, 0, "after-empty")
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	requireSameValues(t, []string{"after-empty"}, rdkReadCommitted(t, addr, topic, 1, 1))
}

// rdkClusterFencing: a second producer with the same transactional id
// fences the first while the first has a transaction open. The first gets
// a fatal fenced error; neither what it wrote before the fence (aborted by
// the coordinator) nor after is visible to read_committed.
func rdkClusterFencing(t *testing.T, addr string) {
	topic := testkit.TopicName(t, "")
	createRF3(t, addr, topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	zombie := newRdkTxnProducer(t, addr, topic, nil)
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		rdkProduce(t, zombie, topic, int32(i%3), fmt.Sprintf("zombie-before-%d", i))
	}
	zombie.Flush(30000)
	fresh := newRdkTxnProducer(t, addr, topic, nil)
	for i := range 30 {
		rdkProduce(t, zombie, topic, int32(i%3), fmt.Sprintf("zombie-after-%d", i))
	}
	err := zombie.CommitTransaction(ctx)
	var kerr kafka.Error
	if !errors.As(err, &kerr) || !kerr.IsFatal() {
		t.Fatalf("zombie commit: %v, want a fatal error", err)
	}
	if code := kerr.Code(); code != kafka.ErrFenced && code != kafka.ErrProducerFenced && code != kafka.ErrInvalidProducerEpoch {
		t.Fatalf("zombie commit: %v (code %v), want fenced", err, code)
	}
	if err := fresh.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 30 {
		v := fmt.Sprintf("fresh-%d", i)
		rdkProduce(t, fresh, topic, int32(i%3), v)
		want = append(want, v)
	}
	if err := fresh.CommitTransaction(ctx); err != nil {
		t.Fatalf("fresh commit: %v", err)
	}
	requireSameValues(t, want, rdkReadCommitted(t, addr, topic, 3, len(want)))
}

// rdkConsumeTransformProduce is librdkafka's exactly-once loop: a
// read_committed group consumer, a transactional producer that writes
// each input record to the output and sends the consumer's positions with
// send_offsets_to_transaction. Every fourth transaction is aborted and
// the consumer rewound to its committed offsets. The read_committed
// output holds each input record once; the committed offsets are the
// input's end offsets.
func rdkConsumeTransformProduce(t *testing.T, addr string) {
	in, out, group := testkit.TopicName(t, "in"), testkit.TopicName(t, "out"), testkit.TopicName(t, "group")
	createRF3(t, addr, in, 3)
	createRF3(t, addr, out, 3)
	const n = 3000
	pl := testkit.NewClient(t, addr, seeds(addr), testkit.ManualPartitioner())
	var want []string
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := fmt.Sprintf("in-%05d", i)
		recs[i] = &kgo.Record{Topic: in, Partition: int32(i % 3), Value: []byte(v)}
		want = append(want, "out-"+v)
	}
	testkit.ProduceSync(t, pl, recs)

	cons, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  addr,
		"group.id":           group,
		"isolation.level":    "read_committed",
		"enable.auto.commit": false,
		"auto.offset.reset":  "earliest",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.Subscribe(in, nil); err != nil {
		t.Fatal(err)
	}
	p := newRdkTxnProducer(t, addr, group, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	committedSum := int64(0)
	// The next offset to read of each partition: what the transaction
	// commits. (librdkafka's position is unset after a seek until a
	// record arrives, so a partition rewound to its end has none.)
	next := map[int32]int64{}
	for txn := 0; committedSum < n; txn++ {
		if ctx.Err() != nil {
			t.Fatalf("committed %d of %d input records before the deadline", committedSum, n)
		}
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var batch int
		for batch < 200 {
			if ctx.Err() != nil {
				t.Fatalf("committed %d of %d input records before the deadline; next offsets %v", committedSum, n, next)
			}
			ev := cons.Poll(100)
			if ev == nil {
				if batch > 0 {
					break
				}
				continue
			}
			m, ok := ev.(*kafka.Message)
			if !ok {
				if e, ok := ev.(kafka.Error); ok {
					if e.IsFatal() {
						t.Fatalf("consumer: %v", e)
					}
					t.Logf("consumer: %v", e)
				}
				continue
			}
			rdkProduce(t, p, out, m.TopicPartition.Partition, "out-"+string(m.Value))
			next[m.TopicPartition.Partition] = int64(m.TopicPartition.Offset) + 1
			batch++
		}
		abort := txn%4 == 3
		if abort {
			// The records are delivered first: librdkafka aborting
			// while its AddPartitionsToTxn is still being retried
			// (CONCURRENT_TRANSACTIONS, the previous commit's markers
			// pending) sends EndTxn for a transaction the coordinator
			// never saw, and fails fatally with INVALID_TXN_STATE on
			// Kafka as here (confluentinc/librdkafka#4849).
			if n := p.Flush(30000); n > 0 {
				t.Fatalf("abort %d: %d records not delivered", txn, n)
			}
			if err := p.AbortTransaction(ctx); err != nil {
				t.Fatalf("abort %d: %v", txn, err)
			}
			rewindToCommitted(t, cons, next)
			continue
		}
		var pos []kafka.TopicPartition
		for part, o := range next {
			pos = append(pos, kafka.TopicPartition{Topic: &in, Partition: part, Offset: kafka.Offset(o)})
		}
		meta, err := cons.GetConsumerGroupMetadata()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SendOffsetsToTransaction(ctx, pos, meta); err != nil {
			t.Fatalf("send_offsets_to_transaction %d: %v", txn, err)
		}
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatalf("commit %d: %v", txn, err)
		}
		committedSum = 0
		for _, o := range next {
			committedSum += o
		}
	}
	requireSameValues(t, want, rdkReadCommitted(t, addr, out, 3, len(want)))
	requireCommittedAtEnd(t, addr, group, in)
}

// rewindToCommitted seeks every assigned partition back to the group's
// committed offset (or 0), as after an aborted transaction, and notes it
// in next.
func rewindToCommitted(t *testing.T, cons *kafka.Consumer, next map[int32]int64) {
	t.Helper()
	assigned, err := cons.Assignment()
	if err != nil {
		t.Fatal(err)
	}
	committed, err := cons.Committed(assigned, 30000)
	if err != nil {
		t.Fatalf("committed: %v", err)
	}
	for _, tp := range committed {
		if tp.Offset < 0 {
			tp.Offset = 0 // nothing committed: the input's first offset
		}
		if _, ok := next[tp.Partition]; ok {
			next[tp.Partition] = int64(tp.Offset)
		}
		if err := cons.Seek(tp, 0); err != nil {
			t.Fatalf("seek %v: %v", tp, err)
		}
	}
}

// requireCommittedAtEnd fails unless group's committed offset of every
// partition of topic equals its end offset.
func requireCommittedAtEnd(t *testing.T, addr, group, topic string) {
	t.Helper()
	adm := kadm.NewClient(testkit.NewClient(t, addr, seeds(addr)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(e kadm.ListedOffset) {
		o, ok := committed.Lookup(topic, e.Partition)
		if !ok || o.At != e.Offset {
			t.Errorf("%s/%d: committed %v (%v), end offset %d", topic, e.Partition, o.At, ok, e.Offset)
		}
	})
}

// rdkLagFromLSO: while a transaction is open, a read_committed consumer
// reads up to the last stable offset and no further, its watermark query
// (ListOffsets at its isolation level) answers the LSO, so its lag
// (high watermark - committed) counts nothing of the open transaction;
// a read_uncommitted query answers the high watermark. After an abort and
// a later commit, only the committed records are read.
func rdkLagFromLSO(t *testing.T, addr string) {
	topic, group := testkit.TopicName(t, ""), testkit.TopicName(t, "group")
	createRF3(t, addr, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := newRdkTxnProducer(t, addr, topic, nil)
	txn := func(prefix string, n int) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			rdkProduce(t, p, topic, 0, fmt.Sprintf("%s-%d", prefix, i))
		}
		if p.Flush(30000) != 0 {
			t.Fatalf("%s: records left unsent", prefix)
		}
	}
	txn("a", 10) // offsets 0-9, marker 10
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	txn("b", 5) // offsets 11-15, left open
	const lso, hw = 11, 16

	newConsumer := func(iso string) *kafka.Consumer {
		c, err := kafka.NewConsumer(&kafka.ConfigMap{
			"bootstrap.servers":  addr,
			"group.id":           group,
			"isolation.level":    iso,
			"enable.auto.commit": false,
			"auto.offset.reset":  "earliest",
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	rc, ru := newConsumer("read_committed"), newConsumer("read_uncommitted")
	if err := rc.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	read := func(want int) []string {
		t.Helper()
		var got []string
		deadline := time.Now().Add(60 * time.Second)
		for len(got) < want && time.Now().Before(deadline) {
			if m, ok := rc.Poll(200).(*kafka.Message); ok {
				got = append(got, string(m.Value))
			}
		}
		// Anything past want (a record of the open or aborted
		// transaction) arrives in the next polls.
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
			if m, ok := rc.Poll(200).(*kafka.Message); ok {
				got = append(got, string(m.Value))
			}
		}
		return got
	}
	lag := func(wantHigh int64) int64 {
		t.Helper()
		if _, err := rc.Commit(); err != nil {
			t.Fatalf("commit offsets: %v", err)
		}
		_, high, err := rc.QueryWatermarkOffsets(topic, 0, 30000)
		if err != nil {
			t.Fatal(err)
		}
		if high != wantHigh {
			t.Fatalf("read_committed watermark %d, want the last stable offset %d", high, wantHigh)
		}
		committed, err := rc.Committed([]kafka.TopicPartition{{Topic: &topic, Partition: 0}}, 30000)
		if err != nil {
			t.Fatal(err)
		}
		return high - int64(committed[0].Offset)
	}

	got := read(10)
	requireSameValues(t, []string{"a-0", "a-1", "a-2", "a-3", "a-4", "a-5", "a-6", "a-7", "a-8", "a-9"}, got)
	// The position after a-9 is 10 (the marker's offset) or 11 (past
	// it): the lag is at most the marker, never the open records.
	if l := lag(lso); l < 0 || l > 1 {
		t.Fatalf("lag %d with a transaction open, want 0 or 1 (the marker)", l)
	}
	if _, high, err := ru.QueryWatermarkOffsets(topic, 0, 30000); err != nil || high != hw {
		t.Fatalf("read_uncommitted watermark %d (%v), want the high watermark %d", high, err, hw)
	}

	if err := p.AbortTransaction(ctx); err != nil { // marker 16
		t.Fatal(err)
	}
	txn("c", 3) // offsets 17-19, marker 20
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	requireSameValues(t, []string{"c-0", "c-1", "c-2"}, read(3))
	if l := lag(21); l < 0 || l > 1 {
		t.Fatalf("lag %d after the last commit, want 0 or 1 (the marker)", l)
	}
}

// kcatClusterProduce: kcat -X transactional.id produces on the cluster
// (librdkafka's transactional producer, one transaction committed at the
// end of input) and read_committed reads the lines.
func kcatClusterProduce(t *testing.T, addr string) {
	topic := testkit.TopicName(t, "")
	createRF3(t, addr, topic, 1)
	var lines, want []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("kcat-%03d", i))
	}
	want = lines
	if out, err := kcat(t, strings.Join(lines, "\n")+"\n", "-b", addr, "-P", "-t", topic, "-p", "0",
		"-X", "transactional.id="+topic, "-X", "acks=all"); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	requireSameValues(t, want, rdkReadCommitted(t, addr, topic, 1, len(want)))
}
