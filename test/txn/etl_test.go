package txn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestGroupTransactSessionETL is the consume-transform-produce loop of
// franz-go's TestTxnEtl on a small scale: members of one group read an
// input topic with kgo.GroupTransactSession and, per poll, write each
// record to an output topic and commit the input offsets in the same
// transaction. A second member joins mid-run and the first leaves
// (rebalances revoke partitions in the middle of transactions, whose
// ends then abort). Every input record must be in the read_committed
// output exactly once, and the group's committed offsets must equal the
// input's end.
func TestGroupTransactSessionETL(t *testing.T) {
	const n, parts = 3000, 4
	b := startBroker(t)
	in, out := testkit.TopicName(t, "in"), testkit.TopicName(t, "out")
	testkit.CreateTopic(t, b.Addr(), in, parts, nil)
	testkit.CreateTopic(t, b.Addr(), out, parts, nil)
	group := testkit.TopicName(t, "group")
	p := testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner())
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: in, Partition: int32(i % parts), Value: []byte(fmt.Sprintf("r%05d", i))}
	}
	testkit.ProduceSync(t, p, recs)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var errs []error
	member := func(stop <-chan struct{}, name string) {
		s, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(b.Addr()),
			kgo.TransactionalID(group+"-"+name),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(in),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.FetchMaxBytes(4<<10), // small polls: many transactions
			kgo.DefaultProduceTopic(out),
		)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return
		}
		defer s.Close()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := s.PollFetches(pctx)
			pcancel()
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: fetch: %w", name, err))
					mu.Unlock()
				}
			})
			if fs.NumRecords() == 0 {
				continue
			}
			if err := s.Begin(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: begin: %w", name, err))
				mu.Unlock()
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				s.Produce(ctx, &kgo.Record{Partition: r.Partition, Value: r.Value}, nil)
			})
			// A failed end is retried by the next poll: the session
			// has aborted and the records are read again.
			if _, err := s.End(ctx, kgo.TryCommit); err != nil {
				t.Logf("%s: end: %v", name, err)
			}
		}
	}
	stop1, stop2 := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); member(stop1, "one") }()
	waitCommitted(t, b.Addr(), group, in, n/4)
	go func() { defer wg.Done(); member(stop2, "two") }()
	waitCommitted(t, b.Addr(), group, in, n/2)
	close(stop1)
	waitCommitted(t, b.Addr(), group, in, n)
	close(stop2)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}

	got := readAllCommitted(t, b.Addr(), out, n)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for _, r := range recs {
		if c := seen[string(r.Value)]; c != 1 {
			t.Errorf("input %s is %d times in the read_committed output", r.Value, c)
		}
	}
	if len(got) != n {
		t.Errorf("read_committed output has %d records, want %d", len(got), n)
	}
}

// waitCommitted polls the group's committed offsets on topic until they
// sum to at least want.
func waitCommitted(t *testing.T, addr, group, topic string, want int) {
	t.Helper()
	adm := testkit.NewAdmin(t, addr)
	deadline := time.Now().Add(90 * time.Second)
	for {
		os, err := adm.FetchOffsets(context.Background(), group)
		sum := int64(0)
		if err == nil {
			os.Each(func(o kadm.OffsetResponse) {
				if o.Topic == topic {
					sum += o.At
				}
			})
		}
		if sum >= int64(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s committed %d of %d records of %s (%v)", group, sum, want, topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readAllCommitted reads every partition of topic with isolation_level=1
// until it has n records (or a deadline), then polls once more for
// anything beyond n.
func readAllCommitted(t *testing.T, addr, topic string, n int) []string {
	t.Helper()
	cl := testkit.NewClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	return out
}
