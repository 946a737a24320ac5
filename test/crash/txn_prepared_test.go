package crash_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestKillBetweenPrepareCommitAndMarkers SIGKILLs the broker after a
// transaction's PrepareCommit is durable in __transaction_state but before
// any COMMIT marker is on its partitions, and checks that the coordinator
// that loads the state after the restart writes the markers and completes
// the commit, and that a read_committed consumer then reads every record.
//
// The markers are held back deterministically: once the records are
// written, the topic's min.insync.replicas is raised above its replication
// factor, so every WriteTxnMarkers append is refused with
// NOT_ENOUGH_REPLICAS (retried by the coordinator, as in Kafka) until it
// is lowered again after the restart.
func TestKillBetweenPrepareCommitAndMarkers(t *testing.T) {
	proc := testkit.StartProcess(t, testkit.ProcessOptions{})
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, proc.Addr(), topic, 2, nil)
	const id = "prepared-then-killed"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	p := testkit.NewClient(t, proc.Addr(), kgo.TransactionalID(id), testkit.ManualPartitioner())
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 10 {
		v := fmt.Sprintf("v%d", i)
		want = append(want, v)
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	adm := testkit.NewAdmin(t, proc.Addr())
	setMinISR(t, adm, topic, "2")
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("EndTransaction: %v", err)
	}
	waitTxnState(t, adm, id, "PrepareCommit")
	p.Close()

	proc.Kill(t)
	proc.Restart(t)

	adm = testkit.NewAdmin(t, proc.Addr())
	// Loaded from the log; its markers still cannot be written.
	waitTxnState(t, adm, id, "PrepareCommit")
	raw := testkit.NewRawClient(t, proc.Addr())
	for part := range int32(2) {
		if lso, hw := testkit.ListLatest(t, raw, topic, part, 1), testkit.ListLatest(t, raw, topic, part, 0); lso != 0 || hw != 5 {
			t.Fatalf("partition %d before the markers: LSO %d, HW %d; want 0, 5", part, lso, hw)
		}
	}
	setMinISR(t, adm, topic, "1")
	waitTxnState(t, adm, id, "CompleteCommit")
	var got []string
	for part := range int32(2) {
		// Five records and the COMMIT marker: the LSO is past the marker.
		if lso := testkit.ListLatest(t, raw, topic, part, 1); lso != 6 {
			t.Fatalf("partition %d after the markers: LSO %d, want 6", part, lso)
		}
		got = append(got, testkit.ConsumeValues(t, proc.Addr(), topic, part, true, 4)...)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed after the restart: %v, want %v", got, want)
	}
}

func setMinISR(t *testing.T, adm *kadm.Client, topic, v string) {
	t.Helper()
	rs, err := adm.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "min.insync.replicas", Value: &v}}, topic)
	if err == nil {
		_, err = rs.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("min.insync.replicas=%s: %v", v, err)
	}
}

// waitTxnState polls DescribeTransactions until id is in state.
func waitTxnState(t *testing.T, adm *kadm.Client, id, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := adm.DescribeTransactions(context.Background(), id)
		d := ds[id]
		if err == nil && d.Err == nil && d.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction %s: %+v (%v), want state %s", id, d, err, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
