package config

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// AdvertisedReplication is the replication address other nodes dial: node.advertise.wal,
// or node.addresses.wal when that is unset.
func (c Config) AdvertisedReplication() string {
	return orDefault(c.Node.Advertise.Replication, c.Node.Addresses.Replication)
}

// AdvertisedRaft is the Raft address other nodes dial: node.advertise.raft,
// or node.addresses.raft when that is unset.
func (c Config) AdvertisedRaft() string {
	return orDefault(c.Node.Advertise.Raft, c.Node.Addresses.Raft)
}

// Clustered reports whether the file described a cluster (a peer list).
func (c Config) Clustered() bool { return len(c.Peers) > 0 }

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// validateCluster checks the [node.*] and [[peers]] shape. Every peer must
// agree with this node about this node's addresses: a node that advertises
// one address while the peer list names another would hand clients and
// replicas two different answers for the same node id.
func (c Config) validateCluster() error {
	for _, ep := range []struct{ proto, bind, adv string }{
		{"wal", c.Node.Addresses.Replication, c.Node.Advertise.Replication},
		{"raft", c.Node.Addresses.Raft, c.Node.Advertise.Raft},
	} {
		if ep.bind != "" {
			if _, _, err := net.SplitHostPort(ep.bind); err != nil {
				return fmt.Errorf("node.addresses.%s: %q is not host:port: %w", ep.proto, ep.bind, err)
			}
		}
		adv := orDefault(ep.adv, ep.bind)
		if adv == "" {
			continue
		}
		key := "node.advertise." + ep.proto
		if ep.adv == "" {
			key += " (defaulted from node.addresses." + ep.proto + ")"
		}
		if err := checkDialable(adv); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	if len(c.Peers) == 0 {
		return nil
	}
	return c.validatePeers()
}

func (c Config) validatePeers() error {
	seen := make(map[int32]int, len(c.Peers))
	self := -1
	for i, p := range c.Peers {
		key := fmt.Sprintf("peers[%d]", i)
		if p.ID < 0 {
			return fmt.Errorf("%s.id: must be >= 0, got %d", key, p.ID)
		}
		if j, dup := seen[p.ID]; dup {
			return fmt.Errorf("%s.id: duplicate peer id %d (also peers[%d])", key, p.ID, j)
		}
		seen[p.ID] = i
		for _, f := range []struct{ name, addr string }{{"kafka", p.Kafka}, {"wal", p.Replication}, {"raft", p.Raft}} {
			if f.addr == "" {
				return fmt.Errorf("%s.%s: must be set for peer %d", key, f.name, p.ID)
			}
			if err := checkDialable(f.addr); err != nil {
				return fmt.Errorf("%s.%s: %w", key, f.name, err)
			}
		}
		if p.ID == c.NodeID {
			self = i
		}
	}
	if self < 0 {
		ids := make([]string, 0, len(seen))
		for id := range seen {
			ids = append(ids, strconv.Itoa(int(id)))
		}
		sort.Strings(ids)
		return fmt.Errorf("node_id: %d is not in peers (ids %s)", c.NodeID, strings.Join(ids, ", "))
	}
	own := c.Peers[self]
	for _, f := range []struct{ name, peer, mine string }{
		{"kafka", own.Kafka, c.AdvertisedAddr()},
		{"wal", own.Replication, c.AdvertisedReplication()},
		{"raft", own.Raft, c.AdvertisedRaft()},
	} {
		if f.peer != f.mine {
			return fmt.Errorf("peers[%d].%s: %q disagrees with this node's node.advertise.%s %q (node_id %d)",
				self, f.name, f.peer, f.name, f.mine, c.NodeID)
		}
	}
	return nil
}

// checkDialable refuses addresses another process could not connect to.
func checkDialable(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if !connectableHost(host) {
		return fmt.Errorf("%q has no connectable host (empty or wildcard); advertise a reachable host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", addr)
	}
	return nil
}
