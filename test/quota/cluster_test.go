package quota_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestClusterQuotaSeenByEveryNode: a quota set through one node of a
// 3-node cluster (each node its own process) is in the metadata log, so
// every node describes it. Replication is exempt: with every user held
// to 1 byte/s of fetches, an acks=all write to three replicas still
// completes.
func TestClusterQuotaSeenByEveryNode(t *testing.T) {
	t.Parallel()
	c := testkit.StartCluster(t, 3)
	req := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	ec := kmsg.NewAlterClientQuotasRequestEntryEntity()
	ec.Type, ec.Name = "user", str("alice")
	e.Entity = append(e.Entity, ec)
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = "producer_byte_rate", 1048576
	e.Ops = append(e.Ops, op)
	req.Entries = append(req.Entries, e)
	e = kmsg.NewAlterClientQuotasRequestEntry()
	ec = kmsg.NewAlterClientQuotasRequestEntryEntity()
	ec.Type = "user" // <default>
	e.Entity = append(e.Entity, ec)
	op = kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = "consumer_byte_rate", 1
	e.Ops = append(e.Ops, op)
	req.Entries = append(req.Entries, e)
	resp := dialRaw(t, c.Node(2).KafkaAddr(), "admin").call(req).(*kmsg.AlterClientQuotasResponse)
	if len(resp.Entries) != 2 || resp.Entries[0].ErrorCode != 0 || resp.Entries[1].ErrorCode != 0 {
		t.Fatalf("alter through node 2: %+v", resp.Entries)
	}
	for _, n := range c.Nodes() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			d := kmsg.NewPtrDescribeClientQuotasRequest()
			dc := kmsg.NewDescribeClientQuotasRequestComponent()
			dc.EntityType, dc.MatchType, dc.Match = "user", kmsg.QuotasMatchTypeExact, str("alice")
			d.Components = append(d.Components, dc)
			dr := dialRaw(t, n.KafkaAddr(), "admin").call(d).(*kmsg.DescribeClientQuotasResponse)
			if dr.ErrorCode == 0 && len(dr.Entries) == 1 && len(dr.Entries[0].Values) == 1 && dr.Entries[0].Values[0].Value == 1048576 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d never described the quota: %+v", n.ID(), dr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ctx := ctxFor(t, time.Minute)
	cl := newClient(t, c.Node(1).KafkaAddr(), kgo.RequiredAcks(kgo.AllISRAcks()))
	topic := testkit.TopicName(t, "")
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: make([]byte, 4096)}).FirstErr(); err != nil {
		t.Fatalf("acks=all to 3 replicas under a 1 B/s consumer quota: %v", err)
	}
	// Throttled followers would have been dropped from the ISR to let it
	// through.
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if isr := td[topic].Partitions[0].ISR; len(isr) != 3 {
		t.Errorf("ISR %v after the write, want all 3 replicas", isr)
	}
}
