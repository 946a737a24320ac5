package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeNodeConfigs lays out dir as `cluster up` did before it recorded
// its ports: one strom.toml per node, no cluster.toml.
func writeNodeConfigs(t *testing.T, dir string, n, basePort int) []*localNode {
	t.Helper()
	nodes, err := planLocalCluster(n, basePort, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(nd.dir, "strom.toml"), []byte(localNodeTOML(nd, nodes, "info")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// formMetadataLog stands for a node's first start: its metadata log exists.
func formMetadataLog(t *testing.T, dir string, id int) {
	t.Helper()
	meta := filepath.Join(dir, fmt.Sprintf("node%d", id), "data", "__cluster_metadata")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(meta, "raft.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A first run that failed before any node opened its metadata log pins
// no ports.
func TestClusterDirNotFormed(t *testing.T) {
	dir := t.TempDir()
	chosen := writeNodeConfigs(t, dir, 2, 19092)
	if err := writeClusterRecord(dir, 19092, chosen); err != nil {
		t.Fatal(err)
	}
	nodes, err := planExistingCluster(dir, 3, 29092)
	if err != nil || len(nodes) != 3 || nodes[0].kafka != "127.0.0.1:29092" {
		t.Fatalf("other ports on a directory whose nodes never started: %v, %d nodes", err, len(nodes))
	}
}

func TestClusterDirMadeBeforeTheRecord(t *testing.T) {
	dir := t.TempDir()
	writeNodeConfigs(t, dir, 3, 19092)
	formMetadataLog(t, dir, 2)

	_, err := planExistingCluster(dir, 3, 29092)
	if err == nil {
		t.Fatal("other ports on a directory made with --base-port 19092: no error")
	}
	for _, want := range []string{dir, "3 nodes on ports kafka 19092-19094, wal 19192-19194, raft 19292-19294", "--nodes 3 --base-port 19092"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := planExistingCluster(dir, 5, 19092); err == nil {
		t.Error("5 nodes on a directory made with 3: no error")
	}
	for _, base := range []int{19092, 0} {
		nodes, err := planExistingCluster(dir, 3, base)
		if err != nil {
			t.Fatalf("--base-port %d: %v", base, err)
		}
		if nodes[2].kafka != "127.0.0.1:19094" || nodes[2].raft != "127.0.0.1:19294" {
			t.Errorf("--base-port %d: node 3 on kafka %s raft %s, want the recorded 19094, 19294", base, nodes[2].kafka, nodes[2].raft)
		}
	}
}

func TestClusterDirRecord(t *testing.T) {
	dir := t.TempDir()
	if nodes, err := planExistingCluster(dir, 2, 0); err != nil || len(nodes) != 2 {
		t.Fatalf("new directory: %v, %d nodes", err, len(nodes))
	}
	chosen := writeNodeConfigs(t, dir, 2, 0)
	if err := writeClusterRecord(dir, 0, chosen); err != nil {
		t.Fatal(err)
	}
	formMetadataLog(t, dir, 1)
	nodes, err := planExistingCluster(dir, 2, 0)
	if err != nil {
		t.Fatalf("--base-port 0 on a directory made with chosen ports: %v", err)
	}
	for i, nd := range nodes {
		if nd.kafka != chosen[i].kafka || nd.repl != chosen[i].repl || nd.raft != chosen[i].raft {
			t.Errorf("node %d: %s %s %s, want the recorded %s %s %s", nd.id, nd.kafka, nd.repl, nd.raft, chosen[i].kafka, chosen[i].repl, chosen[i].raft)
		}
	}
	_, err = planExistingCluster(dir, 2, 9092)
	if err == nil || !strings.Contains(err.Error(), "node2 kafka "+chosen[1].kafka) || !strings.Contains(err.Error(), "--base-port 0") || strings.Contains(err.Error(), "\n") {
		t.Errorf("--base-port 9092 on a directory made with chosen ports: %v; want one line naming them and --base-port 0", err)
	}
}
