package cluster_test

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestTxnLeaderFailoverKeepsLastStableOffset: followers rebuild producer
// state from the batches they copy, so when the leader of a partition
// with an open transaction is killed, the new leader still holds the last
// stable offset at the transaction's first offset, continues the
// producer's sequence, and takes the coordinator's marker. The test stands
// in for the coordinator (WriteTxnMarkers sent with kmsg), so the brokers
// do not verify writes with one.
func TestTxnLeaderFailoverKeepsLastStableOffset(t *testing.T) {
	c := testkit.StartCluster(t, nodes, testkit.WithNodeTOML("transaction_partition_verification_enable = false"))
	topic := testkit.TopicName(t, "")
	testkit.CreateTopicRF(t, c.Node(1).KafkaAddr(), topic, 1, rf, nil)
	c.WaitTopic(t, topic, 1)
	c.WaitStable(t, topic, 1)
	leader := c.Leader(t, topic, 0)
	// Seeded with the leader only: WriteTxnMarker sends to the seed.
	cl := testkit.NewRawClient(t, c.Node(leader).KafkaAddr())
	check := func(what string, code int16) {
		t.Helper()
		if code != 0 {
			t.Fatalf("%s: %v", what, kerr.ErrorForCode(code))
		}
	}
	open, aborted := testkit.InitTxnProducer(t, cl, "txn-open"), testkit.InitTxnProducer(t, cl, "txn-aborted")
	code, _ := aborted.Produce(t, cl, topic, 0, false, "x0", "x1") // 0-1
	check("aborted txn", code)
	code, first := open.Produce(t, cl, topic, 0, false, "o0") // 2
	check("open txn", code)
	if codes := testkit.WriteTxnMarker(t, cl, aborted, aborted.Epoch, false, topic, 0); !slices.Equal(codes, []int16{0}) { // 3
		t.Fatalf("abort: %v", codes)
	}
	code, _ = open.Produce(t, cl, topic, 0, false, "o1") // 4, acks=all: on every replica
	check("open txn", code)
	if lso := testkit.ListLatest(t, cl, topic, 0, 1); lso != first {
		t.Fatalf("before the failover: LSO %d, want %d", lso, first)
	}

	c.Node(leader).Kill(t)
	now := c.WaitNewLeader(t, topic, 0, leader, 60*time.Second)
	t.Logf("leader %d killed; node %d leads", leader, now.Leader)
	cl = testkit.NewRawClient(t, c.Node(now.Leader).KafkaAddr())
	// The new leader's high watermark reaches 5 once the other follower
	// fetches from it; the LSO must stay at the open transaction.
	deadline := time.Now().Add(30 * time.Second)
	for testkit.ListLatest(t, cl, topic, 0, 0) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("the new leader's high watermark did not reach 5")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lso := testkit.ListLatest(t, cl, topic, 0, 1); lso != first {
		t.Fatalf("after the failover: LSO %d, want %d", lso, first)
	}
	// The producer's sequence goes on at the new leader; the coordinator
	// commits there.
	code, _ = open.Produce(t, cl, topic, 0, false, "o2") // 5
	check("open txn at the new leader", code)
	if codes := testkit.WriteTxnMarker(t, cl, open, open.Epoch, true, topic, 0); !slices.Equal(codes, []int16{0}) { // 6
		t.Fatalf("commit: %v", codes)
	}
	if lso, hw := testkit.ListLatest(t, cl, topic, 0, 1), testkit.ListLatest(t, cl, topic, 0, 0); lso != 7 || hw != 7 {
		t.Fatalf("after the commit: LSO %d, HW %d; want 7, 7", lso, hw)
	}
	got := testkit.ConsumeValues(t, c.Node(now.Leader).KafkaAddr(), topic, 0, true, 5)
	if want := []string{"o0", "o1", "o2"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
}
