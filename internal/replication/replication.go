// Package replication runs the follower side of Kafka's ISR replication:
// one fetcher goroutine per leader broker (Kafka's ReplicaFetcherThread)
// batches every partition this node follows from that leader into one
// Fetch request on the leader's replication (wal) listener, appends what
// comes back with the leader's offsets and epochs, syncs it, and truncates
// a divergent tail when the leader answers with a diverging epoch
// (KIP-320, KIP-595). It also runs the leader's periodic ISR shrink check.
// The rules are in docs/replication.md.
//
// Concurrency: Apply is called by the controller's subscriber after the
// partition Registry has applied the same image; it only updates fetcher
// assignments and starts or stops fetchers, never waiting on the network.
// Every goroutine is owned by the Manager and stopped by Close.
package replication

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
)

// Config tunes the fetchers; zero fields take Kafka's defaults (bar the
// backoff, shorter here so that failover is quick).
type Config struct {
	NodeID            ids.NodeID
	MaxWait           time.Duration // replica.fetch.wait.max.ms
	MinBytes          int32         // replica.fetch.min.bytes
	MaxBytes          int32         // replica.fetch.response.max.bytes
	PartitionMaxBytes int32         // replica.fetch.max.bytes
	Backoff           time.Duration // replica.fetch.backoff.ms
	DialTimeout       time.Duration
	// PeerReplication is the replication address to dial for each node, from this
	// node's peer list; it wins over the address a broker registered
	// (links between nodes may go through addresses only this node knows).
	PeerReplication map[ids.NodeID]string
	// Listener, when set (inter_broker_listener), names the registered
	// Kafka listener of the leader to dial instead of its replication
	// listener; a leader without it is dialed as before.
	Listener string
	// TLS, when set, is the client config leaders are dialed with (mutual
	// TLS with the node certificate); nil dials plaintext.
	TLS *tls.Config
}

func (c Config) withDefaults() Config {
	if c.MaxWait <= 0 {
		c.MaxWait = 500 * time.Millisecond
	}
	if c.MinBytes <= 0 {
		c.MinBytes = 1
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 10 << 20
	}
	if c.PartitionMaxBytes <= 0 {
		c.PartitionMaxBytes = 1 << 20
	}
	if c.Backoff <= 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	return c
}

// Manager owns the fetchers of one node.
type Manager struct {
	cfg    Config
	reg    *partition.Registry
	logger *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		fetchers map[ids.NodeID]*fetcher // by leader id
		closed   bool
	}
}

// NewManager starts a manager with no fetchers and the ISR shrink check.
func NewManager(cfg Config, reg *partition.Registry, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg.withDefaults(), reg: reg, logger: logger}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.fetchers = map[ids.NodeID]*fetcher{}
	m.wg.Add(1)
	go m.shrinkLoop()
	return m
}

// shrinkLoop runs the leaders' ISR check every half lag period, as Kafka's
// isr-expiration task does.
func (m *Manager) shrinkLoop() {
	defer m.wg.Done()
	t := time.NewTicker(max(m.reg.ReplicaLagTimeMax()/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C:
			m.reg.MaybeShrinkISR(now)
		}
	}
}

// assignment is one partition a fetcher copies.
type assignment struct {
	p     *partition.Partition
	topic string
	id    metadata.TopicID
	epoch ids.LeaderEpoch // the leader epoch this node follows at
}

// Apply starts, updates and stops fetchers to follow every partition the
// image says this node follows. Call it after Registry.Apply(im).
func (m *Manager) Apply(im *metadata.Image) {
	type target struct {
		addr  string
		parts []assignment
	}
	want := map[ids.NodeID]*target{}
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		for _, pm := range t.Partitions {
			if pm.Leader < 0 || pm.Leader == m.cfg.NodeID {
				continue
			}
			p := m.reg.Get(t.Name, pm.Index)
			if p == nil {
				continue
			}
			b, live := im.LiveBroker(pm.Leader)
			if !live {
				continue // idle until the leader is back or replaced
			}
			addr := ""
			if m.cfg.Listener != "" {
				addr = listenerAddr(b, m.cfg.Listener)
			}
			if addr == "" {
				addr = m.cfg.PeerReplication[pm.Leader]
			}
			if addr == "" {
				addr = b.Replication
			}
			if addr == "" {
				// No replication listener: its Kafka listener serves
				// replica fetches too.
				addr = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
			}
			tg := want[pm.Leader]
			if tg == nil {
				tg = &target{addr: addr}
				want[pm.Leader] = tg
			}
			tg.parts = append(tg.parts, assignment{p: p, topic: t.Name, id: t.ID, epoch: pm.LeaderEpoch})
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return
	}
	for id, f := range m.mu.fetchers {
		if tg := want[id]; tg == nil || tg.addr != f.addr {
			f.stop()
			delete(m.mu.fetchers, id)
		}
	}
	for id, tg := range want {
		f := m.mu.fetchers[id]
		if f == nil {
			f = newFetcher(m, id, tg.addr)
			m.mu.fetchers[id] = f
			m.wg.Add(1)
			go f.run()
		}
		f.assign(tg.parts)
	}
}

// Following lists the partitions each leader's fetcher copies, for tests
// and the admin API.
func (m *Manager) Following() map[ids.NodeID][]partition.Key {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[ids.NodeID][]partition.Key{}
	for id, f := range m.mu.fetchers {
		f.mu.Lock()
		for k := range f.mu.parts {
			out[id] = append(out[id], k)
		}
		f.mu.Unlock()
		sort.Slice(out[id], func(i, j int) bool {
			a, b := out[id][i], out[id][j]
			return a.Topic < b.Topic || a.Topic == b.Topic && a.Index < b.Index
		})
	}
	return out
}

// Close stops every fetcher and the shrink check, and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.mu.closed = true
	for id, f := range m.mu.fetchers {
		f.stop()
		delete(m.mu.fetchers, id)
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// listenerAddr is b's registered address of the named listener, or "".
func listenerAddr(b metadata.Broker, name string) string {
	for _, ep := range b.Listeners {
		if ep.Name == name {
			return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
		}
	}
	return ""
}
