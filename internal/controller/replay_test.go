package controller

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/strom-broker/strom/internal/metadata"
)

// The fixtures in testdata/seams-base were written by code that encoded
// commands as version 0 (testdata/README.md); these tests read them with
// the current code and compare with the image that code had.

// fixtureImage is the form of testdata/*/image.json (Image in
// testdata/gen/main.go).
type fixtureImage struct {
	ClusterID      string            `json:"cluster_id"`
	NextProducerID int64             `json:"next_producer_id"`
	Brokers        []metadata.Broker `json:"brokers,omitempty"`
	BrokerConfigs  map[string]string `json:"broker_configs,omitempty"`
	Topics         []fixtureTopic    `json:"topics,omitempty"`
}

type fixtureTopic struct {
	Name       string               `json:"name"`
	ID         string               `json:"id"`
	Internal   bool                 `json:"internal,omitempty"`
	Configs    map[string]string    `json:"configs,omitempty"`
	Partitions []metadata.Partition `json:"partitions"`
}

func fixtureOf(im *metadata.Image) fixtureImage {
	out := fixtureImage{ClusterID: im.ClusterID, NextProducerID: int64(im.NextProducerID), Brokers: im.Brokers, BrokerConfigs: im.BrokerConfigs}
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		out.Topics = append(out.Topics, fixtureTopic{Name: t.Name, ID: t.ID.String(), Internal: t.Internal, Configs: t.Configs, Partitions: t.Partitions})
	}
	return out
}

// checkImage compares im with the fixture's image.json, as JSON text so
// that empty and absent read the same, and checks the topic id index.
func checkImage(t *testing.T, what string, im *metadata.Image, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want fixtureImage
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	wantJSON, _ := json.MarshalIndent(want, "", "  ")
	gotJSON, _ := json.MarshalIndent(fixtureOf(im), "", "  ")
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("%s: image differs from %s\ngot:\n%s\nwant:\n%s", what, path, gotJSON, wantJSON)
	}
	if len(im.Topics) == 0 {
		t.Errorf("%s: no topics", what)
	}
	for name, tp := range im.Topics {
		if im.TopicsByID[tp.ID] != tp {
			t.Errorf("%s: topic %s not found by its id %s", what, name, tp.ID)
		}
	}
	if len(im.TopicsByID) != len(im.Topics) {
		t.Errorf("%s: %d topics by id, %d by name", what, len(im.TopicsByID), len(im.Topics))
	}
}

// copyFixture copies a fixture directory into a temporary one (opening
// raft.db writes to it).
func copyFixture(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// openRaftStores opens a raft directory's log and snapshots as
// hashicorp/raft does, the snapshots through indexedSnapshots for f.
func openRaftStores(t *testing.T, dir string, f *fsm) (*raftboltdb.BoltStore, indexedSnapshots) {
	t.Helper()
	store, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	return store, indexedSnapshots{SnapshotStore: files, fsm: f}
}

// replayLog applies the log's commands in (from, last] to f as raft hands
// them to the FSM, failing on any command the FSM cannot decode.
func replayLog(t *testing.T, store *raftboltdb.BoltStore, f *fsm, from uint64) {
	t.Helper()
	first, _ := store.FirstIndex()
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	for i := max(first, from+1); i <= last; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		if _, err := decodeCommand(l.Data); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		// A command may fail to apply (a proposal refused by the image):
		// it failed the same way when it was written.
		f.Apply(&l)
	}
	if applied, _ := f.appliedIndex(); applied != last {
		t.Errorf("applied index %d after the replay, want %d", applied, last)
	}
}

// TestReplayRaftStateOfSeamsBase reads a quorum node's raft state written
// by version-0 code: its snapshot and the log after it (a restart), the
// whole log from the start (a node that never had a snapshot), and the
// node opened by OpenRaft after a recovery onto a single-node quorum.
func TestReplayRaftStateOfSeamsBase(t *testing.T) {
	const fixture = "testdata/seams-base/raft"
	want := filepath.Join(fixture, "image.json")

	t.Run("snapshot and log", func(t *testing.T) {
		f := newFSM()
		store, snaps := openRaftStores(t, copyFixture(t, fixture), f)
		defer store.Close()
		metas, err := snaps.List()
		if err != nil || len(metas) == 0 {
			t.Fatalf("snapshots: %v, %v", metas, err)
		}
		_, rc, err := snaps.Open(metas[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Restore(rc); err != nil {
			t.Fatalf("restore snapshot %s: %v", metas[0].ID, err)
		}
		if applied, _ := f.appliedIndex(); applied != metas[0].Index {
			t.Errorf("applied index %d after restoring the snapshot at %d", applied, metas[0].Index)
		}
		if !f.current().FromSnapshot {
			t.Error("restored image not marked as from a snapshot")
		}
		replayLog(t, store, f, metas[0].Index)
		checkImage(t, "snapshot and log", f.current(), want)
	})

	t.Run("whole log", func(t *testing.T) {
		f := newFSM()
		store, _ := openRaftStores(t, copyFixture(t, fixture), f)
		defer store.Close()
		if first, _ := store.FirstIndex(); first != 1 {
			t.Fatalf("log starts at %d, the fixture should keep it whole", first)
		}
		replayLog(t, store, f, 0)
		checkImage(t, "whole log", f.current(), want)
	})

	t.Run("OpenRaft", func(t *testing.T) {
		dir := copyFixture(t, fixture)
		addr := freePort(t)
		// raft's own recovery: restore the snapshot, apply the log after
		// it, snapshot the result, and make node 1 the only voter, at a
		// free address.
		rc := raft.DefaultConfig()
		rc.LocalID = "1"
		rc.Logger = nil
		rc.LogOutput = io.Discard
		f := newFSM()
		store, snaps := openRaftStores(t, dir, f)
		_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
		err := raft.RecoverCluster(rc, f, store, store, snaps, trans, raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "1", Address: raft.ServerAddress(addr)}}})
		store.Close()
		if err != nil {
			t.Fatalf("recover: %v", err)
		}
		c, err := OpenRaft(RaftConfig{
			NodeID: 1, Self: metadata.Broker{ID: 1, Host: "127.0.0.1", Port: 9091, Replication: "127.0.0.1:9191"},
			RaftListen: addr, RaftAdvertise: addr, Peers: []RaftPeer{{ID: 1, Raft: addr}}, Dir: dir,
			Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
			// Nothing may change the image before it is compared: no
			// fencing of the brokers that are not running, no elections.
			SessionTimeout: time.Hour, HeartbeatInterval: 100 * time.Millisecond, PreferredLeaderInterval: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		checkImage(t, "OpenRaft", c.Image(), want)
	})
}

// TestLoadLocalMetadataOfSeamsBase opens a single-node
// cluster-metadata.json written by version-0 code.
func TestLoadLocalMetadataOfSeamsBase(t *testing.T) {
	const fixture = "testdata/seams-base/local"
	dir := copyFixture(t, fixture)
	os.Remove(filepath.Join(dir, "image.json"))
	c, err := OpenLocal(dir, metadata.Broker{ID: 1, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, "OpenLocal", c.Image(), filepath.Join(fixture, "image.json"))
	// What it wrote back reads the same.
	again, err := OpenLocal(dir, metadata.Broker{ID: 1, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, "OpenLocal after a rewrite", again.Image(), filepath.Join(fixture, "image.json"))
}
