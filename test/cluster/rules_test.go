package cluster_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// metadataWatch asks every serving node for Metadata, checks each answer on
// its own against DESIGN.md §2 rules 1-3, and checks that leader epochs seen
// from each node never go down between successive answers.
type metadataWatch struct {
	c      *testkit.Cluster
	topic  string
	epochs map[int32]map[int32]int32 // node -> partition -> highest epoch seen
	rounds int
}

func newMetadataWatch(c *testkit.Cluster, topic string) *metadataWatch {
	return &metadataWatch{c: c, topic: topic, epochs: map[int32]map[int32]int32{}}
}

// round asks every serving node once, checks each answer on its own, and
// returns them. In steady state (all true) every answer must also list every
// node of the cluster and all answers must agree; during a failover nodes may
// briefly apply the image at different points, and a fenced node may be left
// out of the broker list, so only each answer's own consistency is checked.
func (w *metadataWatch) round(t *testing.T, steady bool) map[int32]*kmsg.MetadataResponse {
	t.Helper()
	w.rounds++
	out := map[int32]*kmsg.MetadataResponse{}
	lists := map[int32]string{}
	for _, nd := range w.c.Nodes() {
		if !nd.Running() || nd.Paused() {
			continue
		}
		resp, err := w.c.Metadata(context.Background(), nd.ID(), w.topic)
		if err != nil {
			if steady {
				t.Errorf("round %d: metadata from node %d: %v", w.rounds, nd.ID(), err)
			}
			continue // a node that just lost its connection; the next round asks again
		}
		out[nd.ID()] = resp
		lists[nd.ID()] = brokerList(resp)
		// Rule 1: each listed broker at the address it advertises.
		for _, b := range resp.Brokers {
			got := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
			if b.NodeID < 1 || int(b.NodeID) > len(w.c.Nodes()) {
				t.Errorf("round %d: node %d lists unknown broker %d at %s", w.rounds, nd.ID(), b.NodeID, got)
			} else if want := w.c.Node(b.NodeID).KafkaAddr(); got != want {
				t.Errorf("round %d: node %d lists broker %d at %s; it advertises %s", w.rounds, nd.ID(), b.NodeID, got, want)
			}
		}
		if steady && lists[nd.ID()] != advertisedList(w.c) {
			t.Errorf("round %d: node %d lists brokers %s, want %s", w.rounds, nd.ID(), lists[nd.ID()], advertisedList(w.c))
		}
		w.checkPartitions(t, nd.ID(), resp)
	}
	if steady {
		for id, l := range lists {
			for id2, l2 := range lists {
				if id < id2 && l != l2 {
					t.Errorf("round %d: nodes %d and %d disagree on the broker list: %s vs %s", w.rounds, id, id2, l, l2)
				}
			}
		}
	}
	return out
}

func (w *metadataWatch) checkPartitions(t *testing.T, node int32, resp *kmsg.MetadataResponse) {
	t.Helper()
	ids := map[int32]bool{}
	for _, b := range resp.Brokers {
		ids[b.NodeID] = true
	}
	if w.epochs[node] == nil {
		w.epochs[node] = map[int32]int32{}
	}
	for _, tp := range resp.Topics {
		if tp.Topic == nil || *tp.Topic != w.topic {
			continue
		}
		for _, p := range tp.Partitions {
			where := fmt.Sprintf("round %d: node %d: %s/%d", w.rounds, node, w.topic, p.Partition)
			// Rule 2: every leader and replica id is in the broker list;
			// no live leader is -1 with LEADER_NOT_AVAILABLE.
			if p.Leader >= 0 && !ids[p.Leader] {
				t.Errorf("%s: leader %d is not in the broker list %v", where, p.Leader, keys(ids))
			}
			if p.Leader < 0 && p.ErrorCode != kerr.LeaderNotAvailable.Code {
				t.Errorf("%s: leader %d with error %v, want LEADER_NOT_AVAILABLE", where, p.Leader, kerr.ErrorForCode(p.ErrorCode))
			}
			for _, r := range append(append([]int32{}, p.Replicas...), p.ISR...) {
				if !ids[r] {
					t.Errorf("%s: replica %d (replicas %v, isr %v) is not in the broker list %v", where, r, p.Replicas, p.ISR, keys(ids))
				}
			}
			if p.Leader >= 0 && !slices.Contains(p.ISR, p.Leader) {
				t.Errorf("%s: leader %d is not in its ISR %v", where, p.Leader, p.ISR)
			}
			// Rule 3: epochs only grow, and a named leader has a real one.
			if p.Leader >= 0 && p.LeaderEpoch < 0 {
				t.Errorf("%s: leader %d with epoch %d", where, p.Leader, p.LeaderEpoch)
			}
			prev, seen := w.epochs[node][p.Partition]
			if p.Leader < 0 && p.LeaderEpoch == -1 {
				continue // no leader and an unknown epoch: nothing to compare
			}
			if seen && p.LeaderEpoch < prev {
				t.Errorf("%s: leader epoch went down from %d to %d", where, prev, p.LeaderEpoch)
			}
			if !seen || p.LeaderEpoch > prev {
				w.epochs[node][p.Partition] = p.LeaderEpoch
			}
		}
	}
}

func brokerList(resp *kmsg.MetadataResponse) string {
	var s []string
	for _, b := range resp.Brokers {
		s = append(s, fmt.Sprintf("%d=%s", b.NodeID, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))))
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func advertisedList(c *testkit.Cluster) string {
	var s []string
	for _, nd := range c.Nodes() {
		s = append(s, fmt.Sprintf("%d=%s", nd.ID(), nd.KafkaAddr()))
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func keys(m map[int32]bool) []int32 {
	var out []int32
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestMetadataRules checks DESIGN.md §2 rules 1-3 and 6 on every node: in
// steady state, then continuously through a leader failover (SIGKILL of the
// leader of partition 0) and the node's return.
func TestMetadataRules(t *testing.T) {
	c := testkit.StartCluster(t, nodes)
	topic := testkit.TopicName(t, "")
	c.CreateTopic(t, topic, partitions, rf, nil)
	w := newMetadataWatch(c, topic)

	checkSameImage(t, c, topic)
	for range 5 {
		w.round(t, true)
	}
	checkFindCoordinator(t, c)

	old := c.WaitPartition(t, topic, 0, 10*time.Second, func(st testkit.PartitionState) bool { return st.Leader >= 1 })
	victim := c.Node(old.Leader)
	logf(t, "killing node %d, leader of %s/0 at epoch %d", victim.ID(), topic, old.LeaderEpoch)
	victim.Kill(t)

	// Poll every node through the failover until each names a new leader
	// with a higher epoch; every answer on the way is checked.
	deadline := time.Now().Add(failoverTimeout)
	for {
		answers := w.round(t, false)
		moved := len(answers) > 0
		for _, resp := range answers {
			st, ok := testkit.Partitions(resp, topic)[0]
			if !ok || st.Leader < 0 || st.Leader == victim.ID() || st.LeaderEpoch <= old.LeaderEpoch {
				moved = false
			}
		}
		if moved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the nodes still do not all name a new leader for %s/0 with an epoch above %d: %v",
				failoverTimeout, topic, old.LeaderEpoch, summarize(answers, topic))
		}
		time.Sleep(50 * time.Millisecond)
	}
	logf(t, "every live node names a new leader for %s/0", topic)
	checkFindCoordinator(t, c)

	victim.Restart(t)
	c.WaitInSync(t, topic, 0, victim.ID(), 30*time.Second)
	checkSameImage(t, c, topic)
	for range 5 {
		w.round(t, true)
	}
	checkFindCoordinator(t, c)
}

// checkSameImage polls until every node gives the same answer for topic
// (rule 1: one applied image), and fails if they still differ after a while.
func checkSameImage(t *testing.T, c *testkit.Cluster, topic string) {
	t.Helper()
	var last []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		last = last[:0]
		for _, nd := range c.Nodes() {
			resp, err := c.Metadata(context.Background(), nd.ID(), topic)
			if err != nil {
				last = append(last, fmt.Sprintf("node %d: %v", nd.ID(), err))
				continue
			}
			last = append(last, fmt.Sprintf("controller %d brokers %s topic %v", resp.ControllerID, brokerList(resp), partsString(resp, topic)))
		}
		same := true
		for i := 1; i < len(last); i++ {
			same = same && last[i] == last[0]
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("nodes still answer Metadata differently after 10s:\n  %s", strings.Join(last, "\n  "))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func partsString(resp *kmsg.MetadataResponse, topic string) string {
	ps := testkit.Partitions(resp, topic)
	var s []string
	for p := int32(0); p < int32(len(ps)); p++ {
		st := ps[p]
		isr := slices.Clone(st.ISR)
		slices.Sort(isr)
		s = append(s, fmt.Sprintf("%d:{leader %d epoch %d replicas %v isr %v err %d}", p, st.Leader, st.LeaderEpoch, st.Replicas, isr, st.ErrorCode))
	}
	return strings.Join(s, " ")
}

func summarize(answers map[int32]*kmsg.MetadataResponse, topic string) string {
	var s []string
	for node, resp := range answers {
		s = append(s, fmt.Sprintf("node %d: %s", node, partsString(resp, topic)))
	}
	sort.Strings(s)
	return strings.Join(s, "; ")
}

// checkFindCoordinator asks every serving node for a group coordinator and,
// where one is named, checks that its host:port is the one Metadata gives
// for that node id (rule 6). An unsupported API is skipped, not failed.
func checkFindCoordinator(t *testing.T, c *testkit.Cluster) {
	t.Helper()
	group := "rules-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, nd := range c.Nodes() {
		if !nd.Running() || nd.Paused() {
			continue
		}
		var coord *kmsg.FindCoordinatorResponse
		deadline := time.Now().Add(15 * time.Second)
		for {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey = group
			req.CoordinatorKeys = []string{group}
			resp, err := c.Request(context.Background(), nd.ID(), req)
			if err != nil && strings.Contains(err.Error(), "unknown request key") || errorIsUnsupported(err) {
				t.Logf("node %d does not serve FindCoordinator: %v; rule 6 not checked", nd.ID(), err)
				return
			}
			if err == nil {
				coord = resp.(*kmsg.FindCoordinatorResponse)
				if id, host, port, code := coordinatorOf(coord); code == 0 && id >= 0 {
					md, merr := c.Metadata(context.Background(), nd.ID())
					if merr != nil {
						t.Fatalf("metadata from node %d: %v", nd.ID(), merr)
					}
					want := ""
					for _, b := range md.Brokers {
						if b.NodeID == id {
							want = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
						}
					}
					got := net.JoinHostPort(host, strconv.Itoa(int(port)))
					if got != want {
						t.Errorf("node %d: FindCoordinator names node %d at %s; Metadata gives %q", nd.ID(), id, got, want)
					}
					if c.Node(id).KafkaAddr() != got {
						t.Errorf("node %d: FindCoordinator names node %d at %s; it advertises %s", nd.ID(), id, got, c.Node(id).KafkaAddr())
					}
					t.Logf("node %d: FindCoordinator(%s) names node %d at %s", nd.ID(), group, id, got)
					break
				} else if code != kerr.CoordinatorNotAvailable.Code && code != kerr.CoordinatorLoadInProgress.Code && code != 0 {
					t.Errorf("node %d: FindCoordinator error %v", nd.ID(), kerr.ErrorForCode(code))
					break
				}
			}
			if time.Now().After(deadline) {
				t.Errorf("node %d: no coordinator named within 15s (last error %v)", nd.ID(), err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func coordinatorOf(r *kmsg.FindCoordinatorResponse) (id int32, host string, port int32, code int16) {
	if len(r.Coordinators) > 0 {
		c := r.Coordinators[0]
		return c.NodeID, c.Host, c.Port, c.ErrorCode
	}
	return r.NodeID, r.Host, r.Port, r.ErrorCode
}

func errorIsUnsupported(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "does not support") || strings.Contains(err.Error(), "UNSUPPORTED_VERSION"))
}
