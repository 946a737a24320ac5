// Package partition owns the replica state of one partition on this node:
// its log, role (leader or follower) and leader epoch, high watermark,
// ISR and the positions of followers (on the leader), idempotent-producer
// state, flush policy and the waiters (fetch long polls, acks=all
// produces) woken when data becomes visible. The log is not handed out:
// readers use Read, bounded by the high watermark, the last stable offset
// or the log end (Bound), and the offset queries. The replication rules
// (high watermark, durability, ISR changes, truncation) are in
// docs/replication.md.
//
// A failed fdatasync fails the partition for good (Failed): appends are
// refused and every produce waiting for the high watermark or for its own
// durability gets the error, never success, until the partition is
// reopened; nothing retries the sync (storage explains why a retry that
// succeeds proves nothing).
//
// Concurrency: Append, AppendAsFollower and truncation are serialized by
// appendMu (producer checks and the log append must happen as one step,
// in arrival order). mu guards the high watermark, role, ISR, follower
// positions, config and waiter sets; it is never held while doing I/O on
// the log's files (it is held while reading the log's offsets, which take
// only the log's in-memory lock). Lock order: appendMu before mu.
package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/storage"
	"github.com/strom-broker/strom/internal/vfs"
)

// Waiter is woken (non-blocking send on C) when a partition it is
// registered with advances the offset of its bound: the high watermark
// (the last stable offset moves only with it: a transaction stops holding
// it back once its marker is below the high watermark) or the log end. Every waiter is also woken when the partition's role or
// leader epoch changes, and high-watermark waiters when a sync fails, so
// that fetches re-read and produces learn of it. One waiter may be
// registered with many partitions.
type Waiter struct {
	C     chan struct{}
	bound Bound
}

// NewWaiter returns a waiter for advances of bound b, with a one-slot
// channel.
func NewWaiter(b Bound) *Waiter { return &Waiter{C: make(chan struct{}, 1), bound: b} }

func (w *Waiter) wake() {
	select {
	case w.C <- struct{}{}:
	default:
	}
}

// Partition is one partition replica on this node.
type Partition struct {
	Topic   string
	TopicID metadata.TopicID // recorded in the directory (partition.metadata)
	Index   int32
	log     *storage.Log
	logger  *slog.Logger

	// Set by the Registry before the partition is published, then fixed.
	nodeID   ids.NodeID
	alterISR AlterISRFunc  // nil: ISR changes are never proposed
	lagMax   time.Duration // replica.lag.time.max.ms
	bg       *sync.WaitGroup
	bgCtx    context.Context // cancelled when the partition closes
	bgCancel context.CancelFunc
	// onOffline is told, once, that the partition went offline on this
	// node (a failed sync or write, a log cut below what it acknowledged),
	// so that the metadata authority moves leadership (Registry.offline).
	onOffline   func(*Partition)
	offlineOnce sync.Once

	appendMu  sync.Mutex
	producers *producerState // guarded by appendMu

	flushReq chan struct{} // cap 1: asks the flusher for a sync
	stop     chan struct{}
	done     chan struct{}

	mu struct {
		sync.Mutex
		hw ids.Offset // consumers read below this offset
		// unstable lists the transactions that hold the last stable
		// offset back, in order of first offset: those in progress
		// (marker -1) and those whose marker is not yet below the high
		// watermark (txn.go).
		unstable []unstableTxn
		// openEnded: transactions the opening scan saw end, whose marker
		// a restored high watermark may not cover (restoreHW).
		openEnded   []unstableTxn
		cfg         config.TopicConfig
		leaderEpoch ids.LeaderEpoch
		waiters     [numBounds]map[*Waiter]struct{} // fetches and acks=all produces, by bound
		flushErr    error                           // the sync failure that failed the partition; never cleared
		// damaged: recovery cut the log below data it had acknowledged
		// (storage.DamageError) to fetch it again; until the image makes
		// it a follower it refuses to lead. Cleared on becoming follower.
		damaged   error
		lastFlush time.Time

		// Replication state, from the metadata image and follower fetches.
		role        Role
		leaderID    ids.NodeID   // the leader when following; ids.NoNode unknown
		replicas    []ids.NodeID // nil: not replicated (a single-node partition)
		isr         []ids.NodeID
		pendingISR  *isrChange // an AlterISR in flight, nil when none
		followers   map[ids.NodeID]*follower
		epochStart  ids.Offset           // log end offset when this leader epoch began
		syncWaiters map[*Waiter]struct{} // woken by every sync (acks=1)

		// High-watermark checkpoint of a replicated partition.
		replicated     bool
		checkpointedHW ids.Offset
		checkpointedAt time.Time
	}
}

// AppendResult is what a produce answer needs.
type AppendResult struct {
	BaseOffset     ids.Offset
	LastOffset     ids.Offset
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset ids.Offset
	Duplicate      bool
}

// Open opens (recovering if needed) the partition's log in dir and rebuilds
// the idempotent-producer state from it. A missing dir is created for topic
// id; an existing one must record id (ErrTopicIDMismatch otherwise), so a
// partition never opens another topic's data.
func Open(dir, topic string, id metadata.TopicID, index int32, cfg config.TopicConfig, leaderEpoch ids.LeaderEpoch, logger *slog.Logger) (*Partition, error) {
	return OpenFS(vfs.Default, dir, topic, id, index, cfg, leaderEpoch, logger)
}

// OpenFS is Open on the file system fsys (see storage.OpenFS).
func OpenFS(fsys vfs.FS, dir, topic string, id metadata.TopicID, index int32, cfg config.TopicConfig, leaderEpoch ids.LeaderEpoch, logger *slog.Logger) (*Partition, error) {
	if err := claimDir(fsys, dir, id); err != nil {
		return nil, fmt.Errorf("open partition %s-%d: %w", topic, index, err)
	}
	l, err := storage.OpenFS(fsys, dir, storage.ConfigOf(cfg), logger)
	if err != nil {
		return nil, fmt.Errorf("open partition %s-%d: %w", topic, index, err)
	}
	p := &Partition{
		Topic: topic, TopicID: id, Index: index, log: l, logger: logger,
		producers: newProducerState(),
		flushReq:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	// Everything recovered from disk is durable or was flushed before a
	// clean stop: it is all visible.
	p.mu.hw = l.LogEndOffset()
	p.mu.cfg = cfg
	p.mu.leaderEpoch = leaderEpoch
	for b := range p.mu.waiters {
		p.mu.waiters[b] = map[*Waiter]struct{}{}
	}
	p.mu.syncWaiters = map[*Waiter]struct{}{}
	p.mu.lastFlush = time.Now()
	p.mu.leaderID = ids.NoNode
	p.nodeID = -1
	p.lagMax = DefaultReplicaLagTimeMax
	p.bg = &sync.WaitGroup{}
	p.bgCtx, p.bgCancel = context.WithCancel(context.Background())
	// A replicated partition restores a lower high watermark from its
	// checkpoint after opening: transactions ended above it stay unstable.
	keepFrom := l.LogEndOffset()
	if cp, ok, err := l.ReadHighWatermark(); err == nil && ok {
		keepFrom = min(keepFrom, cp)
	}
	if err := p.rebuildProducersLocked(keepFrom); err != nil {
		l.Close()
		return nil, err
	}
	go p.flusher()
	return p, nil
}

// Config returns the partition's effective config.
func (p *Partition) Config() config.TopicConfig {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.cfg
}

// SetConfig applies a changed topic config.
func (p *Partition) SetConfig(cfg config.TopicConfig) {
	p.mu.Lock()
	p.mu.cfg = cfg
	p.mu.Unlock()
	p.log.SetConfig(storage.ConfigOf(cfg))
}

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() ids.LeaderEpoch {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.leaderEpoch
}

// HighWatermark is the first offset consumers may not yet read.
func (p *Partition) HighWatermark() ids.Offset {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.hw
}

// Failed returns why the partition takes no more writes after an I/O
// failure (wrapping storage.ErrFailed), nil while it works. It stays
// failed until reopened. A failed follower must not fetch: its log end is
// not durable, and the leader would count it toward the high watermark.
func (p *Partition) Failed() error {
	p.mu.Lock()
	err := p.mu.flushErr
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.log.Failed()
}

// failLocked records a failed sync: the partition refuses appends, and
// every waiter for visibility or durability wakes to return err. The first
// failure is kept. Needs mu.
func (p *Partition) failLocked(err error) {
	if p.mu.flushErr == nil {
		p.mu.flushErr = err
	}
	p.wakeHWLocked()
	wakeAll(p.mu.syncWaiters)
	if errors.Is(err, storage.ErrFailed) { // not a close racing a sync
		p.reportOffline()
	}
}

// reportOffline tells the registry, once, that this replica is offline.
// It only starts work in the background: callers may hold mu.
func (p *Partition) reportOffline() {
	if p.onOffline != nil {
		p.offlineOnce.Do(func() { p.onOffline(p) })
	}
}

// Offline returns why the partition serves no client on this node, nil
// while it serves: it failed (Failed), or it leads with a log cut below
// what it had acknowledged. Clients get KAFKA_STORAGE_ERROR, as Kafka
// answers for a partition in an offline log directory.
func (p *Partition) Offline() error {
	p.mu.Lock()
	ferr, damaged, role := p.mu.flushErr, p.mu.damaged, p.mu.role
	p.mu.Unlock()
	if ferr != nil {
		return ferr
	}
	if err := p.log.Failed(); err != nil {
		return err
	}
	if role == RoleLeader && damaged != nil {
		return fmt.Errorf("partition %s-%d: log cut below acknowledged data, waiting for leadership to move: %w", p.Topic, p.Index, damaged)
	}
	return nil
}

// Append checks one batch (checkBatch, then the producer state), appends
// it, and makes it visible according to the flush policy: the one way a
// batch from a producer or a coordinator enters the log. The caller waits
// with WaitVisible (acks=all) or WaitDurable (acks=1). Append rewrites the
// batch in place (base offset, leader epoch, LogAppendTime), or a
// recompressed copy of it (compression.type), and keeps no reference to it.
func (p *Partition) Append(batch []byte, origin Origin) (AppendResult, error) {
	return p.AppendVerified(batch, origin, 0)
}

// AppendVerified is Append of a transactional batch whose transaction the
// coordinator verified (KIP-890) under guard, from StartTxnVerification;
// guard 0 is no verification.
func (p *Partition) AppendVerified(batch []byte, origin Origin, guard uint64) (AppendResult, error) {
	p.mu.Lock()
	cfg, epoch, ferr, role, damaged := p.mu.cfg, p.mu.leaderEpoch, p.mu.flushErr, p.mu.role, p.mu.damaged
	p.mu.Unlock()
	h, err := checkBatch(batch, origin, cfg, time.Now())
	if err != nil {
		return AppendResult{}, err
	}
	if role != RoleLeader {
		return AppendResult{}, fmt.Errorf("append to %s-%d: %w", p.Topic, p.Index, ErrNotLeader)
	}
	if ferr != nil {
		return AppendResult{}, fmt.Errorf("partition %s-%d: earlier sync failed: %w", p.Topic, p.Index, ferr)
	}
	if damaged != nil {
		return AppendResult{}, fmt.Errorf("partition %s-%d: log cut below acknowledged data, waiting for leadership to move: %w", p.Topic, p.Index, damaged)
	}
	res := AppendResult{LogAppendTime: -1}
	if batch, h, err = recompress(batch, h, cfg); err != nil {
		return res, err
	}

	p.appendMu.Lock()
	dup, isDup, err := p.producers.check(h, guard, origin)
	if err != nil {
		p.appendMu.Unlock()
		return res, err
	}
	if isDup {
		p.appendMu.Unlock()
		res.BaseOffset, res.LastOffset, res.Duplicate = ids.Offset(dup.firstOffset), ids.Offset(dup.lastOffset), true
		res.LogStartOffset = p.log.LogStartOffset()
		if cfg.LogAppendTime {
			res.LogAppendTime = dup.timestamp
		}
		return res, nil
	}
	if cfg.LogAppendTime {
		res.LogAppendTime = time.Now().UnixMilli()
		record.SetLogAppendTime(batch, &h, res.LogAppendTime)
	}
	hs := [1]record.BatchHeader{h}
	info, err := p.log.Append(batch, hs[:], epoch)
	if err != nil {
		p.appendMu.Unlock()
		if errors.Is(err, storage.ErrFailed) {
			// A write whose effect on disk is unknown failed the log.
			p.mu.Lock()
			p.wakeHWLocked()
			p.mu.Unlock()
			p.reportOffline()
		}
		return res, fmt.Errorf("append to %s-%d: %w", p.Topic, p.Index, err)
	}
	h.BaseOffset = int64(info.FirstOffset)
	p.applyTxnEventLocked(p.producers.update(h, nil))
	p.appendMu.Unlock()

	res.BaseOffset, res.LastOffset = info.FirstOffset, info.LastOffset
	res.LogStartOffset = p.log.LogStartOffset()
	if cfg.Flush.SyncOnAck() || p.log.UnflushedMessages() >= cfg.Flush.Messages {
		p.requestFlush()
	}
	p.mu.Lock()
	wakeAll(p.mu.waiters[BoundLogEnd])
	if !cfg.Flush.SyncOnAck() {
		p.maybeAdvanceHWLocked()
	}
	p.mu.Unlock()
	return res, nil
}

// WaitVisible blocks until offset is below the high watermark (so the
// write is durable on every in-sync replica under the sync-on-ack policy),
// or ctx ends. It fails with ErrNotLeader once this node stops leading.
func (p *Partition) WaitVisible(ctx context.Context, offset ids.Offset) error {
	w := NewWaiter(BoundHighWatermark)
	p.AddWaiter(w)
	defer p.RemoveWaiter(w)
	for {
		p.mu.Lock()
		hw, ferr, role := p.mu.hw, p.mu.flushErr, p.mu.role
		p.mu.Unlock()
		if hw > offset {
			return nil
		}
		if ferr != nil {
			return ferr
		}
		if role != RoleLeader {
			return fmt.Errorf("partition %s-%d: %w", p.Topic, p.Index, ErrNotLeader)
		}
		select {
		case <-w.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.stop:
			return fmt.Errorf("%w: %s-%d", ErrClosed, p.Topic, p.Index)
		}
	}
}

// AddWaiter registers w to be woken on every advance of its bound.
func (p *Partition) AddWaiter(w *Waiter) {
	p.mu.Lock()
	p.mu.waiters[w.bound][w] = struct{}{}
	p.mu.Unlock()
}

// RemoveWaiter unregisters w.
func (p *Partition) RemoveWaiter(w *Waiter) {
	p.mu.Lock()
	delete(p.mu.waiters[w.bound], w)
	p.mu.Unlock()
}

func wakeAll(ws map[*Waiter]struct{}) {
	for w := range ws {
		w.wake()
	}
}

// wakeHWLocked wakes the readers of the high watermark, and of the last
// stable offset, which may move with it (a marker now below it).
func (p *Partition) wakeHWLocked() {
	p.pruneUnstableLocked()
	wakeAll(p.mu.waiters[BoundHighWatermark])
	wakeAll(p.mu.waiters[BoundLastStable])
}

func (p *Partition) requestFlush() {
	select {
	case p.flushReq <- struct{}{}:
	default:
	}
}

// flusher runs one fdatasync at a time for the partition; appends that
// arrive during a sync are covered by the next one (group commit). After a
// failed sync it syncs no more.
func (p *Partition) flusher() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case <-p.flushReq:
		}
		p.mu.Lock()
		failed := p.mu.flushErr != nil
		p.mu.Unlock()
		if failed {
			continue
		}
		leo := p.log.LogEndOffset()
		if err := p.log.SyncTo(leo); err != nil {
			p.logger.Error("sync failed; partition stops accepting writes until reopened", "topic", p.Topic, "partition", p.Index, "err", err)
			p.mu.Lock()
			p.failLocked(err)
			p.mu.Unlock()
			continue
		}
		p.mu.Lock()
		p.mu.lastFlush = time.Now()
		wakeAll(p.mu.syncWaiters)
		p.maybeAdvanceHWLocked()
		p.mu.Unlock()
	}
}

// Tick runs time-based work: flush.ms for async-flush topics and
// retention. The broker calls it periodically.
func (p *Partition) Tick(now time.Time, retention bool) {
	p.checkpointHW(now, false)
	p.mu.Lock()
	cfg, last := p.mu.cfg, p.mu.lastFlush
	p.mu.Unlock()
	if !cfg.Flush.SyncOnAck() && p.log.UnflushedMessages() > 0 && now.Sub(last) >= cfg.Flush.Interval {
		p.requestFlush()
	}
	// cleanup.policy=compact alone never deletes by time or size, as in Kafka.
	if retention && cfg.Cleanup.Delete {
		if n, err := p.log.ApplyRetention(now, p.Offsets().LastStable); err != nil {
			p.logger.Warn("retention failed", "topic", p.Topic, "partition", p.Index, "err", err)
		} else if n > 0 {
			p.logger.Info("retention deleted segments", "topic", p.Topic, "partition", p.Index, "segments", n)
		}
	}
	// Log compaction reads and rewrites whole segments: it runs in the
	// background, below the high watermark, when enough of the log is dirty.
	if cfg.Cleanup.Compact {
		// Below the last stable offset: an open transaction's records
		// are not yet known to be aborted or kept (Kafka's first
		// uncleanable offset).
		ccfg, from := storage.CompactConfigOf(cfg), min(p.Offsets().LastStable, p.log.FlushedOffset())
		if p.log.CompactionDue(now, ccfg, from) {
			p.bg.Add(1)
			go func() {
				defer p.bg.Done()
				st, err := p.log.Compact(now, ccfg, from)
				if err != nil {
					p.logger.Warn("compaction failed", "topic", p.Topic, "partition", p.Index, "err", err)
				} else if st.SegmentsWritten > 0 {
					p.logger.Info("compacted log", "topic", p.Topic, "partition", p.Index,
						"bytes_read", st.BytesRead, "bytes_written", st.BytesWritten, "records_removed", st.RecordsRemoved)
				}
			}()
		}
	}
}

// DeleteRecordsBefore raises the log start offset (DeleteRecords). The
// offset -1 means the high watermark.
func (p *Partition) DeleteRecordsBefore(offset ids.Offset) (ids.Offset, error) {
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return 0, storage.ErrOffsetOutOfRange
	}
	if offset > p.log.LogStartOffset() {
		if err := p.log.SetLogStartOffset(offset); err != nil {
			return 0, err
		}
	}
	return p.log.LogStartOffset(), nil
}

// Close stops the flusher, syncs and closes the log cleanly. An ISR
// change in flight is cancelled but not waited for (the Registry waits for
// those): it may be blocked on the controller that is closing us.
func (p *Partition) Close() error {
	p.bgCancel()
	close(p.stop)
	<-p.done
	p.checkpointHW(time.Now(), true)
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.log.Close()
}

// Delete closes the partition and removes its files.
func (p *Partition) Delete() error {
	p.bgCancel()
	close(p.stop)
	<-p.done
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.log.Delete()
}
