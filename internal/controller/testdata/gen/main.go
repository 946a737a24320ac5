// Command gen writes the controller's replay fixtures: the Raft state
// (raft.db and snapshots/) of one node of a real 3-node metadata quorum and
// the single-node cluster-metadata.json, each with image.json, the image
// the controller had when it stopped. It uses only the controller's
// exported API, so it runs against the code of any commit since the
// read-index command; see ../README.md for which commit wrote the
// committed files and how to regenerate them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/metadata"
)

// snapshotThreshold is the number of log entries after which a node takes
// a snapshot: phase one of the run writes more, phase two fewer, so every
// node holds exactly one snapshot, taken between the two.
const snapshotThreshold = 40

func main() {
	out := flag.String("out", "", "directory to write raft/ and local/ into (replaced)")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	if err := writeRaft(filepath.Join(*out, "raft")); err != nil {
		log.Fatalf("raft fixture: %v", err)
	}
	if err := writeLocal(filepath.Join(*out, "local")); err != nil {
		log.Fatalf("local fixture: %v", err)
	}
}

// Image is the part of a metadata image the replay tests compare, in a form
// of its own so that the expected result does not depend on the codecs
// under test. The tests read it with the same definition.
type Image struct {
	ClusterID      string            `json:"cluster_id"`
	NextProducerID int64             `json:"next_producer_id"`
	Brokers        []metadata.Broker `json:"brokers,omitempty"`
	BrokerConfigs  map[string]string `json:"broker_configs,omitempty"`
	Topics         []Topic           `json:"topics,omitempty"`
}

// Topic is one topic of an Image; ID as Kafka prints it.
type Topic struct {
	Name       string               `json:"name"`
	ID         string               `json:"id"`
	Internal   bool                 `json:"internal,omitempty"`
	Configs    map[string]string    `json:"configs,omitempty"`
	Partitions []metadata.Partition `json:"partitions"`
}

func imageOf(im *metadata.Image) Image {
	out := Image{ClusterID: im.ClusterID, NextProducerID: im.NextProducerID, Brokers: im.Brokers, BrokerConfigs: im.BrokerConfigs}
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		out.Topics = append(out.Topics, Topic{Name: t.Name, ID: t.ID.String(), Internal: t.Internal, Configs: t.Configs, Partitions: t.Partitions})
	}
	return out
}

func writeImage(path string, im *metadata.Image) error {
	raw, err := json.MarshalIndent(imageOf(im), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type quorum struct {
	peers []controller.RaftPeer
	dirs  []string
	nodes []*controller.Raft // by id-1; nil while closed
}

func (q *quorum) open(id int32) error {
	i := id - 1
	c, err := controller.OpenRaft(controller.RaftConfig{
		NodeID:        id,
		Self:          metadata.Broker{ID: id, Host: "127.0.0.1", Port: 9090 + id, WAL: fmt.Sprintf("127.0.0.1:%d", 9190+id)},
		RaftListen:    q.peers[i].Raft,
		RaftAdvertise: q.peers[i].Raft,
		Peers:         q.peers,
		Dir:           q.dirs[i],
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// No fencing by session and no preferred-leader elections: the
		// log holds only the commands this program asks for (and the
		// registrations and read indexes they need).
		SessionTimeout:          time.Hour,
		HeartbeatInterval:       100 * time.Millisecond,
		PreferredLeaderInterval: time.Hour,
		SnapshotThreshold:       snapshotThreshold,
		SnapshotInterval:        50 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	q.nodes[i] = c
	return nil
}

func (q *quorum) node(id int32) *controller.Raft { return q.nodes[id-1] }

func (q *quorum) closeAll() {
	for i, c := range q.nodes {
		if c != nil {
			c.Close()
			q.nodes[i] = nil
		}
	}
}

// waitFor polls cond until it holds or a minute has passed.
func waitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func hasSnapshot(dir string) bool {
	ents, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(dir, "snapshots", e.Name(), "state.bin")); err == nil {
			return true
		}
	}
	return false
}

func str(s string) *string { return &s }

// writeRaft runs a 3-node quorum through every kind of metadata command,
// with a snapshot between two phases, and keeps node 1's raft state.
func writeRaft(out string) error {
	tmp, err := os.MkdirTemp("", "strom-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	q := &quorum{nodes: make([]*controller.Raft, 3)}
	for id := int32(1); id <= 3; id++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		q.peers = append(q.peers, controller.RaftPeer{ID: id, Raft: addr})
		q.dirs = append(q.dirs, filepath.Join(tmp, fmt.Sprintf("node%d", id)))
	}
	defer q.closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for id := int32(1); id <= 3; id++ {
		if err := q.open(id); err != nil {
			return err
		}
	}
	for _, c := range q.nodes {
		if err := c.WaitReady(ctx); err != nil {
			return err
		}
	}
	c1 := q.node(1)
	if err := waitFor("3 live brokers", func() bool { return len(c1.Image().LiveBrokers()) == 3 }); err != nil {
		return err
	}
	must := func(what string, err error) {
		if err != nil {
			panic(fmt.Errorf("%s: %w", what, err))
		}
	}
	create := func(spec controller.TopicSpec) {
		_, err := c1.CreateTopic(ctx, spec)
		must("create "+spec.Name, err)
	}
	leaderOf := func(topic string, part int32) (*controller.Raft, metadata.Partition) {
		p := c1.Image().Topics[topic].Partitions[part]
		return q.node(p.Leader), p
	}

	// Phase 1, before the snapshot.
	create(controller.TopicSpec{Name: "orders", Partitions: 3, ReplicationFactor: 3, Configs: map[string]string{"cleanup.policy": "compact", "retention.ms": "86400000"}})
	create(controller.TopicSpec{Name: "events", Partitions: 2, ReplicationFactor: 2})
	create(controller.TopicSpec{Name: "__consumer_offsets", Partitions: 2, ReplicationFactor: 3, Internal: true, Configs: map[string]string{"cleanup.policy": "compact"}})
	create(controller.TopicSpec{Name: "doomed", Partitions: 1, ReplicationFactor: 1})
	create(controller.TopicSpec{Name: "gone", Partitions: 1, ReplicationFactor: 1})
	must("delete gone", q.node(2).DeleteTopic(ctx, "gone"))
	must("alter orders", c1.AlterTopicConfigs(ctx, "orders", []controller.ConfigChange{{Name: "retention.ms", Value: str("3600000")}, {Name: "cleanup.policy"}}, false))
	must("replace events", q.node(3).AlterTopicConfigs(ctx, "events", []controller.ConfigChange{{Name: "max.message.bytes", Value: str("2097152")}}, true))
	must("broker configs", c1.AlterBrokerConfigs(ctx, []controller.ConfigChange{{Name: "log.retention.ms", Value: str("604800000")}, {Name: "message.max.bytes", Value: str("2000000")}}, false))
	_, err = c1.AllocateProducerIDs(ctx, 1000)
	must("producer ids", err)
	must("grow events", q.node(2).CreatePartitions(ctx, "events", 4))
	// Pad the log until every node has taken its snapshot.
	for i := 0; ; i++ {
		if hasSnapshot(q.dirs[0]) && hasSnapshot(q.dirs[1]) && hasSnapshot(q.dirs[2]) {
			break
		}
		if i > 2*snapshotThreshold {
			return errors.New("no snapshot taken")
		}
		_, err := q.node(int32(i%3+1)).AllocateProducerIDs(ctx, 1)
		must("producer id", err)
		time.Sleep(20 * time.Millisecond)
	}

	// Phase 2, in the log after the snapshot.
	create(controller.TopicSpec{Name: "fragile", Assignment: [][]int32{{3, 1}}, Partitions: 1})
	create(controller.TopicSpec{Name: "solo3", Assignment: [][]int32{{3}}, Partitions: 1})
	{
		l, p := leaderOf("fragile", 0)
		must("shrink fragile", l.AlterISR(ctx, "fragile", 0, p.LeaderEpoch, []int32{3}))
	}
	{
		l, p := leaderOf("orders", 0)
		// Drop the last follower from the ISR.
		isr := slices.Clone(p.ISR)
		for i := len(isr) - 1; i >= 0; i-- {
			if isr[i] != p.Leader {
				isr = slices.Delete(isr, i, i+1)
				break
			}
		}
		must("shrink orders-0", l.AlterISR(ctx, "orders", 0, p.LeaderEpoch, isr))
	}
	{
		_, p := leaderOf("orders", 1)
		must("elect orders-1", q.node(2).ElectLeader(ctx, "orders", 1, p.Replicas[1]))
	}
	// events-0 moves to a replica set with one new broker and completes
	// (the leader completes it once the new replica is in the ISR).
	{
		_, p := leaderOf("events", 0)
		var add int32
		for id := int32(1); id <= 3; id++ {
			if !slices.Contains(p.Replicas, id) {
				add = id
			}
		}
		target := []int32{p.Replicas[0], add}
		must("reassign events-0", c1.Reassign(ctx, "events", 0, target))
		l, p := leaderOf("events", 0)
		must("events-0 in sync", l.AlterISR(ctx, "events", 0, p.LeaderEpoch, append(slices.Clone(p.ISR), add)))
		if err := waitFor("events-0 reassignment completed", func() bool { return !c1.Image().Topics["events"].Partitions[0].Reassigning() }); err != nil {
			return err
		}
	}
	// events-1 is left moving, events-2 is moved and cancelled.
	for _, part := range []int32{1, 2} {
		_, p := leaderOf("events", part)
		var add int32
		for id := int32(1); id <= 3; id++ {
			if !slices.Contains(p.Replicas, id) {
				add = id
			}
		}
		must("reassign events", c1.Reassign(ctx, "events", part, []int32{add, p.Replicas[1]}))
	}
	must("cancel events-2", c1.Reassign(ctx, "events", 2, nil))

	// Broker 3 shuts down (fenced), a partition it alone had in sync is
	// elected uncleanly, and it comes back (registered again).
	must("controlled shutdown of 3", q.node(3).ControlledShutdown(ctx))
	q.node(3).Close()
	q.nodes[2] = nil
	if err := waitFor("broker 3 fenced", func() bool { _, live := c1.Image().LiveBroker(3); return !live }); err != nil {
		return err
	}
	must("unclean fragile", q.node(2).ElectUnclean(ctx, "fragile", 0))
	must("replace broker configs", c1.AlterBrokerConfigs(ctx, []controller.ConfigChange{{Name: "log.retention.ms", Value: str("86400000")}}, true))
	must("delete doomed", c1.DeleteTopic(ctx, "doomed"))
	_, err = q.node(2).AllocateProducerIDs(ctx, 500)
	must("producer ids", err)
	create(controller.TopicSpec{Name: "doomed", Partitions: 2, ReplicationFactor: 2})
	if err := q.open(3); err != nil {
		return err
	}
	if err := q.node(3).WaitReady(ctx); err != nil {
		return err
	}

	// Stop once every node applied the same image and nothing moves.
	settled := func() bool {
		want := imageOf(c1.Image())
		for _, c := range q.nodes {
			if !reflect.DeepEqual(imageOf(c.Image()), want) {
				return false
			}
		}
		return true
	}
	if err := waitFor("the same image everywhere", settled); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if !settled() {
		return errors.New("images moved after settling")
	}
	final := c1.Image()
	q.closeAll()
	if !hasSnapshot(q.dirs[0]) {
		return errors.New("node 1 has no snapshot")
	}

	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := copyTree(q.dirs[0], out); err != nil {
		return err
	}
	return writeImage(filepath.Join(out, "image.json"), final)
}

// writeLocal runs the single-node controller through the commands it
// serves and keeps its cluster-metadata.json.
func writeLocal(out string) error {
	tmp, err := os.MkdirTemp("", "strom-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	c, err := controller.OpenLocal(tmp, metadata.Broker{ID: 1, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		return err
	}
	steps := []func() error{
		func() error {
			_, err := c.CreateTopic(ctx, controller.TopicSpec{Name: "orders", Partitions: 3, ReplicationFactor: 1, Configs: map[string]string{"cleanup.policy": "compact", "retention.ms": "86400000"}})
			return err
		},
		func() error {
			_, err := c.CreateTopic(ctx, controller.TopicSpec{Name: "__consumer_offsets", Partitions: 2, ReplicationFactor: 1, Internal: true})
			return err
		},
		func() error {
			_, err := c.CreateTopic(ctx, controller.TopicSpec{Name: "gone", Partitions: 1, ReplicationFactor: 1})
			return err
		},
		func() error { return c.CreatePartitions(ctx, "orders", 5) },
		func() error {
			return c.AlterTopicConfigs(ctx, "orders", []controller.ConfigChange{{Name: "retention.ms", Value: str("3600000")}, {Name: "cleanup.policy"}}, false)
		},
		func() error {
			return c.AlterBrokerConfigs(ctx, []controller.ConfigChange{{Name: "log.retention.ms", Value: str("604800000")}}, false)
		},
		func() error { return c.DeleteTopic(ctx, "gone") },
		func() error { _, err := c.AllocateProducerIDs(ctx, 1000); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(tmp, "cluster-metadata.json"), filepath.Join(out, "cluster-metadata.json")); err != nil {
		return err
	}
	return writeImage(filepath.Join(out, "image.json"), c.Image())
}

// copyTree copies raft.db and snapshots/ of a node's raft directory.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		return copyFile(path, filepath.Join(to, rel))
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
