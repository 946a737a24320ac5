package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/strom-broker/strom/internal/vfs"
)

// clusterRecordFile, in a `cluster up` directory, records the nodes and
// ports the cluster was made with. Each node's Raft log holds its peers'
// addresses, so a cluster restarted on other ports never forms: its nodes
// dial the old ones forever.
const clusterRecordFile = "cluster.toml"

// clusterRecord is the content of clusterRecordFile.
type clusterRecord struct {
	// BasePort is the --base-port the directory was made with; 0 when
	// the ports were chosen free (or do not follow the base-port layout).
	BasePort int            `toml:"base_port"`
	Nodes    []recordedNode `toml:"node"`
}

type recordedNode struct {
	ID    int32  `toml:"id"`
	Kafka string `toml:"kafka"`
	WAL   string `toml:"wal"`
	Raft  string `toml:"raft"`
}

// planExistingCluster plans the nodes for dataDir: from the flags for a
// new directory; for one made before, the recorded addresses, which the
// flags must match (--base-port 0 takes them as they are). A directory
// made before the record existed is read from the node configs it holds.
func planExistingCluster(dataDir string, n, basePort int) ([]*localNode, error) {
	rec, err := readClusterRecord(dataDir)
	if err != nil {
		return nil, err
	}
	if rec == nil || !rec.formed(dataDir) {
		// No node has a metadata log yet (a first run that failed early):
		// no peer address is pinned.
		return planLocalCluster(n, basePort, dataDir)
	}
	if basePort == 0 && len(rec.Nodes) == n {
		nodes := make([]*localNode, n)
		for i, r := range rec.Nodes {
			nodes[i] = &localNode{id: r.ID, kafka: r.Kafka, repl: r.WAL, raft: r.Raft,
				dir: filepath.Join(dataDir, fmt.Sprintf("node%d", r.ID)), done: make(chan struct{})}
		}
		return nodes, nil
	}
	nodes, err := planLocalCluster(n, basePort, dataDir)
	if err != nil {
		return nil, err
	}
	same := len(nodes) == len(rec.Nodes)
	for i := 0; same && i < len(nodes); i++ {
		r, nd := rec.Nodes[i], nodes[i]
		same = r.ID == nd.id && r.Kafka == nd.kafka && r.WAL == nd.repl && r.Raft == nd.raft
	}
	if !same {
		return nil, fmt.Errorf("%s was made with %s; run with %s, or use another --data-dir", dataDir, rec.describe(), rec.flags())
	}
	return nodes, nil
}

// formed reports whether a recorded node has opened its metadata log,
// which holds its peers' addresses from then on.
func (r *clusterRecord) formed(dataDir string) bool {
	for _, n := range r.Nodes {
		if _, err := os.Stat(filepath.Join(dataDir, fmt.Sprintf("node%d", n.ID), "data", "__cluster_metadata", "raft.db")); err == nil {
			return true
		}
	}
	return false
}

// describe names the nodes and ports of a record, on one line.
func (r *clusterRecord) describe() string {
	if r.BasePort > 0 {
		last := len(r.Nodes) - 1
		return fmt.Sprintf("%d nodes on ports kafka %d-%d, wal %d-%d, raft %d-%d",
			len(r.Nodes), r.BasePort, r.BasePort+last, r.BasePort+100, r.BasePort+100+last, r.BasePort+200, r.BasePort+200+last)
	}
	parts := make([]string, len(r.Nodes))
	for i, n := range r.Nodes {
		parts[i] = fmt.Sprintf("node%d kafka %s wal %s raft %s", n.ID, n.Kafka, n.WAL, n.Raft)
	}
	return fmt.Sprintf("%d nodes on ports %s", len(r.Nodes), strings.Join(parts, "; "))
}

// flags are the cluster up flags that reuse a record's nodes and ports.
func (r *clusterRecord) flags() string {
	return fmt.Sprintf("--nodes %d --base-port %d", len(r.Nodes), r.BasePort)
}

// readClusterRecord returns the record of dataDir, or (for a directory
// made before records were written) one built from the node configs
// cluster up wrote, or nil for a directory without nodes.
func readClusterRecord(dataDir string) (*clusterRecord, error) {
	name := filepath.Join(dataDir, clusterRecordFile)
	var rec clusterRecord
	_, err := toml.DecodeFile(name, &rec)
	switch {
	case err == nil:
		if len(rec.Nodes) == 0 {
			return nil, fmt.Errorf("%s lists no nodes; remove it to start a new cluster in %s", name, dataDir)
		}
		return &rec, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	for id := int32(1); ; id++ {
		cfg := filepath.Join(dataDir, fmt.Sprintf("node%d", id), "strom.toml")
		var f struct {
			Node struct {
				Addresses struct {
					Kafka string `toml:"kafka"`
					WAL   string `toml:"wal"`
					Raft  string `toml:"raft"`
				} `toml:"addresses"`
			} `toml:"node"`
		}
		if _, err := toml.DecodeFile(cfg, &f); errors.Is(err, fs.ErrNotExist) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read %s: %w", cfg, err)
		}
		a := f.Node.Addresses
		rec.Nodes = append(rec.Nodes, recordedNode{ID: id, Kafka: a.Kafka, WAL: a.WAL, Raft: a.Raft})
	}
	if len(rec.Nodes) == 0 {
		return nil, nil
	}
	rec.BasePort = basePortOf(rec.Nodes)
	return &rec, nil
}

// basePortOf is the --base-port that lays out nodes as they are, or 0.
func basePortOf(nodes []recordedNode) int {
	port := func(addr string) int {
		i := strings.LastIndexByte(addr, ':')
		p, err := strconv.Atoi(addr[i+1:])
		if err != nil || !strings.HasPrefix(addr, "127.0.0.1:") {
			return -1
		}
		return p
	}
	base := port(nodes[0].Kafka)
	for i, n := range nodes {
		if base <= 0 || n.ID != int32(i+1) || port(n.Kafka) != base+i || port(n.WAL) != base+100+i || port(n.Raft) != base+200+i {
			return 0
		}
	}
	return base
}

// writeClusterRecord records the nodes dataDir is now made with.
func writeClusterRecord(dataDir string, basePort int, nodes []*localNode) error {
	rec := clusterRecord{BasePort: basePort}
	for _, n := range nodes {
		rec.Nodes = append(rec.Nodes, recordedNode{ID: n.id, Kafka: n.kafka, WAL: n.repl, Raft: n.raft})
	}
	if rec.BasePort == 0 {
		rec.BasePort = basePortOf(rec.Nodes)
	}
	var b strings.Builder
	b.WriteString("# Written by strom cluster up: the nodes and ports this directory was made with.\n")
	if err := toml.NewEncoder(&b).Encode(rec); err != nil {
		return fmt.Errorf("encode %s: %w", clusterRecordFile, err)
	}
	if err := vfs.WriteAtomic(vfs.Default, filepath.Join(dataDir, clusterRecordFile), []byte(b.String()), vfs.Durable); err != nil {
		return fmt.Errorf("write %s: %w", clusterRecordFile, err)
	}
	return nil
}

// checkNodeDirFree refuses a node whose data directory another process
// (a strom serve started by hand, another cluster up) holds; the node
// would fail to start with the same error, among its other output.
func checkNodeDirFree(n *localNode) error {
	l, err := vfs.LockDir(filepath.Join(n.dir, "data"))
	if err != nil {
		return err
	}
	return l.Unlock()
}
