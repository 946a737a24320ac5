package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/testkit"
)

// txnCoordinator asks node id which node coordinates transactional id.
func txnCoordinator(t *testing.T, c *testkit.Cluster, id int32, txnID string) (int32, int16) {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 4
	req.CoordinatorType = 1
	req.CoordinatorKeys = []string{txnID}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Request(ctx, id, req)
	if err != nil {
		return -1, -1
	}
	node, _, _, code := coordinatorOf(resp.(*kmsg.FindCoordinatorResponse))
	return node, code
}

// TestTxnCoordinatorFailover: the transaction coordinator is the leader of
// the id's __transaction_state partition (replicated, RF 3,
// min.insync.replicas 2); killing its node moves the transaction, with its
// producer id, epoch and partitions, to the new leader.
func TestTxnCoordinatorFailover(t *testing.T) {
	c := testkit.StartCluster(t, nodes, testkit.WithNodeTOML("transaction_state_partitions = 3\noffsets_topic_partitions = 3"))
	topic := testkit.TopicName(t, "")
	testkit.CreateTopicRF(t, c.Node(1).KafkaAddr(), topic, partitions, rf, nil)
	c.WaitTopic(t, topic, partitions)
	cl := testkit.NewClient(t, c.Node(1).KafkaAddr(), testkit.Seeds(c.Bootstrap()))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const id = "failover-txn"

	var pid int64
	var epoch int16
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(id)
		req.TransactionTimeoutMillis = 600000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("InitProducerId: %v", err)
		}
		if resp.ErrorCode == 0 {
			pid, epoch = resp.ProducerID, resp.ProducerEpoch
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		time.Sleep(100 * time.Millisecond)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = topic, []int32{0, 2}
	add.Topics = append(add.Topics, at)
	ar, err := add.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ar.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("AddPartitionsToTxn %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}

	// __transaction_state as Kafka creates it.
	adm := kadm.NewClient(cl)
	cfgs, err := adm.DescribeTopicConfigs(ctx, "__transaction_state")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfgs {
		for _, kv := range rc.Configs {
			if (kv.Key == "min.insync.replicas" && kv.MaybeValue() != "2") || (kv.Key == "cleanup.policy" && kv.MaybeValue() != "compact") {
				t.Errorf("__transaction_state %s = %s", kv.Key, kv.MaybeValue())
			}
		}
	}

	coord, code := txnCoordinator(t, c, 1, id)
	if code != 0 || coord < 1 {
		t.Fatalf("FindCoordinator: node %d, error %d", coord, code)
	}
	t.Logf("coordinator of %s is node %d; killing it", id, coord)
	c.Node(coord).Kill(t)
	other := int32(1)
	if coord == 1 {
		other = 2
	}
	deadline := time.Now().Add(60 * time.Second)
	var d kadm.DescribedTransaction
	for {
		// A fresh client each time: kgo keeps a coordinator it has found.
		fresh, err := kgo.NewClient(kgo.SeedBrokers(c.Node(other).KafkaAddr()))
		if err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		ds, err := kadm.NewClient(fresh).DescribeTransactions(dctx, id)
		dcancel()
		fresh.Close()
		if err == nil {
			if d = ds[id]; d.Err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction not described after the coordinator's failover: %v / %+v", err, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if d.State != "Ongoing" || d.ProducerID != pid || d.ProducerEpoch != epoch || len(d.Topics[topic]) != 2 {
		t.Fatalf("after failover: %+v; want Ongoing, producer %d epoch %d, 2 partitions", d, pid, epoch)
	}
	if now, code := txnCoordinator(t, c, other, id); code != 0 || now == coord {
		t.Fatalf("after the kill the coordinator is node %d (error %d); want a live node other than %d", now, code, coord)
	}

	if _, ok := handler.Lookup(kmsg.WriteTxnMarkers); !ok {
		t.Log("the fencing abort after failover needs the partition-side data plane (WriteTxnMarkers); stopping here")
		return
	}
	// A new producer fences the old one; the new coordinator aborts the
	// ongoing transaction and hands out a higher epoch.
	p2 := testkit.NewClient(t, c.Node(other).KafkaAddr(), kgo.TransactionalID(id))
	pid2, epoch2, err := p2.ProducerID(ctx)
	if err != nil {
		t.Fatalf("InitProducerId after failover: %v", err)
	}
	if pid2 != pid || epoch2 <= epoch+1 {
		t.Fatalf("after failover and fence: producer %d epoch %d; had %d/%d", pid2, epoch2, pid, epoch)
	}
}
