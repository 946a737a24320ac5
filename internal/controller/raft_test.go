package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startQuorum starts n in-process Raft controllers on loopback.
func startQuorum(t *testing.T, n int) []*Raft {
	t.Helper()
	var peers []RaftPeer
	for i := 1; i <= n; i++ {
		peers = append(peers, RaftPeer{ID: ids.NodeID(i), Raft: freePort(t)})
	}
	nodes := make([]*Raft, n)
	for i := range nodes {
		id := ids.NodeID(i + 1)
		nodes[i] = openNode(t, metadata.Broker{ID: id, Host: "127.0.0.1", Port: 9000 + int32(id), Replication: "127.0.0.1:" + strconv.Itoa(int(9100+id))},
			peers[i].Raft, peers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range nodes {
		if err := c.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// openNode opens the node self.ID of a test quorum, listening and
// advertising raft at addr, with peers as its configured peer list; it is
// closed when the test ends.
func openNode(t *testing.T, self metadata.Broker, addr string, peers []RaftPeer) *Raft {
	t.Helper()
	return openNodeIn(t, self, addr, peers, t.TempDir())
}

// openNodeIn is openNode with the node's raft state kept in dir.
func openNodeIn(t *testing.T, self metadata.Broker, addr string, peers []RaftPeer, dir string) *Raft {
	t.Helper()
	c, err := OpenRaft(RaftConfig{
		NodeID: self.ID, Self: self, RaftListen: addr, RaftAdvertise: addr, Peers: peers, Dir: dir,
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// joinNode opens node 4 with the quorum's peer list plus itself, after
// edit (if set) has changed that list, and waits until it is ready.
func joinNode(t *testing.T, nodes []*Raft, edit func(peers []RaftPeer)) *Raft {
	t.Helper()
	peers := append([]RaftPeer(nil), nodes[0].cfg.Peers...)
	if edit != nil {
		edit(peers)
	}
	addr := freePort(t)
	joiner := openNode(t, metadata.Broker{ID: 4, Host: "127.0.0.1", Port: 9004}, addr, append(peers, RaftPeer{ID: 4, Raft: addr}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := joiner.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return joiner
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRaftQuorumReplicatesAndFailsOver(t *testing.T) {
	nodes := startQuorum(t, 3)
	for _, c := range nodes {
		waitFor(t, "every broker registered", func() bool { return len(c.Image().LiveBrokers()) == 3 })
	}
	// Propose through a node that is not the leader: forwarded.
	var follower *Raft
	for _, c := range nodes {
		if c.Image().ControllerID != c.cfg.NodeID {
			follower = c
			break
		}
	}
	if follower == nil {
		t.Fatal("no follower")
	}
	ctx := context.Background()
	tp, err := follower.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 3, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	if tp == nil || len(tp.Partitions) != 3 {
		t.Fatalf("created topic not visible on the proposer: %+v", tp)
	}
	if _, err := follower.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}); err == nil {
		t.Fatal("duplicate topic accepted")
	}
	for _, c := range nodes {
		waitFor(t, "topic on every node", func() bool { return c.Image().Topics["t"] != nil })
	}
	first, err := follower.AllocateProducerIDs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	second, err := nodes[0].AllocateProducerIDs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if second < first+10 && first < second+10 {
		t.Fatalf("overlapping producer id blocks %d and %d", first, second)
	}

	// Stop the leader: the others elect a new one, fence the old broker
	// and move its leaderships with a bumped epoch.
	leaderID := nodes[0].Image().ControllerID
	old := nodes[leaderID-1]
	epochs := map[int32]ids.LeaderEpoch{}
	for _, p := range old.Image().Topics["t"].Partitions {
		epochs[p.Index] = p.LeaderEpoch
	}
	old.Close()
	var survivor *Raft
	for _, c := range nodes {
		if c != old {
			survivor = c
		}
	}
	waitFor(t, "old leader fenced", func() bool {
		_, live := survivor.Image().LiveBroker(leaderID)
		return !live && survivor.Image().ControllerID != leaderID && survivor.Image().ControllerID != -1
	})
	for _, p := range survivor.Image().Topics["t"].Partitions {
		if p.Leader == leaderID {
			t.Fatalf("partition %d still led by the fenced broker", p.Index)
		}
		if p.LeaderEpoch < epochs[p.Index] {
			t.Fatalf("partition %d epoch went back from %d to %d", p.Index, epochs[p.Index], p.LeaderEpoch)
		}
	}
	if _, err := survivor.CreateTopic(ctx, TopicSpec{Name: "u", Partitions: 1, ReplicationFactor: 2}); err != nil {
		t.Fatalf("create after failover: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func TestRaftNodeJoinsExistingCluster(t *testing.T) {
	nodes := startQuorum(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := nodes[0].CreateTopic(ctx, TopicSpec{Name: "before", Partitions: 1, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	joiner := joinNode(t, nodes, nil)
	if joiner.Image().Topics["before"] == nil {
		t.Fatal("joined node lacks metadata written before it joined")
	}
	for _, c := range nodes {
		waitFor(t, "4 live brokers everywhere", func() bool { return len(c.Image().LiveBrokers()) == 4 })
	}
	if _, err := joiner.CreateTopic(ctx, TopicSpec{Name: "after", Partitions: 4, ReplicationFactor: 4}); err != nil {
		t.Fatalf("create through the joined node: %v", err)
	}
}

// TestLeaderReportsPeerListDisagreement: a node whose config file gives
// another member a raft address the quorum does not have still joins (it
// finds the leader through the other peers), and the metadata leader
// reports the difference, naming the node and the address.
func TestLeaderReportsPeerListDisagreement(t *testing.T) {
	nodes := startQuorum(t, 3)
	joinNode(t, nodes, func(peers []RaftPeer) {
		peers[1].Raft = "127.0.0.1:1" // node 2, misconfigured in node 4's file
	})
	var problems map[ids.NodeID]string
	waitFor(t, "the leader to report node 4's peer list", func() bool {
		for _, c := range nodes {
			if p := c.PeerProblems(); len(p) > 0 {
				problems = p
				return true
			}
		}
		return false
	})
	want := "node 2 at 127.0.0.1:1 (the quorum has " + nodes[1].cfg.RaftAdvertise + ")"
	if len(problems) != 1 || problems[4] != want {
		t.Fatalf("peer problems %v, want only node 4: %q", problems, want)
	}
}

// TestForwardedProposalsKeepTheirSentinel proposes, through a node that is
// not the metadata leader, changes the leader refuses: the proposer gets
// the leader's sentinel back (the handlers answer clients from it).
func TestForwardedProposalsKeepTheirSentinel(t *testing.T) {
	nodes := startQuorum(t, 3)
	for _, c := range nodes {
		waitFor(t, "every broker registered", func() bool { return len(c.Image().LiveBrokers()) == 3 })
	}
	var follower *Raft
	for _, c := range nodes {
		if c.Image().ControllerID != c.cfg.NodeID {
			follower = c
			break
		}
	}
	ctx := context.Background()
	tp, err := follower.CreateTopic(ctx, TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	leader := tp.Partitions[0].Leader
	for _, tc := range []struct {
		name    string
		propose func() error
		want    error
	}{
		{"create an existing topic", func() error {
			// Past this node's own check: the leader refuses it.
			_, err := follower.propose(ctx, &CreateTopic{Topic: "t", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{1}}})
			return err
		}, ErrTopicExists},
		{"preferred election of the leader", func() error { return follower.ElectLeader(ctx, "t", 0, leader) }, ErrElectionNotNeeded},
		{"unclean election with a live leader", func() error { return follower.ElectUnclean(ctx, "t", 0) }, ErrElectionNotNeeded},
		{"cancel a reassignment not running", func() error { return follower.Reassign(ctx, "t", 0, nil) }, ErrNoReassignment},
		{"reassign to an unknown broker", func() error { return follower.Reassign(ctx, "t", 0, []ids.NodeID{1, 2, 9}) }, ErrInvalidReplicaAssignment},
		{"configs of an unknown topic", func() error { return follower.AlterTopicConfigs(ctx, "nope", nil, false) }, ErrUnknownTopic},
		{"ISR change at a stale epoch", func() error { return follower.AlterISR(ctx, "t", 0, -5, []ids.NodeID{leader}) }, ErrStaleLeaderEpoch},
	} {
		err := tc.propose()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s, forwarded: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestApplyReplyCarriesEverySentinel sends errors wrapping each sentinel
// the controller returns through the forwarding reply's JSON.
func TestApplyReplyCarriesEverySentinel(t *testing.T) {
	for _, s := range []error{
		ErrTopicExists, ErrUnknownTopic, ErrInvalidPartitions, ErrInvalidReplicationFactor, ErrInvalidTopic,
		ErrInvalidReplicaAssignment, ErrNotController, ErrStaleLeaderEpoch, ErrInvalidISR, ErrNotInISR,
		ErrNoEligibleLeader, ErrUnknownBroker, ErrElectionNotNeeded, ErrNoReassignment, ErrMetadataLog,
		errCommandVersion, errUnknownCommand,
		metadata.ErrUnknownConfig, metadata.ErrInvalidConfig, metadata.ErrNotDynamicBrokerConfig,
	} {
		var rep applyReply
		rep.setError(fmt.Errorf("%w: t-0", s))
		raw, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var got applyReply
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if err := got.error(); !errors.Is(err, s) || err.Error() != s.Error()+": t-0" {
			t.Errorf("%v crossed the wire as %v (kind %q)", s, err, got.Kind)
		}
	}
}
