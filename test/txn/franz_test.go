package txn_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// readCommitted reads topic's partition 0 with isolation_level=1 until it
// has n records (or a deadline), returning their values.
func readCommitted(t *testing.T, addr, topic string, n int) []string {
	t.Helper()
	cl := testkit.NewClient(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	// Anything beyond n (an aborted record shown) shows up in one more poll.
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	return out
}

// TestFranzGoCommitAbort: a kgo transactional producer's transactions
// commit and abort without errors; read_committed sees only the committed
// records; the coordinator ends with CompleteAbort. Needs the data plane.
func TestFranzGoCommitAbort(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	ctx := ctxFor(t)
	cl := testkit.NewClient(t, b.Addr(), kgo.TransactionalID("franz-commit-abort"), kgo.DefaultProduceTopic(topic))
	for _, tc := range []struct {
		value  string
		commit kgo.TransactionEndTry
	}{{"one", kgo.TryCommit}, {"two", kgo.TryAbort}, {"three", kgo.TryCommit}, {"four", kgo.TryAbort}} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(tc.value)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", tc.value, err)
		}
		if err := cl.EndTransaction(ctx, tc.commit); err != nil {
			t.Fatalf("end %s: %v", tc.value, err)
		}
	}
	got := readCommitted(t, b.Addr(), topic, 2)
	if len(got) != 2 || got[0] != "one" || got[1] != "three" {
		t.Fatalf("read_committed saw %q", got)
	}
	adm := kadm.NewClient(testkit.NewClient(t, b.Addr()))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, err := adm.DescribeTransactions(ctx, "franz-commit-abort")
		if err != nil {
			t.Fatal(err)
		}
		d := ds["franz-commit-abort"]
		if d.State == "CompleteAbort" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction state %+v, want CompleteAbort", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFenceAbortsOngoing: a new producer's InitProducerId aborts the
// fenced producer's ongoing transaction (PrepareEpochFence, then the
// ABORT markers); its records never become visible. Needs the data plane.
func TestFenceAbortsOngoing(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	ctx := ctxFor(t)
	zombie := testkit.NewClient(t, b.Addr(), kgo.TransactionalID("fence-ongoing"), kgo.DefaultProduceTopic(topic))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatalf("zombie produce: %v", err)
	}
	fresh := testkit.NewClient(t, b.Addr(), kgo.TransactionalID("fence-ongoing"), kgo.DefaultProduceTopic(topic))
	if err := fresh.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.ProduceSync(ctx, &kgo.Record{Value: []byte("fresh")}).FirstErr(); err != nil {
		t.Fatalf("fresh produce: %v", err)
	}
	if err := fresh.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("fresh commit: %v", err)
	}
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the fenced producer committed")
	}
	got := readCommitted(t, b.Addr(), topic, 1)
	if len(got) != 1 || got[0] != "fresh" {
		t.Fatalf("read_committed saw %q", got)
	}
}

// concurrentTxnLog counts franz-go's CONCURRENT_TRANSACTIONS retries of
// requests within a transaction: AddPartitionsToTxn (transactions v1) and
// Produce (v2, the partition added implicitly), both in its debug log.
// InitProducerID is not counted: franz-go re-initializes once, right after
// its first EndTxn, when it notices transactions v2, and that meets the
// commit's completion as in Kafka.
type concurrentTxnLog struct{ n atomic.Int64 }

func (l *concurrentTxnLog) Level() kgo.LogLevel { return kgo.LogLevelDebug }

func (l *concurrentTxnLog) Log(_ kgo.LogLevel, msg string, kv ...any) {
	if strings.HasPrefix(msg, "InitProducerID") {
		return
	}
	if strings.Contains(msg, "CONCURRENT_TRANSACTIONS") || strings.Contains(fmt.Sprint(kv...), "CONCURRENT_TRANSACTIONS") {
		l.n.Add(1)
	}
}

// TestBackToBackTransactions: a transaction begun as soon as the previous
// one's commit is answered adds its partition without meeting
// CONCURRENT_TRANSACTIONS: AddPartitionsToTxn waits for the previous
// transaction's markers and CompleteCommit instead of sending the client
// into its backoff. Needs the data plane.
func TestBackToBackTransactions(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	ctx := ctxFor(t)
	var log concurrentTxnLog
	cl := testkit.NewClient(t, b.Addr(), kgo.TransactionalID("back-to-back"), kgo.DefaultProduceTopic(topic), kgo.WithLogger(&log))
	const n = 20
	for i := range n {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	if got := log.n.Load(); got != 0 {
		t.Fatalf("%d requests of %d transactions met CONCURRENT_TRANSACTIONS", got, n)
	}
	if got := readCommitted(t, b.Addr(), topic, n); len(got) != n {
		t.Fatalf("read_committed saw %d records, want %d", len(got), n)
	}
}
