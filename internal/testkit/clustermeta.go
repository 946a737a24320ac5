package testkit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequestTo sends req to the broker at addr, and only to it, on a fresh
// connection (a seed-only franz-go client, no retries).
func RequestTo(ctx context.Context, addr string, req kmsg.Request, opts ...kgo.Opt) (kmsg.Response, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0),
		kgo.DialTimeout(2 * time.Second), kgo.ClientID("strom-testkit")}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return cl.SeedBrokers()[0].Request(rctx, req)
}

// Request sends req to node id only.
func (c *Cluster) Request(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	return RequestTo(ctx, c.Node(id).kafka, req, c.opts.ClientOpts...)
}

// Metadata asks node id, and only it, for the broker list and the given
// topics (none: no topics; the broker list and controller id only).
func (c *Cluster) Metadata(ctx context.Context, id int32, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	for _, tp := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := c.Request(ctx, id, req)
	if err != nil {
		return nil, fmt.Errorf("metadata from node %d: %w", id, err)
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// ControllerID asks every running node for Metadata and returns the
// controller id they name, waiting until one names a node of the cluster.
func (c *Cluster) ControllerID(t testing.TB) int32 {
	t.Helper()
	id := int32(-1)
	var last string
	ok := poll(c.opts.ReadyTimeout, func() bool {
		for _, nd := range c.servingNodes() {
			resp, err := c.Metadata(context.Background(), nd.id)
			if err != nil {
				last = err.Error()
				continue
			}
			if resp.ControllerID >= 1 && int(resp.ControllerID) <= len(c.nodes) {
				id = resp.ControllerID
				return true
			}
			last = fmt.Sprintf("node %d names controller %d", nd.id, resp.ControllerID)
		}
		return false
	})
	if !ok {
		t.Fatalf("no node named a controller within %v: %s", c.opts.ReadyTimeout, last)
	}
	return id
}

// servingNodes are the nodes that are running and not paused.
func (c *Cluster) servingNodes() []*ClusterNode {
	var out []*ClusterNode
	for _, nd := range c.nodes {
		if nd.Running() && !nd.Paused() {
			out = append(out, nd)
		}
	}
	return out
}

// PartitionState is one partition as a Metadata answer describes it.
type PartitionState struct {
	Leader, LeaderEpoch int32
	Replicas, ISR       []int32
	ErrorCode           int16
}

func (p PartitionState) String() string {
	s := fmt.Sprintf("leader %d epoch %d replicas %v isr %v", p.Leader, p.LeaderEpoch, p.Replicas, p.ISR)
	if p.ErrorCode != 0 {
		s += " error " + kerr.ErrorForCode(p.ErrorCode).Error()
	}
	return s
}

// Partitions extracts topic's partitions from a Metadata answer, by index.
func Partitions(resp *kmsg.MetadataResponse, topic string) map[int32]PartitionState {
	out := map[int32]PartitionState{}
	for _, tp := range resp.Topics {
		if tp.Topic == nil || *tp.Topic != topic {
			continue
		}
		for _, p := range tp.Partitions {
			out[p.Partition] = PartitionState{
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR, ErrorCode: p.ErrorCode,
			}
		}
	}
	return out
}

// WaitPartition asks the serving nodes (other than those in skip) for
// topic's metadata until one answers with partition p in a state cond
// accepts, and returns it. It fails the test after timeout.
func (c *Cluster) WaitPartition(t testing.TB, topic string, p int32, timeout time.Duration,
	cond func(PartitionState) bool, skip ...int32) PartitionState {
	t.Helper()
	var got PartitionState
	var last []string
	ok := poll(timeout, func() bool {
		last = last[:0]
		for _, nd := range c.servingNodes() {
			if slices.Contains(skip, nd.id) {
				continue
			}
			resp, err := c.Metadata(context.Background(), nd.id, topic)
			if err != nil {
				last = append(last, err.Error())
				continue
			}
			st, found := Partitions(resp, topic)[p]
			if !found {
				last = append(last, fmt.Sprintf("node %d: no partition %s/%d", nd.id, topic, p))
				continue
			}
			if cond(st) {
				got = st
				return true
			}
			last = append(last, fmt.Sprintf("node %d: %v", nd.id, st))
		}
		return false
	})
	if !ok {
		t.Fatalf("%s/%d: no node answered with the wanted state within %v; last answers: %s",
			topic, p, timeout, strings.Join(last, "; "))
	}
	return got
}

// Leader returns the current leader of topic/p as Metadata names it,
// waiting for a live one (an id of a running node).
func (c *Cluster) Leader(t testing.TB, topic string, p int32) int32 {
	t.Helper()
	return c.WaitPartition(t, topic, p, c.opts.ReadyTimeout, func(st PartitionState) bool {
		return st.Leader >= 1 && int(st.Leader) <= len(c.nodes) && c.Node(st.Leader).Running()
	}).Leader
}

// WaitNewLeader waits, asking only nodes other than old, until topic/p has a
// leader other than old, and returns its state.
func (c *Cluster) WaitNewLeader(t testing.TB, topic string, p int32, old int32, timeout time.Duration) PartitionState {
	t.Helper()
	return c.WaitPartition(t, topic, p, timeout, func(st PartitionState) bool {
		return st.Leader >= 1 && st.Leader != old && st.ErrorCode == 0
	}, old)
}

// WaitInSync waits until a node other than id reports topic/p with id in
// its ISR. Node id itself is not asked: a node coming back from a fault may
// still hold the image from before it, in which it was in the ISR.
func (c *Cluster) WaitInSync(t testing.TB, topic string, p int32, id int32, timeout time.Duration) PartitionState {
	t.Helper()
	return c.WaitPartition(t, topic, p, timeout, func(st PartitionState) bool {
		return slices.Contains(st.ISR, id) && st.Leader != id
	}, id)
}

// WaitStable waits until every serving node gives the same leader and
// leader epoch for each of topic's partitions, each a live node with no
// partition error, and returns that state: the point from which reads are
// authoritative.
func (c *Cluster) WaitStable(t testing.TB, topic string, partitions int32) map[int32]PartitionState {
	t.Helper()
	var got map[int32]PartitionState
	var last string
	ok := poll(c.opts.ReadyTimeout, func() bool {
		got = nil
		for _, nd := range c.servingNodes() {
			resp, err := c.Metadata(context.Background(), nd.id, topic)
			if err != nil {
				last = err.Error()
				return false
			}
			ps := Partitions(resp, topic)
			if int32(len(ps)) != partitions {
				last = fmt.Sprintf("node %d lists %d partitions", nd.id, len(ps))
				return false
			}
			for p, st := range ps {
				if st.ErrorCode != 0 || st.Leader < 1 || int(st.Leader) > len(c.nodes) || !c.Node(st.Leader).Running() {
					last = fmt.Sprintf("node %d: partition %d: %v", nd.id, p, st)
					return false
				}
				if got != nil && (got[p].Leader != st.Leader || got[p].LeaderEpoch != st.LeaderEpoch) {
					last = fmt.Sprintf("partition %d: node %d says %v, another node %v", p, nd.id, st, got[p])
					return false
				}
			}
			if got == nil {
				got = ps
			}
		}
		return got != nil
	})
	if !ok {
		t.Fatalf("nodes do not agree on the leaders of %s within %v: %s", topic, c.opts.ReadyTimeout, last)
	}
	return got
}

// CreateTopic creates topic through the bootstrap list and waits until every
// serving node's Metadata shows each partition with a leader.
func (c *Cluster) CreateTopic(t testing.TB, topic string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	CreateTopicRF(t, c.Bootstrap(), topic, partitions, rf, configs)
	c.WaitTopic(t, topic, partitions)
}

// WaitTopic waits until every serving node's Metadata shows topic with
// partitions partitions, each with a leader that is a node of the cluster
// and no partition error.
func (c *Cluster) WaitTopic(t testing.TB, topic string, partitions int32) {
	t.Helper()
	for _, nd := range c.servingNodes() {
		var last string
		ok := poll(c.opts.ReadyTimeout, func() bool {
			resp, err := c.Metadata(context.Background(), nd.id, topic)
			if err != nil {
				last = err.Error()
				return false
			}
			ps := Partitions(resp, topic)
			if int32(len(ps)) != partitions {
				last = fmt.Sprintf("%d partitions listed", len(ps))
				return false
			}
			for p, st := range ps {
				if st.ErrorCode != 0 || st.Leader < 1 || int(st.Leader) > len(c.nodes) {
					last = fmt.Sprintf("partition %d: %v", p, st)
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("topic %s not ready on node %d within %v: %s", topic, nd.id, c.opts.ReadyTimeout, last)
		}
	}
}

// CreateTopicRF creates a topic with the given replication factor through
// addr (a bootstrap list) and fails the test unless it is confirmed.
func CreateTopicRF(t testing.TB, addr, topic string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(NewClient(t, addr, Seeds(addr)))
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, topic)
	if err != nil {
		t.Fatalf("create topic %s (rf %d): %v", topic, rf, err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s (rf %d): %v (%s)", topic, rf, resp.Err, resp.ErrMessage)
	}
}

// Seeds is a franz-go option seeding a client with every address of a
// comma-separated bootstrap list (NewClient takes one address; pass Seeds
// after it to use a list).
func Seeds(list string) kgo.Opt {
	var addrs []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return kgo.SeedBrokers(addrs...)
}
