package diff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// Allowed differences found only with three nodes; each id is an anchor in
// docs/compatibility.md (### Three nodes).
func init() {
	knownDifferences = append(knownDifferences,
		known{id: "no-follower-fetch", kind: "scope", test: `^TestCluster3/not-leader`, step: `^fetch from a follower`, path: ``},
	)
}

// TestCluster3 compares a three-node Apache Kafka (KRaft, every node broker
// and controller) with a three-node Strom cluster. Every sequence starts at
// node 1 of each; requests that must reach a partition's leader go to the
// leader that cluster's own Metadata names. Which node leads what, replica
// order, coordinator and controller ids are each cluster's own: they are
// compared as membership of the broker list and as counts
// (docs/compatibility.md#three-nodes).
func TestCluster3(t *testing.T) {
	if !fullSuite() {
		t.Skip("full suite only (STROM_COMPAT=full or -tags compat)")
	}
	if testing.Short() {
		t.Skip("compat: Apache Kafka is not started in -short mode")
	}
	if os.Getenv("STROM_SKIP_KAFKAREF") != "" {
		t.Skip("compat: STROM_SKIP_KAFKAREF is set")
	}
	testkit.NeedTool(t, "java")

	// Kafka's JVMs start while Strom is built and formed.
	var (
		kb   *kafkaref.Broker
		kerr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		kb, kerr = kafkaref.StartProcess(ctx, kafkaref.Options{Nodes: 3, HeapMB: 512, StartTimeout: 2 * time.Minute})
	}()
	t.Cleanup(func() {
		<-done
		if kb != nil {
			kb.Stop()
		}
	})
	c := testkit.StartCluster(t, 3)
	<-done
	if errors.Is(kerr, kafkaref.ErrUnavailable) {
		testkit.MissingTool(t, "kafka-ref-jars", kerr.Error())
	}
	if kerr != nil {
		t.Fatalf("start Apache Kafka: %v", kerr)
	}

	p := &pair{kafka: kb, kafkaAddr: kb.Addrs()[0], stromAddr: c.Node(1).KafkaAddr()}
	var err error
	if p.kafkaVersions, err = advertised(p.kafkaAddr); err != nil {
		t.Fatalf("kafka ApiVersions: %v", err)
	}
	if p.stromVersions, err = advertised(p.stromAddr); err != nil {
		t.Fatalf("strom ApiVersions: %v", err)
	}
	// In order: the all-topics Metadata comes before anything creates
	// internal topics.
	for _, sc := range []scenario{
		{name: "metadata", key: -1, run: clusterMetadata},
		{name: "create-topics", key: -1, run: clusterCreateTopics},
		{name: "produce-fetch", key: -1, run: clusterProduceFetch},
		{name: "describe-cluster", key: -1, run: clusterDescribe},
		{name: "find-coordinator", key: -1, run: clusterFindCoordinator},
		{name: "not-leader", key: -1, run: clusterNotLeader},
	} {
		t.Run(sc.name, func(t *testing.T) { p.compare(t, sc, -1) })
	}
}

// nodes is one side's view of its cluster: the broker list node 1 gives,
// and a connection per node for requests that must reach a given node.
type nodes struct {
	s     *session
	addrs map[int32]string
	conns map[int32]*wireConn
}

// clusterNodes reads the broker list from node 1 (not compared: the
// scenarios compare it) and closes its connections when the scenario ends.
func clusterNodes(s *session) *nodes {
	n := &nodes{s: s, addrs: map[int32]string{}, conns: map[int32]*wireConn{}}
	r := s.must("metadata", metadataReq(s.newest(3))).(*kmsg.MetadataResponse)
	for _, b := range r.Brokers {
		n.addrs[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	if len(n.addrs) != 3 {
		s.fail("node 1 lists %d brokers: %s", len(n.addrs), compactJSON(normalize(r)))
	}
	return n
}

func (n *nodes) close() {
	for _, c := range n.conns {
		c.Close()
	}
}

// sendTo sends req to node id on that node's own connection.
func (n *nodes) sendTo(id int32, req kmsg.Request) (kmsg.Response, error) {
	if id == 1 {
		return n.s.send(req)
	}
	addr, ok := n.addrs[id]
	if !ok {
		n.s.fail("node %d is not in the broker list", id)
	}
	c := n.conns[id]
	if c == nil {
		var err error
		if c, err = dial(addr); err != nil {
			return nil, err
		}
		n.conns[id] = c
	}
	resp, err := c.roundTrip(req)
	if err != nil {
		c.Close()
		delete(n.conns, id)
	}
	return resp, err
}

// doAt sends req to node id and records the answer normalised for a
// cluster: see clusterView. leader is the node the step's partition is led
// by, or -1.
func (n *nodes) doAt(id int32, step string, req kmsg.Request, leader int32) {
	resp, err := n.sendTo(id, req)
	step = fmt.Sprintf("%s (%s v%d)", step, kmsg.NameForKey(req.Key()), req.GetVersion())
	switch {
	case err != nil:
		n.s.record(step, transportOutcome(err))
	case resp == nil:
		n.s.record(step, "no response")
	default:
		n.s.record(step, clusterView("", normalize(resp), n.addrs, leader))
	}
}

// clusterView rewrites, in a normalised answer, what names a node or
// depends on which node leads: a node id becomes "<leader>" when it is the
// partition's leader, "<broker>" when it is another node of the broker list
// and stays as it is otherwise (-1, or a node the cluster does not list);
// replica and ISR lists become their size when they name distinct listed
// brokers; leader epochs become "<epoch>" when not negative. Node ids in a
// broker list are kept (both clusters number their nodes 1 to 3) unless the
// step is about one partition: its answer lists the leader's endpoint.
func clusterView(parent string, v any, brokers map[int32]string, leader int32) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch {
			case k == "Leader" || k == "LeaderID" || k == "ControllerID" || k == "NodeID" && (parent != "Brokers" || leader >= 0):
				x[k] = nodeRef(e, brokers, leader)
			case k == "LeaderEpoch":
				if n, ok := num(e); ok && n >= 0 {
					x[k] = "<epoch>"
				}
			case k == "Replicas" || k == "ISR":
				x[k] = replicaSet(e, brokers)
			default:
				x[k] = clusterView(k, e, brokers, leader)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = clusterView(parent, e, brokers, leader)
		}
	}
	return v
}

func nodeRef(e any, brokers map[int32]string, leader int32) any {
	n, ok := num(e)
	if !ok {
		return e
	}
	if leader >= 0 && n == int64(leader) {
		return "<leader>"
	}
	if _, ok := brokers[int32(n)]; ok {
		return "<broker>"
	}
	return e
}

func replicaSet(e any, brokers map[int32]string) any {
	list, ok := e.([]any)
	if !ok {
		return e
	}
	seen := map[int64]bool{}
	for _, r := range list {
		n, ok := num(r)
		if _, listed := brokers[int32(n)]; !ok || !listed || seen[n] {
			return e
		}
		seen[n] = true
	}
	return fmt.Sprintf("%d distinct brokers", len(list))
}

// createReplicated creates a topic with replication factor 3 through node 1
// (not compared) and waits until it is replicated.
func (n *nodes) createReplicated(name string, partitions int32) map[int32]int32 {
	s := n.s
	req := createTopicsReq(s.newest(19), false, newTopic(name, partitions, 3))
	r := s.must("create topic "+name, req).(*kmsg.CreateTopicsResponse)
	if len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 {
		s.fail("create topic %s: %s", name, compactJSON(normalize(r)))
	}
	return n.waitReplicated(name, partitions)
}

// waitReplicated polls until node 1's Metadata shows every partition of
// topic with a listed leader and three replicas, all in sync, and each
// leader answers ListOffsets for its partition. It returns each
// partition's leader.
func (n *nodes) waitReplicated(topic string, partitions int32) map[int32]int32 {
	s := n.s
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if leaders, ok := n.replicated(topic, partitions, &last); ok {
			return leaders
		}
		sleepPoll()
	}
	s.fail("topic %s not replicated: %s", topic, last)
	return nil
}

func (n *nodes) replicated(topic string, partitions int32, last *string) (map[int32]int32, bool) {
	s := n.s
	resp, err := s.send(metadataReq(s.newest(3), topic))
	if err != nil {
		*last = err.Error()
		return nil, false
	}
	r := resp.(*kmsg.MetadataResponse)
	*last = "metadata: " + compactJSON(normalize(r))
	if len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 || int32(len(r.Topics[0].Partitions)) != partitions {
		return nil, false
	}
	leaders := map[int32]int32{}
	for _, p := range r.Topics[0].Partitions {
		if _, ok := n.addrs[p.Leader]; !ok || p.ErrorCode != 0 || len(p.Replicas) != 3 || len(p.ISR) != 3 {
			return nil, false
		}
		leaders[p.Partition] = p.Leader
	}
	for p, l := range leaders {
		resp, err := n.sendTo(l, listOffsetsReq(s, s.newest(2), topic, p, -1))
		if err != nil {
			*last = err.Error()
			return nil, false
		}
		lp := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if lp.ErrorCode != 0 {
			*last = fmt.Sprintf("list offsets of partition %d at its leader: error %d", p, lp.ErrorCode)
			return nil, false
		}
	}
	return leaders, true
}

func clusterMetadata(s *session, _ int16) {
	n := clusterNodes(s)
	defer n.close()
	name := s.topic("t")
	n.createReplicated(name, 3)
	v := s.newest(3)
	n.doAt(1, "all topics", metadataReq(v), -1)
	n.doAt(1, "the topic with 3 partitions, replication factor 3", metadataReq(v, name), -1)
}

func clusterCreateTopics(s *session, _ int16) {
	n := clusterNodes(s)
	defer n.close()
	v := s.newest(19)
	s.doCreate("replication factor 3", createTopicsReq(v, false, newTopic(s.topic("rf3"), 3, 3)))
	s.doCreate("replication factor 4, above the broker count", createTopicsReq(v, false, newTopic(s.topic("rf4"), 1, 4)))
	n.waitReplicated(s.topic("rf3"), 3)
	n.doAt(1, "after both", metadataReq(s.newest(3), s.topic("rf3"), s.topic("rf4")), -1)
}

func clusterProduceFetch(s *session, _ int16) {
	n := clusterNodes(s)
	defer n.close()
	name := s.topic("t")
	leaders := n.createReplicated(name, 3)
	for p := range int32(3) {
		l := leaders[p]
		at := fmt.Sprintf("partition %d, at its leader: ", p)
		tag := "p" + itoa(int(p))
		n.doAt(l, at+"acks=-1", s.produceReq(s.newest(0), name, p, makeBatch(plain, tag+"-a", tag+"-b", tag+"-c")), l)
		n.doAt(l, at+"acks=-1, second batch", s.produceReq(s.newest(0), name, p, makeBatch(plain, tag+"-d")), l)
		n.doAt(l, at+"fetch from 0", fetchReq(s, s.newest(1), name, p, 0), l)
		n.doAt(l, at+"fetch from the second batch", fetchReq(s, s.newest(1), name, p, 3), l)
		n.doAt(l, at+"earliest", listOffsetsReq(s, s.newest(2), name, p, -2), l)
		n.doAt(l, at+"latest", listOffsetsReq(s, s.newest(2), name, p, -1), l)
	}
}

func clusterDescribe(s *session, _ int16) {
	n := clusterNodes(s)
	defer n.close()
	v := s.newest(60)
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version = v
	n.doAt(1, "plain", req, -1)
	ops := kmsg.NewPtrDescribeClusterRequest()
	ops.Version = v
	ops.IncludeClusterAuthorizedOperations = true
	n.doAt(1, "authorized operations", ops, -1)
}

func clusterFindCoordinator(s *session, _ int16) {
	n := clusterNodes(s)
	defer n.close()
	g := s.topic("g")
	n.waitCoordinator(g)
	v := s.newest(10)
	n.doAt(1, "group", findCoordinatorReq(v, g), -1)
	if v >= 4 {
		n.doAt(1, "group, by the v3 field", findCoordinatorReq(3, g), -1)
	}
}

// waitCoordinator polls node 1 until it names a coordinator for group and
// that coordinator answers OffsetFetch for it: Kafka creates
// __consumer_offsets on first use and names a coordinator before loading it.
func (n *nodes) waitCoordinator(group string) {
	s := n.s
	deadline := time.Now().Add(60 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		r := s.must("find coordinator", findCoordinatorReq(s.newest(10), group)).(*kmsg.FindCoordinatorResponse)
		if len(r.Coordinators) == 1 && r.Coordinators[0].ErrorCode == 0 {
			id := r.Coordinators[0].NodeID
			last = fmt.Sprintf("coordinator %d", id)
			if resp, err := n.sendTo(id, fetchOffsetsReq(s.newest(9), group, "none")); err == nil {
				of := resp.(*kmsg.OffsetFetchResponse)
				code := of.ErrorCode
				if len(of.Groups) == 1 {
					code = of.Groups[0].ErrorCode
				}
				if code == 0 {
					return
				}
				last += fmt.Sprintf(": offset fetch error %d", code)
			}
		} else {
			last = compactJSON(normalize(r))
		}
		sleepPoll()
	}
	s.fail("no loaded coordinator for %s: %s", group, last)
}

func clusterNotLeader(s *session, _ int16) {
	n := clusterNodes(s)
	defer n.close()
	name := s.topic("t")
	leaders := n.createReplicated(name, 1)
	l := leaders[0]
	ids := make([]int32, 0, len(n.addrs))
	for id := range n.addrs {
		if id != l {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	follower := ids[0]
	n.doAt(follower, "produce to a follower", s.produceReq(s.newest(0), name, 0, makeBatch(plain, "x")), l)
	n.doAt(follower, "fetch from a follower", fetchReq(s, s.newest(1), name, 0, 0), l)
	n.doAt(follower, "latest offset from a follower", listOffsetsReq(s, s.newest(2), name, 0, -1), l)
	n.doAt(l, "produce to the leader", s.produceReq(s.newest(0), name, 0, makeBatch(plain, "y")), l)
	n.doAt(l, "fetch from the leader", fetchReq(s, s.newest(1), name, 0, 0), l)
}
