package testkit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
)

// TestClusterConfigFiles checks the files StartCluster writes, without
// starting anything: each loads and validates, names this node's own
// advertised addresses in its peer entry, and with proxies advertises and
// lists the proxies in front of each node's wal and raft listeners.
func TestClusterConfigFiles(t *testing.T) {
	c := newCluster(t, 3, WithProxies(), WithNodeTOML("auto_create_topics = false"))
	for _, nd := range c.Nodes() {
		cfg, err := config.Load(nd.ConfigPath())
		if err != nil {
			t.Fatalf("node %d: load %s: %v", nd.ID(), nd.ConfigPath(), err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("node %d: validate: %v", nd.ID(), err)
		}
		if cfg.NodeID != nd.ID() || cfg.AdvertisedAddr() != nd.KafkaAddr() || cfg.AutoCreateTopics {
			t.Errorf("node %d: loaded node_id %d advertised %s auto_create_topics %v", nd.ID(), cfg.NodeID, cfg.AdvertisedAddr(), cfg.AutoCreateTopics)
		}
		if len(cfg.Peers) != 3 {
			t.Fatalf("node %d: %d peers, want 3", nd.ID(), len(cfg.Peers))
		}
		for _, p := range cfg.Peers {
			other := c.Node(p.ID)
			if p.Kafka != other.KafkaAddr() || p.Replication != other.replProxy.Addr() || p.Raft != other.raftProxy.Addr() {
				t.Errorf("node %d: peer entry %+v, want kafka %s and the proxies %s / %s", nd.ID(), p,
					other.KafkaAddr(), other.replProxy.Addr(), other.raftProxy.Addr())
			}
			if other.replProxy.Target() != other.repl || other.raftProxy.Target() != other.raft {
				t.Errorf("node %d: proxies forward to %s / %s, want its listeners %s / %s", p.ID,
					other.replProxy.Target(), other.raftProxy.Target(), other.repl, other.raft)
			}
		}
		if cfg.Node.Addresses.Replication != nd.repl || cfg.AdvertisedReplication() != nd.ReplicationAddr() {
			t.Errorf("node %d: wal binds %s advertises %s", nd.ID(), cfg.Node.Addresses.Replication, cfg.AdvertisedReplication())
		}
	}
}

// TestSingleNodeCluster runs the whole harness on a one-node cluster:
// formation, a topic, Pause/Resume, Kill/Restart and Stop/StartAll.
func TestSingleNodeCluster(t *testing.T) {
	c := StartCluster(t, 1)
	n := c.Node(1)
	if n.PID() == 0 || !strings.Contains(c.Bootstrap(), n.KafkaAddr()) {
		t.Fatalf("pid %d bootstrap %q", n.PID(), c.Bootstrap())
	}
	c.CreateTopic(t, "harness", 2, 1, nil)
	if l := c.Leader(t, "harness", 1); l != 1 {
		t.Fatalf("leader of harness/1 is %d, want 1", l)
	}
	n.Pause(t)
	if !n.Paused() {
		t.Fatalf("Paused() false after Pause")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	if _, err := c.Metadata(ctx, 1); err == nil {
		t.Errorf("a paused node answered Metadata")
	}
	cancel()
	n.Resume(t)
	c.WaitFormed(t)
	n.Kill(t)
	if n.Running() || n.PID() != 0 {
		t.Fatalf("node still running after Kill")
	}
	n.Restart(t)
	c.WaitTopic(t, "harness", 2)
	c.StopAll(t)
	c.StartAll(t)
	c.WaitTopic(t, "harness", 2)
}
