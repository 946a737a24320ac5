package quota_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestClusterQuotaSeenByEveryNode: a quota set through one node of a
// 3-node cluster (each node its own process) is in the metadata log, so
// every node describes it.
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
	resp := dialRaw(t, c.Node(2).KafkaAddr(), "admin").call(req).(*kmsg.AlterClientQuotasResponse)
	if len(resp.Entries) != 1 || resp.Entries[0].ErrorCode != 0 {
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
}
