package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/metadata"
)

// Key names a partition.
type Key struct {
	Topic string
	Index int32
}

// Registry holds the partitions this node hosts and keeps them in step
// with the metadata image: it opens partitions assigned to this node,
// deletes those of deleted topics, applies config changes, and makes each
// partition leader or follower as the image says.
//
// Concurrency: Get is lock-free for readers of a stable map snapshot
// (guarded by mu as a RWMutex); Apply is called by the controller's
// subscriber, one image at a time. SetAlterISR and SetReplicaLagTimeMax
// must be called before the first Apply.
type Registry struct {
	dataDir  string
	nodeID   int32
	defaults config.LogDefaults
	logger   *slog.Logger

	alterISR AlterISRFunc
	lagMax   time.Duration
	bg       sync.WaitGroup // ISR changes in flight, of every partition

	// applyMu serializes Apply with Close, so that a metadata change
	// arriving during shutdown cannot reopen a partition being closed.
	applyMu sync.Mutex
	closed  bool // guarded by applyMu

	mu struct {
		sync.RWMutex
		parts map[Key]*Partition
	}
}

// NewRegistry returns an empty registry rooted at dataDir.
func NewRegistry(dataDir string, nodeID int32, defaults config.LogDefaults, logger *slog.Logger) *Registry {
	r := &Registry{dataDir: dataDir, nodeID: nodeID, defaults: defaults, logger: logger, lagMax: DefaultReplicaLagTimeMax}
	r.mu.parts = map[Key]*Partition{}
	return r
}

// SetAlterISR sets how leaders propose ISR changes (the controller's
// AlterISR). Without it, leaders never shrink or expand the ISR.
func (r *Registry) SetAlterISR(fn AlterISRFunc) { r.alterISR = fn }

// SetReplicaLagTimeMax sets replica.lag.time.max.ms: how long a follower
// may stay behind the leader's log end before it leaves the ISR.
func (r *Registry) SetReplicaLagTimeMax(d time.Duration) {
	if d > 0 {
		r.lagMax = d
	}
}

// ReplicaLagTimeMax is the configured replica.lag.time.max.ms.
func (r *Registry) ReplicaLagTimeMax() time.Duration { return r.lagMax }

// NodeID is this node's id.
func (r *Registry) NodeID() int32 { return r.nodeID }

// MaybeShrinkISR runs the ISR shrink check of every partition this node leads.
func (r *Registry) MaybeShrinkISR(now time.Time) {
	for _, p := range r.All() {
		p.MaybeShrinkISR(now)
	}
}

// Dir is the directory of a partition's log, Kafka style.
func (r *Registry) Dir(topic string, index int32) string {
	return filepath.Join(r.dataDir, topic+"-"+strconv.Itoa(int(index)))
}

// Get returns the partition, or nil when this node does not host it.
func (r *Registry) Get(topic string, index int32) *Partition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.mu.parts[Key{topic, index}]
}

// All returns every hosted partition.
func (r *Registry) All() []*Partition {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Partition, 0, len(r.mu.parts))
	for _, p := range r.mu.parts {
		out = append(out, p)
	}
	return out
}

func hosts(p metadata.Partition, node int32) bool {
	for _, id := range p.Replicas {
		if id == node {
			return true
		}
	}
	return false
}

// Apply brings the hosted partitions in line with next. Errors opening a
// partition are returned (all of them joined) after the rest are applied.
func (r *Registry) Apply(next *metadata.Image) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	if r.closed {
		return nil
	}
	var errs []error
	want := map[Key]bool{}
	defaults := next.LogDefaults(r.defaults)
	now := time.Now()
	for _, t := range next.Topics {
		cfg := t.EffectiveConfig(defaults)
		for _, pm := range t.Partitions {
			if !hosts(pm, r.nodeID) {
				continue
			}
			k := Key{t.Name, pm.Index}
			want[k] = true
			if p := r.Get(t.Name, pm.Index); p != nil {
				if p.Config() != cfg {
					p.SetConfig(cfg)
				}
				p.applyMetadata(pm, r.nodeID, now, false)
				continue
			}
			p, err := Open(r.Dir(t.Name, pm.Index), t.Name, pm.Index, cfg, pm.LeaderEpoch, r.logger)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.nodeID, p.alterISR, p.lagMax, p.bg = r.nodeID, r.alterISR, r.lagMax, &r.bg
			if len(pm.Replicas) > 1 {
				// What a replica recovered from disk may be an
				// uncommitted tail: only what the HW checkpoint says was
				// committed is visible until the ISR confirms the rest.
				p.restoreHW()
			}
			p.applyMetadata(pm, r.nodeID, now, true)
			r.mu.Lock()
			r.mu.parts[k] = p
			r.mu.Unlock()
		}
	}
	for _, p := range r.All() {
		k := Key{p.Topic, p.Index}
		if want[k] {
			continue
		}
		r.mu.Lock()
		delete(r.mu.parts, k)
		r.mu.Unlock()
		if err := p.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("delete partition %s-%d: %w", p.Topic, p.Index, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveOrphans deletes partition directories that no topic in im owns:
// leftovers of a topic deletion interrupted by a crash.
func (r *Registry) RemoveOrphans(im *metadata.Image) error {
	entries, err := os.ReadDir(r.dataDir)
	if err != nil {
		return fmt.Errorf("list data dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		i := strings.LastIndexByte(name, '-')
		if i <= 0 {
			continue
		}
		idx, err := strconv.Atoi(name[i+1:])
		if err != nil {
			continue
		}
		t, ok := im.Topics[name[:i]]
		if ok && idx < len(t.Partitions) && hosts(t.Partitions[idx], r.nodeID) {
			continue
		}
		r.logger.Warn("removing partition directory of a deleted topic", "dir", filepath.Join(r.dataDir, name))
		if err := os.RemoveAll(filepath.Join(r.dataDir, name)); err != nil {
			return fmt.Errorf("remove orphan %s: %w", name, err)
		}
	}
	return nil
}

// Tick runs periodic partition work (flush.ms, retention).
func (r *Registry) Tick(now time.Time, retention bool) {
	for _, p := range r.All() {
		p.Tick(now, retention)
	}
}

// Close closes every partition cleanly.
func (r *Registry) Close() error {
	r.applyMu.Lock()
	r.closed = true
	r.applyMu.Unlock()
	r.mu.Lock()
	parts := r.mu.parts
	r.mu.parts = map[Key]*Partition{}
	r.mu.Unlock()
	var errs []error
	for _, p := range parts {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// Closing cancelled every ISR change in flight.
	r.bg.Wait()
	return errors.Join(errs...)
}
