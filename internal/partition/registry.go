package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/storage"
	"github.com/strom-broker/strom/internal/vfs"
)

// Key names a partition.
type Key struct {
	Topic string
	Index int32
}

// Registry holds the partitions this node hosts and keeps them in step
// with the metadata image: it opens partitions assigned to this node,
// deletes those of deleted topics (or sets them aside, see Apply), applies
// config changes, and makes each partition leader or follower as the image
// says.
//
// Concurrency: Get and All take mu's read lock (the partition map is
// changed only under its write lock, by Apply and Close); Apply is called
// by the controller's subscriber, one image at a time, serialized with
// Close by applyMu. SetAlterISR, SetReplicaLagTimeMax and
// SetFS must be called before the first Startup or Apply.
type Registry struct {
	dataDir  string
	fs       vfs.FS
	nodeID   ids.NodeID
	defaults config.LogDefaults
	logger   *slog.Logger

	// producerExpiry: producer.id.expiration.ms in effect (the static
	// value, or the image's dynamic one) and how often it is applied.
	producerExpiry struct {
		static, interval time.Duration
		current          atomic.Int64 // ns; 0 before the first Apply
		last             time.Time    // of the last check; the ticker's only
	}
	alterISR       AlterISRFunc
	replicaOffline ReplicaOfflineFunc
	lagMax         time.Duration
	stop           chan struct{}  // closed by Close: ends offline reports
	bg             sync.WaitGroup // ISR changes in flight, of every partition

	// applyMu serializes Apply with Close, so that a metadata change
	// arriving during shutdown cannot reopen a partition being closed.
	applyMu sync.Mutex
	closed  bool // guarded by applyMu

	mu struct {
		sync.RWMutex
		parts map[Key]*Partition
		// offline: partitions assigned here that could not be opened
		// (damaged log, unreadable files); they answer
		// KAFKA_STORAGE_ERROR until the node restarts.
		offline map[Key]offlinePartition
	}
}

// offlinePartition is a partition this node could not open.
type offlinePartition struct {
	id  metadata.TopicID
	err error
}

// ReplicaOfflineFunc reports to the metadata authority that this node's
// replica of a partition is offline (controller.Controller.ReplicaOffline).
type ReplicaOfflineFunc func(ctx context.Context, topic string, partition int32) error

// NewRegistry returns an empty registry rooted at dataDir.
func NewRegistry(dataDir string, nodeID ids.NodeID, defaults config.LogDefaults, logger *slog.Logger) *Registry {
	r := &Registry{dataDir: dataDir, fs: vfs.Default, nodeID: nodeID, defaults: defaults, logger: logger, lagMax: DefaultReplicaLagTimeMax,
		stop: make(chan struct{})}
	r.mu.parts = map[Key]*Partition{}
	r.mu.offline = map[Key]offlinePartition{}
	return r
}

// SetProducerIDExpiration sets producer.id.expiration.ms and its check
// interval; without it producer ids never expire. Call before the first
// Apply.
func (r *Registry) SetProducerIDExpiration(expiration, interval time.Duration) {
	r.producerExpiry.static, r.producerExpiry.interval = expiration, interval
}

// SetReplicaOffline sets how a replica that goes offline on this node is
// reported (the controller's ReplicaOffline), so that leadership moves.
// Without it, nothing is reported.
func (r *Registry) SetReplicaOffline(fn ReplicaOfflineFunc) { r.replicaOffline = fn }

// Offline returns why this node holds the partition offline (it could not
// be opened), nil when it does not.
func (r *Registry) Offline(topic string, index int32) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if off, ok := r.mu.offline[Key{topic, index}]; ok {
		return off.err
	}
	return nil
}

// setOffline holds a partition that could not be opened offline, saying
// which file, position and why (the error carries them).
func (r *Registry) setOffline(k Key, id metadata.TopicID, err error) {
	r.logger.Error("partition offline on this node: it answers KAFKA_STORAGE_ERROR until an operator acts (docs/operations.md#a-partition-offline-after-a-disk-fault)",
		"topic", k.Topic, "partition", k.Index, "err", err)
	r.mu.Lock()
	r.mu.offline[k] = offlinePartition{id: id, err: err}
	r.mu.Unlock()
}

// offline is a hosted partition's report that it went offline (a failed
// sync or write, a log cut below what it acknowledged): the metadata
// authority is told, retrying until it takes the report or the node stops,
// so that leadership moves to another in-sync replica.
func (r *Registry) offline(p *Partition) {
	if r.replicaOffline == nil {
		return
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		backoff := 100 * time.Millisecond
		for attempt := 0; ; attempt++ {
			if r.Get(p.Topic, p.Index) != p && attempt > 0 {
				return // deleted, reassigned away, or the node is stopping
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			go func() {
				select {
				case <-r.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			err := r.replicaOffline(ctx, p.Topic, p.Index)
			cancel()
			if err == nil {
				r.logger.Warn("reported replica offline; leadership moves to another in-sync replica", "topic", p.Topic, "partition", p.Index)
				return
			}
			r.logger.Warn("reporting replica offline failed; retrying", "topic", p.Topic, "partition", p.Index, "attempt", attempt, "err", err)
			select {
			case <-r.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}()
}

// SetFS sets the file system the partitions live on (vfs.Default unless
// set; tests inject failures with vfs/errorfs).
func (r *Registry) SetFS(fsys vfs.FS) { r.fs = fsys }

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
func (r *Registry) NodeID() ids.NodeID { return r.nodeID }

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

// DiskSpace returns the total and usable bytes of the file system holding
// the data directory (DescribeLogDirs).
func (r *Registry) DiskSpace() (total, usable int64, err error) {
	return storage.DiskSpace(r.dataDir)
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

func hosts(p metadata.Partition, node ids.NodeID) bool {
	for _, id := range p.Replicas {
		if id == node {
			return true
		}
	}
	return false
}

// Apply brings the hosted partitions in line with next: it opens the
// partitions assigned to this node, applies config and leadership, and
// removes the partitions next no longer assigns here. Removal deletes the
// data only when next follows from the previous image by applied records
// (a topic deletion, a reassignment away, or the name taken by a new topic
// id); an image restored from a snapshot proves no deletion, so the data is
// set aside as stray instead (DESIGN.md §2 rule 9). Errors opening a
// partition are returned (all of them joined) after the rest are applied.
func (r *Registry) Apply(next *metadata.Image) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	if r.closed {
		return nil
	}
	var errs []error
	want := map[Key]metadata.TopicID{}
	defaults := next.TopicDefaults(r.defaults)
	if r.producerExpiry.static > 0 {
		r.producerExpiry.current.Store(int64(next.ProducerIDExpiration(r.producerExpiry.static)))
	}
	now := time.Now()
	for _, t := range next.Topics {
		cfg := t.EffectiveConfig(defaults)
		for _, pm := range t.Partitions {
			if !hosts(pm, r.nodeID) {
				continue
			}
			k := Key{t.Name, pm.Index}
			want[k] = t.ID
			if id, ok := r.offlineID(k); ok {
				var damage *storage.DamageError
				if id == t.ID && !(errors.As(r.Offline(k.Topic, k.Index), &damage) && r.canRefetch(next, pm)) {
					continue // offline until the node restarts
				}
				if id == t.ID {
					// A damaged replica that found no in-sync peer
					// alive when it opened (a whole-cluster restart)
					// now has one to fetch the range from.
					r.dropOffline(k)
					p, err := r.openCut(t, pm, cfg, damage)
					if err != nil {
						r.setOffline(k, t.ID, err)
						continue
					}
					r.publish(k, p, pm, damage, now)
					continue
				}
				// The name belongs to a new topic id: the old data is
				// kept aside, never served.
				r.dropOffline(k)
				if _, err := r.setAsideStray(r.Dir(t.Name, pm.Index), "its topic was re-created while it was offline"); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			if p := r.Get(t.Name, pm.Index); p != nil {
				if p.TopicID == t.ID {
					if p.Config() != cfg {
						p.SetConfig(cfg)
					}
					p.applyMetadata(pm, r.nodeID, now, false)
					continue
				}
				// The name now belongs to a new topic id: the old topic
				// is gone.
				if err := r.remove(p, next.FromSnapshot); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			p, err := r.open(t, pm, cfg)
			var damage *storage.DamageError
			if errors.As(err, &damage) && r.canRefetch(next, pm) {
				p, err = r.openCut(t, pm, cfg, damage)
			}
			if err != nil {
				// The rest of the node goes on serving.
				r.setOffline(k, t.ID, err)
				continue
			}
			r.publish(k, p, pm, damage, now)
		}
	}
	for _, p := range r.All() {
		if id, ok := want[Key{p.Topic, p.Index}]; ok && id == p.TopicID {
			continue
		}
		if err := r.remove(p, next.FromSnapshot); err != nil {
			errs = append(errs, err)
		}
	}
	r.mu.RLock()
	var gone []Key
	for k, off := range r.mu.offline {
		if id, ok := want[k]; !ok || id != off.id {
			gone = append(gone, k)
		}
	}
	r.mu.RUnlock()
	for _, k := range gone {
		// An offline partition no longer assigned here: its data is
		// kept aside for the operator, never deleted unread.
		r.dropOffline(k)
		if _, err := r.setAsideStray(r.Dir(k.Topic, k.Index), "it was offline when the metadata stopped assigning it here"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// publish makes a partition just opened hosted: wired to the registry,
// its high watermark restored, its role applied. damage, when not nil, is
// what recovery cut off: the partition refuses to lead on its shortened log
// and is reported offline so that leadership moves.
func (r *Registry) publish(k Key, p *Partition, pm metadata.Partition, damage *storage.DamageError, now time.Time) {
	p.nodeID, p.alterISR, p.lagMax, p.bg = r.nodeID, r.alterISR, r.lagMax, &r.bg
	p.onOffline = r.offline
	if damage != nil {
		p.mu.damaged = damage
		r.offline(p)
	}
	if len(pm.Replicas) > 1 {
		// What a replica recovered from disk may be an uncommitted tail:
		// only what the HW checkpoint says was committed is visible until
		// the ISR confirms the rest.
		p.restoreHW()
	}
	p.applyMetadata(pm, r.nodeID, now, true)
	r.mu.Lock()
	r.mu.parts[k] = p
	r.mu.Unlock()
}

func (r *Registry) offlineID(k Key) (metadata.TopicID, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	off, ok := r.mu.offline[k]
	return off.id, ok
}

func (r *Registry) dropOffline(k Key) {
	r.mu.Lock()
	delete(r.mu.offline, k)
	r.mu.Unlock()
}

// canRefetch reports whether a replica whose log is damaged can get the
// range again: another live replica is in sync.
func (r *Registry) canRefetch(im *metadata.Image, pm metadata.Partition) bool {
	for _, id := range pm.ISR {
		if _, live := im.LiveBroker(id); live && id != r.nodeID {
			return true
		}
	}
	return false
}

// openCut cuts a damaged log at the last good batch below the damage and
// opens what is left, as a Kafka follower does after a log-directory
// failure: the range is fetched again from the leader once this replica
// follows (the caller reports it offline so that leadership moves).
func (r *Registry) openCut(t *metadata.Topic, pm metadata.Partition, cfg config.TopicConfig, d *storage.DamageError) (*Partition, error) {
	dir := r.Dir(t.Name, pm.Index)
	r.logger.Warn("cutting a damaged replica at the last good batch; the rest is fetched again from an in-sync replica",
		"topic", t.Name, "partition", pm.Index, "file", d.File, "position", d.Position, "offset", d.Offset, "why", d.Err)
	if err := storage.TruncateDamage(r.fs, dir, d); err != nil {
		return nil, errors.Join(d, err)
	}
	return r.open(t, pm, cfg)
}

// open opens partition pm of t. A directory under its name that records
// another topic id, or none, is not this partition's: it is set aside as
// stray and the partition starts empty.
func (r *Registry) open(t *metadata.Topic, pm metadata.Partition, cfg config.TopicConfig) (*Partition, error) {
	dir := r.Dir(t.Name, pm.Index)
	p, err := OpenFS(r.fs, dir, t.Name, t.ID, pm.Index, cfg, pm.LeaderEpoch, r.logger)
	if !errors.Is(err, ErrTopicIDMismatch) {
		return p, err
	}
	if _, serr := r.setAsideStray(dir, err.Error()); serr != nil {
		return nil, errors.Join(err, serr)
	}
	return OpenFS(r.fs, dir, t.Name, t.ID, pm.Index, cfg, pm.LeaderEpoch, r.logger)
}

// remove stops hosting p: its data is deleted when the change was applied
// in order, and set aside as stray when it came from a snapshot.
func (r *Registry) remove(p *Partition, fromSnapshot bool) error {
	r.mu.Lock()
	delete(r.mu.parts, Key{p.Topic, p.Index})
	r.mu.Unlock()
	dir := r.Dir(p.Topic, p.Index)
	if fromSnapshot {
		if err := p.Close(); err != nil {
			r.logger.Warn("closing partition before setting it aside", "dir", dir, "err", err)
		}
		_, err := r.setAsideStray(dir, "a metadata snapshot no longer assigns it to this node; the snapshot cannot tell a deletion from a stale image")
		return err
	}
	r.logger.Info("deleting partition: its topic was deleted or it was reassigned away", "dir", dir, "topic_id", p.TopicID)
	if err := p.Delete(); err != nil {
		return fmt.Errorf("delete partition %s-%d: %w", p.Topic, p.Index, err)
	}
	return nil
}

// strayWarning is logged for every stray directory, at every start.
const strayWarning = "stray partition directory: kept, never served; remove it once its data is not needed (docs/operations.md#stray-partition-directories)"

func (r *Registry) setAsideStray(dir, why string) (string, error) {
	to, err := storage.SetAside(r.fs, dir, storage.StrayDirSuffix)
	if err != nil {
		return "", err
	}
	r.logger.Warn(strayWarning, "dir", to, "was", dir, "reason", why)
	return to, nil
}

// Startup reconciles the data directory with im before the first Apply.
// im must be proven current (a cluster node has caught up with the
// metadata log), and nothing is deleted on its word alone: a partition
// directory it does not explain — an unknown topic id, a partition not
// assigned to this node, a deletion this node learned of only now — is set
// aside as stray, never removed. A directory written before topic ids were
// recorded, under the name of a partition this node hosts, is stamped with
// that topic's id. Directories whose deletion was interrupted are removed;
// stray ones are reported.
func (r *Registry) Startup(im *metadata.Image) error {
	entries, err := r.fs.ReadDir(r.dataDir)
	if err != nil {
		return fmt.Errorf("list data dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		dir := filepath.Join(r.dataDir, name)
		switch {
		case storage.IsAside(name, storage.DeleteDirSuffix):
			r.logger.Info("removing a partition directory whose deletion was interrupted", "dir", dir)
			if err := r.fs.RemoveAll(dir); err != nil {
				return fmt.Errorf("remove %s: %w", dir, err)
			}
			continue
		case storage.IsAside(name, storage.StrayDirSuffix):
			r.logger.Warn(strayWarning, "dir", dir)
			continue
		}
		topic, idx, ok := parseDirName(name)
		if !ok {
			continue
		}
		if err := r.reconcile(im, dir, topic, idx); err != nil {
			return err
		}
	}
	return nil
}

// reconcile applies Startup's rule to one partition directory.
func (r *Registry) reconcile(im *metadata.Image, dir, topic string, idx int) error {
	t := im.Topics[topic]
	hosted := t != nil && idx < len(t.Partitions) && hosts(t.Partitions[idx], r.nodeID)
	id, recorded, err := readTopicID(r.fs, dir)
	var why string
	switch {
	case err != nil && hosted:
		// Whose data this is cannot be told: neither served nor set
		// aside; Apply holds the partition offline (its open fails).
		return nil
	case err != nil:
		why = err.Error()
	case !hosted && recorded && im.TopicsByID[id] == nil:
		why = "its topic id " + id.String() + " is not in the metadata"
	case !hosted:
		why = "the metadata does not assign this partition to this node"
	case !recorded:
		r.logger.Info("recording the topic id of a partition directory written before ids were stored", "dir", dir, "topic_id", t.ID)
		return writeTopicID(r.fs, dir, t.ID)
	case id != t.ID:
		why = "it belongs to topic id " + id.String() + "; the topic of that name now has id " + t.ID.String()
	default:
		return nil
	}
	_, err = r.setAsideStray(dir, why)
	return err
}

// parseDirName splits a partition directory name <topic>-<partition>.
func parseDirName(name string) (topic string, idx int, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	idx, err := strconv.Atoi(name[i+1:])
	if err != nil || idx < 0 || strconv.Itoa(idx) != name[i+1:] {
		return "", 0, false
	}
	return name[:i], idx, true
}

// Tick runs periodic partition work (flush.ms, retention, producer id
// expiry). One goroutine calls it.
func (r *Registry) Tick(now time.Time, retention bool) {
	expiration := time.Duration(r.producerExpiry.current.Load())
	expire := expiration > 0 && now.Sub(r.producerExpiry.last) >= r.producerExpiry.interval
	if expire {
		r.producerExpiry.last = now
	}
	for _, p := range r.All() {
		p.Tick(now, retention)
		if expire {
			p.ExpireProducers(now, expiration)
		}
	}
}

// Close closes every partition cleanly.
func (r *Registry) Close() error {
	r.applyMu.Lock()
	if !r.closed {
		close(r.stop)
	}
	r.closed = true
	r.applyMu.Unlock()
	r.mu.Lock()
	parts := r.mu.parts
	r.mu.parts = map[Key]*Partition{}
	r.mu.Unlock()
	var errs []error
	for _, p := range parts {
		err := p.Close()
		if errors.Is(err, storage.ErrFailed) {
			// Offline since an earlier failure, reported then: the stop
			// itself is clean, and the next start recovers the log.
			r.logger.Warn("closed a partition that was offline", "topic", p.Topic, "partition", p.Index, "err", err)
			continue
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Closing cancelled every ISR change in flight.
	r.bg.Wait()
	return errors.Join(errs...)
}
