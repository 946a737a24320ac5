package limits_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestReplicationExemptFromMaxConnections (STROM_LIMITS=full): on a
// 3-node cluster (each node its own process) with max_connections = 8,
// clients from 127.0.0.2 fill nodes 1 and 2 to the limit; node 3,
// killed meanwhile and restarted, still connects to their replication
// listeners, catches up and rejoins every ISR, as Kafka's inter-broker
// listener is exempt from max.connections, while the limit keeps holding
// back clients on the Kafka listeners; the replication connections that
// take a node over the limit make room by closing its least recently
// active client connection (KIP-402). Followers fetch from the
// replication listener, then (second run) from a PLAINTEXT listener
// INTERNAL that inter_broker_listener names.
func TestReplicationExemptFromMaxConnections(t *testing.T) {
	if !heavy() {
		t.Skip("a 3-node cluster: STROM_LIMITS=full (make limits-test)")
	}
	t.Run("replication listener", func(t *testing.T) {
		exemptCluster(t, testkit.StartCluster(t, 3, testkit.WithNodeTOML("max_connections = 8"), testkit.WithLogLevel("info")))
	})
	t.Run("inter_broker_listener", func(t *testing.T) {
		internal := map[int32]string{}
		for id := int32(1); id <= 3; id++ {
			internal[id] = freeAddr(t)
		}
		c := testkit.StartCluster(t, 3, testkit.WithLogLevel("info"),
			testkit.WithNodeTOML("max_connections = 8\ninter_broker_listener = \"INTERNAL\"\n"),
			testkit.WithPerNodeTOML(func(id int32, kafka string) string {
				return fmt.Sprintf("[[listeners]]\nname = \"CLIENT\"\naddress = %q\nprotocol = \"PLAINTEXT\"\n\n"+
					"[[listeners]]\nname = \"INTERNAL\"\naddress = %q\nprotocol = \"PLAINTEXT\"\n", kafka, internal[id])
			}))
		exemptCluster(t, c)
	})
}

func exemptCluster(t *testing.T, c *testkit.Cluster) {
	boot := c.Node(1).KafkaAddr()
	const topic, partitions = "exempt", 6
	testkit.CreateTopicRF(t, boot, topic, partitions, 3, nil)
	c.WaitTopic(t, topic, partitions)
	produce := func(n int) {
		t.Helper()
		cl := testkit.NewClient(t, boot, kgo.RequiredAcks(kgo.AllISRAcks()))
		defer cl.Close()
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produce(200)
	c.Node(3).Kill(t)
	produce(200) // node 3 falls behind and out of the ISRs
	for _, id := range []int32{1, 2} {
		n := c.Node(id)
		eventually(t, fmt.Sprintf("node %d reports partitions under-replicated", id), func() error {
			if v := metric(t, n.AdminAddr(), "strom_under_replicated_partitions"); v == 0 {
				return fmt.Errorf("strom_under_replicated_partitions = 0 with node 3 down")
			}
			return nil
		})
	}
	// Fill nodes 1 and 2: 12 clients each, more than the limit leaves
	// room for; each asks ApiVersions and is answered only once accepted.
	answered := map[int32][]chan error{}
	for _, id := range []int32{1, 2} {
		for range 12 {
			nc := mustDialFrom(t, "127.0.0.2", c.Node(id).KafkaAddr())
			if err := sendRequest(nc, kmsg.NewPtrApiVersionsRequest(), 1); err != nil {
				t.Fatal(err)
			}
			ch := make(chan error, 1)
			go func(nc net.Conn) { ch <- readResponse(nc, kmsg.NewPtrApiVersionsResponse(), 10*time.Minute) }(nc)
			answered[id] = append(answered[id], ch)
		}
		n := c.Node(id)
		eventually(t, fmt.Sprintf("node %d at max_connections", id), func() error {
			if !strings.Contains(n.Logs(), "connection limit reached") {
				return fmt.Errorf("no \"connection limit reached\" line yet")
			}
			return nil
		})
	}
	c.Node(3).Start(t)
	for _, id := range []int32{1, 2} {
		n := c.Node(id)
		eventually(t, fmt.Sprintf("node 3 back in node %d's ISRs through its inter-broker listener", id), func() error {
			if v := metric(t, n.AdminAddr(), "strom_under_replicated_partitions"); v != 0 {
				return fmt.Errorf("strom_under_replicated_partitions = %v", v)
			}
			return nil
		})
	}
	// The connection closed may be any client's of the Kafka listener
	// (another node's included), so it is found in the count.
	eventually(t, "a client connection closed to make room for replication", func() error {
		if got := metric(t, c.Node(1).AdminAddr(), "strom_connections_rejected_total", `reason="max_connections"`) +
			metric(t, c.Node(2).AdminAddr(), "strom_connections_rejected_total", `reason="max_connections"`); got < 1 {
			return fmt.Errorf("strom_connections_rejected_total{reason=max_connections} = %v on nodes 1 and 2", got)
		}
		return nil
	})
	for _, id := range []int32{1, 2} {
		waiting := 0
		for _, ch := range answered[id] {
			select {
			case <-ch: // answered (perhaps closed since, to make room)
			default:
				waiting++
			}
		}
		if waiting == 0 {
			t.Fatalf("node %d answered all 12 clients: max_connections = 8 did not hold", id)
		}
	}
}
