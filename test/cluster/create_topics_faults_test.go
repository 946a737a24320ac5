package cluster_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// createTimeout is the TimeoutMillis each CreateTopics names, and
// answerSlack what an answer may take beyond it (scheduling, the
// connection, a loaded machine).
const (
	createTimeout = 5 * time.Second
	answerSlack   = 3 * time.Second
)

// TestCreateTopicsAnsweredWhileNodesDie kills nodes while CreateTopics
// requests (RF 2) are on their way, through a node that stays up: the
// metadata (Raft) leader, a partition leader of a topic written with
// acks=all, both at once (the survivor then has no quorum), or both
// followers of the metadata leader, which is asked. Every
// request must be answered within its own timeout plus a small slack,
// with success or a retriable REQUEST_TIMED_OUT / NOT_CONTROLLER, as
// Kafka's controller answers a request whose deadline passed; a forwarded
// proposal that outlived its request left clients without an answer.
// STROM_CLUSTER=full runs more rounds.
func TestCreateTopicsAnsweredWhileNodesDie(t *testing.T) {
	rounds := 3
	if os.Getenv("STROM_CLUSTER") == "full" {
		rounds = 9
	}
	c := testkit.StartCluster(t, nodes)
	data := testkit.TopicName(t, "data")
	c.CreateTopic(t, data, partitions, rf, nil)
	c.WaitStable(t, data, partitions)

	for round := range rounds {
		// The kinds alternate: the metadata leader, it and a partition
		// leader, every node but the metadata leader (asked itself, it
		// has no quorum to commit with), a partition leader alone.
		kind := []int{0, 2, 3, 1}[round%4]
		seeds := kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...)
		testkit.ProduceSync(t, testkit.NewClient(t, c.Nodes()[0].KafkaAddr(), seeds, kgo.RequiredAcks(kgo.AllISRAcks()), testkit.ManualPartitioner()),
			testkit.MakeRecords(data, fmt.Sprintf("r%d", round), 30, partitions))
		ctrl := c.ControllerID(t)
		var partLeader int32 = -1
		for p := range int32(partitions) {
			if l := c.Leader(t, data, p); l != ctrl {
				partLeader = l
				break
			}
		}
		var victims []int32
		switch {
		case kind == 0 || partLeader < 0:
			victims = []int32{ctrl}
		case kind == 1:
			victims = []int32{partLeader}
		case kind == 3:
			for _, nd := range c.Nodes() {
				if nd.ID() != ctrl {
					victims = append(victims, nd.ID())
				}
			}
		default:
			victims = []int32{ctrl, partLeader}
		}
		var via int32
		for _, nd := range c.Nodes() {
			if !slices.Contains(victims, nd.ID()) {
				via = nd.ID()
				break
			}
		}
		t.Logf("round %d: killing %v (metadata leader %d) while creating topics through node %d", round, victims, ctrl, via)

		answers := make(chan string, 2)
		send := func(name string) {
			answers <- createThrough(t, c.Node(via).KafkaAddr(), name)
		}
		go send(testkit.TopicName(t, fmt.Sprintf("during-%d", round)))
		for _, v := range victims {
			c.Node(v).Kill(t)
		}
		go send(testkit.TopicName(t, fmt.Sprintf("after-%d", round)))
		for range 2 {
			if problem := <-answers; problem != "" {
				t.Errorf("round %d (killed %v, through node %d): %s", round, victims, via, problem)
			}
		}
		for _, v := range victims {
			c.Node(v).Start(t)
		}
		c.WaitFormed(t)
		c.WaitStable(t, data, partitions)
		if t.Failed() {
			return
		}
	}
	// The cluster still creates topics.
	if problem := createThrough(t, c.Nodes()[0].KafkaAddr(), testkit.TopicName(t, "final")); problem != "" {
		t.Fatalf("after the faults: %s", problem)
	}
}

// createThrough sends one CreateTopics (3 partitions, RF 2) to addr only
// and describes what is wrong with its answer: "" when it came within
// createTimeout + answerSlack with success or a retriable code.
func createThrough(t *testing.T, addr, topic string) string {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(createTimeout.Milliseconds())
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 3, 2
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	took := time.Since(start)
	if err != nil {
		return fmt.Sprintf("CreateTopics %s: no answer after %v: %v", topic, took.Round(time.Millisecond), err)
	}
	code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
	t.Logf("CreateTopics %s: %v after %v", topic, kerr.ErrorForCode(code), took.Round(time.Millisecond))
	if took > createTimeout+answerSlack {
		return fmt.Sprintf("CreateTopics %s answered after %v (timeout %v)", topic, took.Round(time.Millisecond), createTimeout)
	}
	switch code {
	case 0, kerr.RequestTimedOut.Code, kerr.NotController.Code:
		return ""
	}
	return fmt.Sprintf("CreateTopics %s: %v, want success, REQUEST_TIMED_OUT or NOT_CONTROLLER", topic, kerr.ErrorForCode(code))
}
