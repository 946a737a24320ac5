package cluster_test

import (
	"slices"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/testkit"
)

// failoverTimeout bounds how long a new leader may take to be named and to
// acknowledge writes: a missed session (~3s) plus an election and client
// metadata refreshes.
const failoverTimeout = 20 * time.Second

// TestKillLeaderDuringProduce SIGKILLs the leader of partition 0 while an
// idempotent acks=all producer writes to every partition. A new leader with a
// higher epoch must take over, the producer must carry on there, and after
// the killed node is back nothing acknowledged may be missing or moved.
func TestKillLeaderDuringProduce(t *testing.T) {
	testLeaderFault(t, "kill", func(t *testing.T, f faultCtx, n *testkit.ClusterNode) (recover func()) {
		n.Kill(t)
		return func() { n.Restart(t) }
	})
}

// TestPauseLeaderDuringProduce is TestKillLeaderDuringProduce with SIGSTOP:
// the frozen leader keeps its sockets open and comes back (SIGCONT) believing
// it still leads, which it must not act on. While it is frozen, past its
// session and after the others have elected a new leader, an acks=all
// produce request is sent straight to it: the resumed node reads it with
// the image it had when frozen and must not acknowledge it, since it cannot
// replicate it. The producer's ack ledger checks that no two nodes
// acknowledged writes for one partition in one leader epoch.
func TestPauseLeaderDuringProduce(t *testing.T) {
	testLeaderFault(t, "pause", func(t *testing.T, f faultCtx, n *testkit.ClusterNode) (recover func()) {
		n.Pause(t)
		return func() { resumeWithQueuedProduce(t, f, n) }
	})
}

// TestLongPauseLeaderDuringProduce freezes the leader for 20s, well past
// its session and the followers' lag bound (STROM_CLUSTER=full).
func TestLongPauseLeaderDuringProduce(t *testing.T) {
	fullOnly(t)
	testLeaderFault(t, "pause", func(t *testing.T, f faultCtx, n *testkit.ClusterNode) (recover func()) {
		n.Pause(t)
		return func() {
			time.Sleep(20 * time.Second) // the fault's length, not a wait for a condition
			resumeWithQueuedProduce(t, f, n)
		}
	})
}

// TestPauseControllerDuringProduce freezes the metadata controller, chosen
// to lead a partition too: on SIGCONT it still believes it leads the
// quorum until it hears of the new term (STROM_CLUSTER=full).
func TestPauseControllerDuringProduce(t *testing.T) {
	fullOnly(t)
	testFault(t, "pause", cutController, func(t *testing.T, f faultCtx, n *testkit.ClusterNode) (recover func()) {
		n.Pause(t)
		return func() { resumeWithQueuedProduce(t, f, n) }
	})
}

// faultCtx is what a fault of testLeaderFault may use.
type faultCtx struct {
	c     *testkit.Cluster
	topic string
	part  int32 // the partition the victim leads
	chk   *testkit.Checker
}

// resumeWithQueuedProduce sends an acks=all produce for the partition to the
// paused node n, resumes n while the request waits in its socket, and fails
// the test if n acknowledges it.
func resumeWithQueuedProduce(t *testing.T, f faultCtx, n *testkit.ClusterNode) {
	t.Helper()
	var other *testkit.ClusterNode // gives the topic id, which n cannot while frozen
	for _, nd := range f.c.Nodes() {
		if nd != n {
			other = nd
		}
	}
	problems := make(chan []string, 1)
	go func() { problems <- directProduceMustNotAckVia(t, n, other, f.topic, f.part, f.chk) }()
	// Give the request time to reach the frozen node's socket. Arriving
	// after the resume would test the same rule, less sharply.
	time.Sleep(500 * time.Millisecond)
	n.Resume(t)
	for _, p := range <-problems {
		t.Error(p)
	}
}

func testLeaderFault(t *testing.T, what string, fault func(*testing.T, faultCtx, *testkit.ClusterNode) func()) {
	testFault(t, what, cutPartitionLeader, fault)
}

// testFault runs fault on the leader of partition 0 or (whom ==
// cutController) on the controller and a partition it leads.
func testFault(t *testing.T, what string, whom cutWhom, fault func(*testing.T, faultCtx, *testkit.ClusterNode) func()) {
	c := testkit.StartCluster(t, nodes)
	topic := testkit.TopicName(t, "")
	c.CreateTopic(t, topic, partitions, rf, nil)
	chk := testkit.NewChecker()
	ledger := testkit.NewAckLedger(c)
	p := startProducer(t, c.Bootstrap(), topic, chk, ledger.Opt())
	p.WaitMore(t, -1, 600, 30*time.Second, "before the fault")
	part := int32(0)
	if whom == cutController {
		part = partitionLedBy(t, c, topic, c.ControllerID(t))
	}

	old := c.WaitPartition(t, topic, part, 10*time.Second, func(st testkit.PartitionState) bool { return st.Leader >= 1 })
	victim := c.Node(old.Leader)
	logf(t, "%s node %d, leader of %s/%d at epoch %d (isr %v)", what, victim.ID(), topic, part, old.LeaderEpoch, old.ISR)
	recover := fault(t, faultCtx{c: c, topic: topic, part: part, chk: chk}, victim)

	now := c.WaitNewLeader(t, topic, part, victim.ID(), failoverTimeout)
	logf(t, "new leader of %s/%d: %v", topic, part, now)
	if now.LeaderEpoch <= old.LeaderEpoch {
		t.Errorf("leader moved from %d to %d but its epoch went from %d to %d; a new leader needs a higher epoch",
			old.Leader, now.Leader, old.LeaderEpoch, now.LeaderEpoch)
	}
	p.WaitMore(t, part, 200, failoverTimeout, "the partition after failover")
	p.WaitMore(t, -1, 600, failoverTimeout, "all partitions after failover")
	logf(t, "producing continues after failover")

	recover()
	// Back in the ISR, as the others say; it may lead again (the
	// preferred-leader election moves leadership back to it).
	c.WaitPartition(t, topic, part, 30*time.Second, func(st testkit.PartitionState) bool {
		return st.Leader >= 1 && st.ErrorCode == 0 && slices.Contains(st.ISR, victim.ID())
	}, victim.ID())
	logf(t, "node %d back in the ISR of %s/%d", victim.ID(), topic, part)
	p.WaitMore(t, -1, 300, failoverTimeout, "after the node came back")
	p.Finish(t, producerFinish)
	read := verify(t, c, topic, chk)
	verifyLeaders(t, topic, read, chk, ledger)
}

// TestRestartEveryNode stops every node with SIGTERM while a producer is
// writing, starts them all again, and checks that everything acknowledged
// before and after is there and that producing resumes. Every node must exit
// cleanly, the last one too, though no quorum is left by then.
func TestRestartEveryNode(t *testing.T) {
	testWholeCluster(t, (*testkit.Cluster).StopAll)
}

// TestKillEveryNode is TestRestartEveryNode with SIGKILL: a power cut of the
// whole cluster must not lose an acknowledged write, since acks=all means it
// was synced on every in-sync replica.
func TestKillEveryNode(t *testing.T) {
	testWholeCluster(t, func(c *testkit.Cluster, t testing.TB) {
		for _, n := range c.Nodes() {
			n.Kill(t)
		}
	})
}

func testWholeCluster(t *testing.T, down func(*testkit.Cluster, testing.TB)) {
	c := testkit.StartCluster(t, nodes)
	topic := testkit.TopicName(t, "")
	c.CreateTopic(t, topic, partitions, rf, nil)
	chk := testkit.NewChecker()
	p := startProducer(t, c.Bootstrap(), topic, chk)
	p.WaitMore(t, -1, 600, 30*time.Second, "before the restart")

	down(c, t)
	logf(t, "all nodes down with %d records acknowledged", p.Acked(-1))
	c.StartAll(t)
	c.WaitTopic(t, topic, partitions)
	logf(t, "all nodes started again")
	for part := int32(0); part < partitions; part++ {
		p.WaitMore(t, part, 100, 30*time.Second, "after restarting every node")
	}
	p.Finish(t, producerFinish)
	verify(t, c, topic, chk)
}
