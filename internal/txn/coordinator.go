package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
)

// Topic is the coordinator's internal topic.
const Topic = metadata.TransactionStateTopic

// writeTimeout bounds how long a write to __transaction_state may take to
// become durable (Kafka's transaction.state.log request timeout).
const writeTimeout = 5 * time.Second

// completionWait bounds how long AddPartitionsToTxn waits for the previous
// transaction of the same id to complete (its markers written and
// CompleteCommit/CompleteAbort durable) before answering
// CONCURRENT_TRANSACTIONS as Kafka does at once. Completion takes about a
// millisecond; clients back off 20 ms or more on CONCURRENT_TRANSACTIONS,
// which would otherwise dominate a short transaction begun right after a
// commit.
const completionWait = time.Second

// Config is the coordinator's share of the broker config.
type Config struct {
	Partitions    int32         // transaction.state.log.num.partitions
	MaxTimeout    time.Duration // transaction.max.timeout.ms
	IDExpiration  time.Duration // transactional.id.expiration.ms
	AbortInterval time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
}

// ConfigFrom takes the coordinator's settings from the broker config.
func ConfigFrom(c config.Config) Config {
	return Config{
		Partitions: c.TransactionStatePartitions, MaxTimeout: c.TransactionMaxTimeout,
		IDExpiration: c.TransactionalIDExpiration, AbortInterval: c.TransactionAbortInterval,
	}
}

// TopicSpec describes __transaction_state as Kafka creates it: compacted,
// 100 MiB segments, replication factor min(3, brokers) and
// min.insync.replicas 2 where the factor is 3
// (transaction.state.log.replication.factor, .min.isr, .segment.bytes).
func TopicSpec(partitions int32, brokers int) controller.TopicSpec {
	rf := int16(max(1, min(3, brokers)))
	cfg := map[string]string{
		"cleanup.policy":      "compact",
		"segment.bytes":       "104857600",
		"retention.ms":        "-1",
		"min.insync.replicas": "1",
	}
	if rf >= 3 {
		cfg["min.insync.replicas"] = "2"
	}
	return controller.TopicSpec{Name: Topic, Partitions: partitions, ReplicationFactor: rf, Configs: cfg, Internal: true}
}

// PartitionFor is the __transaction_state partition of a transactional id
// (Kafka's Utils.abs(id.hashCode) % partitions).
func PartitionFor(id string, partitions int32) int32 { return group.PartitionFor(id, partitions) }

// IDAllocator hands out producer ids (the broker's block allocator).
type IDAllocator func(ctx context.Context) (ids.ProducerID, error)

// owned is one __transaction_state partition this node leads.
type owned struct {
	epoch   ids.LeaderEpoch // the coordinator epoch: the leader epoch it was loaded at
	loading bool
	txns    map[string]*Metadata
}

// Coordinator serves the transactional ids of the __transaction_state
// partitions this node leads.
type Coordinator struct {
	cfg    Config
	nodeID ids.NodeID
	parts  *partition.Registry
	alloc  IDAllocator
	image  func() *metadata.Image
	send   MarkerSender
	logger *slog.Logger
	now    func() time.Time

	mu struct {
		sync.Mutex
		partitions int32            // partitions of __transaction_state
		owned      map[int32]*owned // guarded by mu
		// settled is closed and replaced each time a coordinator write
		// settles (AddPartitions waits on it for a completion).
		settled chan struct{}
	}
	images chan *metadata.Image // latest image, one slot
	// sweeping is set while a sweep (timed-out aborts, id expiry) runs.
	sweeping atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   sync.Once
}

// NewCoordinator returns a coordinator for node nodeID; image gives the
// current metadata image (marker destinations), send delivers markers.
func NewCoordinator(cfg Config, nodeID ids.NodeID, parts *partition.Registry, alloc IDAllocator,
	image func() *metadata.Image, send MarkerSender, logger *slog.Logger) *Coordinator {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg: cfg, nodeID: nodeID, parts: parts, alloc: alloc, image: image, send: send,
		logger: logger, now: time.Now, images: make(chan *metadata.Image, 1), ctx: ctx, cancel: cancel,
	}
	c.mu.partitions = cfg.Partitions
	c.mu.owned = map[int32]*owned{}
	c.mu.settled = make(chan struct{})
	return c
}

// Start runs the goroutine following leadership and the timer aborting
// timed-out transactions and expiring idle ids.
func (c *Coordinator) Start() {
	c.wg.Add(1)
	go c.run()
}

// Stop ends every goroutine; requests in flight get
// COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Stop() {
	c.stop.Do(func() {
		c.cancel()
		c.wg.Wait()
	})
}

// OnImage tells the coordinator about a new metadata image; it never
// blocks (a controller subscriber calls it).
func (c *Coordinator) OnImage(im *metadata.Image) {
	for {
		select {
		case c.images <- im:
			return
		default:
		}
		select {
		case <-c.images:
		default:
		}
	}
}

func (c *Coordinator) run() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.AbortInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case im := <-c.images:
			c.applyImage(im)
		case <-t.C:
			// Off this goroutine: the aborts and tombstones wait for
			// writes, and leadership changes must not wait for them.
			if c.sweeping.CompareAndSwap(false, true) {
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					defer c.sweeping.Store(false)
					c.abortTimedOut()
					c.expireIDs()
				}()
			}
		}
	}
}

// applyImage loads the partitions this node now leads and drops those it
// no longer leads (or leads at a new epoch: another leader may have
// written meanwhile).
func (c *Coordinator) applyImage(im *metadata.Image) {
	t := im.Topics[Topic]
	lead := map[int32]ids.LeaderEpoch{}
	if t != nil {
		for _, p := range t.Partitions {
			if p.Leader == c.nodeID && c.parts.Get(Topic, p.Index) != nil {
				lead[p.Index] = p.LeaderEpoch
			}
		}
	}
	c.mu.Lock()
	if t != nil {
		c.mu.partitions = int32(len(t.Partitions))
	}
	var loads []int32
	var unloaded []int32
	for p, o := range c.mu.owned {
		if e, ok := lead[p]; !ok || e != o.epoch {
			delete(c.mu.owned, p)
			unloaded = append(unloaded, p)
		}
	}
	if len(unloaded) > 0 {
		c.settledLocked() // a waiting AddPartitions answers NOT_COORDINATOR
	}
	for p, e := range lead {
		if _, ok := c.mu.owned[p]; !ok {
			c.mu.owned[p] = &owned{epoch: e, loading: true, txns: map[string]*Metadata{}}
			loads = append(loads, p)
		}
	}
	c.mu.Unlock()
	for _, p := range loads {
		c.startLoad(p, lead[p])
	}
	if len(loads) > 0 || len(unloaded) > 0 {
		c.logger.Info("transaction coordinator partitions changed", "loading", loads, "unloaded", unloaded)
	}
}

func (c *Coordinator) startLoad(p int32, epoch ids.LeaderEpoch) {
	part := c.parts.Get(Topic, p)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		txns, n, err := load(c.ctx, part, p)
		if err != nil {
			if c.ctx.Err() == nil {
				c.logger.Error("loading transactions failed; the partition stays loading", "partition", p, "err", err)
			}
			return
		}
		c.mu.Lock()
		o := c.mu.owned[p]
		if o == nil || o.epoch != epoch {
			c.mu.Unlock()
			return
		}
		o.txns, o.loading = txns, false
		// Finish what the previous coordinator left in flight: markers of
		// prepared transactions go out again (a partition leader answers
		// a repeated marker as written).
		var resend []*Metadata
		for _, m := range txns {
			if m.State == PrepareCommit || m.State == PrepareAbort {
				resend = append(resend, m)
			}
		}
		jobs := make([]markerJob, 0, len(resend))
		for _, m := range resend {
			jobs = append(jobs, c.markerJobLocked(p, epoch, m))
		}
		c.mu.Unlock()
		c.logger.Debug("loaded transactions", "partition", p, "records", n, "ids", len(txns), "completing", len(jobs))
		for _, j := range jobs {
			c.startMarkers(j)
		}
	}()
}

// load replays a partition's log up to its end.
func load(ctx context.Context, part *partition.Partition, p int32) (map[string]*Metadata, int, error) {
	txns := map[string]*Metadata{}
	n := 0
	off, end := part.LogStartOffset(), part.LogEndOffset()
	var buf []byte
	for off < end {
		if ctx.Err() != nil {
			return nil, n, ctx.Err()
		}
		rr, _, err := part.Read(off, 1<<20, partition.BoundLogEnd, true)
		if err != nil {
			return nil, n, fmt.Errorf("read %s-%d at %d: %w", Topic, p, off, err)
		}
		if rr.Size() == 0 {
			rr.Release()
			break
		}
		buf, err = rr.AppendTo(buf[:0])
		rr.Release()
		if err != nil {
			return nil, n, err
		}
		err = record.Split(buf, func(batch []byte, h record.BatchHeader) error {
			if ids.Offset(h.BaseOffset) >= end {
				return errPastLoadEnd
			}
			off = ids.Offset(h.LastOffset() + 1)
			if h.IsControl() {
				return nil
			}
			return record.Records(batch, func(r record.Record) error {
				if r.Key == nil {
					return nil
				}
				n++
				id, t, ok, err := decodeRecord(r.Key, r.Value)
				if err != nil {
					return fmt.Errorf("%s-%d offset %d: %w", Topic, p, h.BaseOffset+int64(r.OffsetDelta), err)
				}
				if !ok {
					delete(txns, id)
					return nil
				}
				txns[id] = fromTransit(id, t)
				return nil
			})
		})
		if errors.Is(err, errPastLoadEnd) {
			break
		}
		if err != nil {
			return nil, n, err
		}
	}
	return txns, n, nil
}

var errPastLoadEnd = errors.New("past the end of the load")

// lookupLocked finds the partition owning id: ErrNotCoordinator when not
// led here, ErrLoading while loading.
func (c *Coordinator) lookupLocked(id string) (int32, *owned, error) {
	if c.mu.partitions < 1 {
		return 0, nil, ErrNotCoordinator
	}
	p := PartitionFor(id, c.mu.partitions)
	o := c.mu.owned[p]
	switch {
	case o == nil:
		return p, nil, ErrNotCoordinator
	case o.loading:
		return p, nil, ErrLoading
	}
	return p, o, nil
}

// write appends id's transit to its partition and waits until it is
// durable; then, under mu, it completes the transition if the partition
// is still owned at epoch. after (may be nil) runs under mu on success.
func (c *Coordinator) write(ctx context.Context, p int32, epoch ids.LeaderEpoch, m *Metadata, t Transit, after func()) error {
	err := c.appendDurable(ctx, p, recordKey(m.ID), recordValue(t))
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.settledLocked()
	o := c.mu.owned[p]
	if o == nil || o.epoch != epoch || o.txns[m.ID] != m {
		// The partition moved on; the new coordinator loads what was written.
		return ErrNotCoordinator
	}
	if err != nil {
		m.Abandon()
		if t.State == Empty && m.Epoch == noProducerEpoch {
			delete(o.txns, m.ID) // never persisted
		}
		return err
	}
	if t.State == Dead {
		delete(o.txns, m.ID)
		m.pending = nil
	} else {
		m.Complete(t)
	}
	if after != nil {
		after()
	}
	return nil
}

// settledLocked wakes every AddPartitions waiting for a completion to
// look again.
func (c *Coordinator) settledLocked() {
	close(c.mu.settled)
	c.mu.settled = make(chan struct{})
}

func (c *Coordinator) appendDurable(ctx context.Context, p int32, key, value []byte) error {
	part := c.parts.Get(Topic, p)
	if part == nil {
		return fmt.Errorf("%s-%d is not hosted here: %w", Topic, p, ErrNotCoordinator)
	}
	batch, err := record.AppendBatch(nil, record.BatchOptions{
		FirstTimestamp: c.now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}, []record.Record{{Key: key, Value: value}})
	if err != nil {
		return err
	}
	res, err := part.Append(batch, partition.FromCoordinator)
	if err != nil {
		if errors.Is(err, partition.ErrNotLeader) {
			// The cause is not wrapped: NOT_LEADER_OR_FOLLOWER comes
			// before NOT_COORDINATOR in errcode's table, and clients of
			// the transaction APIs re-find the coordinator only on the
			// latter (Kafka's TransactionStateManager maps it so too).
			return fmt.Errorf("%w: %v", ErrNotCoordinator, err)
		}
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	if err := part.WaitVisible(wctx, res.LastOffset); err != nil {
		if errors.Is(err, partition.ErrNotLeader) {
			return fmt.Errorf("%w: %v", ErrNotCoordinator, err)
		}
		// Kafka answers a write that timed out COORDINATOR_NOT_AVAILABLE
		// (retryable), not a storage error.
		return fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
	}
	return nil
}

// allocate takes a producer id from the broker's allocator. It may wait on
// the metadata log, so it is never called under mu: a path that may need
// an id takes it first and hands the state machine a function returning it.
func (c *Coordinator) allocate(ctx context.Context) (int64, error) {
	id, err := c.alloc(ctx)
	return int64(id), err
}

// InitProducerID serves InitProducerId for a transactional id: the
// producer id and epoch to use, or the error to answer.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, expected *PIDEpoch) (int64, int16, error) {
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return noProducerID, noProducerEpoch, ErrInvalidTransactionTimeout
	}
	// A fresh id is allocated outside mu; it is used if the transactional
	// id is new or its epoch is exhausted, and otherwise dropped (Kafka's
	// allocator also leaves gaps).
	var spare int64 = noProducerID
	c.mu.Lock()
	p, o, err := c.lookupLocked(id)
	var need bool
	if err == nil {
		m := o.txns[id]
		need = m == nil || epochExhausted(m.Epoch)
	}
	c.mu.Unlock()
	if err != nil {
		return noProducerID, noProducerEpoch, err
	}
	if need {
		if spare, err = c.allocate(ctx); err != nil {
			return noProducerID, noProducerEpoch, err
		}
	}
	newID := func() (int64, error) {
		if spare < 0 {
			return 0, fmt.Errorf("%w: no producer id reserved", ErrConcurrentTransactions)
		}
		id := spare
		spare = noProducerID
		return id, nil
	}
	nowMs := c.now().UnixMilli()
	c.mu.Lock()
	p2, o2, err := c.lookupLocked(id)
	if err != nil || p2 != p || o2 != o {
		c.mu.Unlock()
		if err == nil {
			err = ErrNotCoordinator
		}
		return noProducerID, noProducerEpoch, err
	}
	m := o.txns[id]
	if m == nil {
		pid, _ := newID()
		if pid < 0 {
			c.mu.Unlock()
			return noProducerID, noProducerEpoch, ErrConcurrentTransactions
		}
		m = NewMetadata(id, pid, timeoutMs, nowMs)
		o.txns[id] = m
	}
	res, err := m.PrepareInit(timeoutMs, expected, nowMs, newID)
	epoch, tv := o.epoch, m.TV
	c.mu.Unlock()
	if err != nil {
		return noProducerID, noProducerEpoch, err
	}
	if res.Fence {
		// Abort the ongoing transaction under the bumped epoch, and let
		// the client retry (Kafka answers CONCURRENT_TRANSACTIONS too).
		if _, _, err := c.endTxn(ctx, id, res.Transit.ProducerID, res.Transit.Epoch, false, false, tv); err != nil {
			return noProducerID, noProducerEpoch, err
		}
		return noProducerID, noProducerEpoch, ErrConcurrentTransactions
	}
	if err := c.write(ctx, p, epoch, m, res.Transit, nil); err != nil {
		return noProducerID, noProducerEpoch, err
	}
	c.logger.Debug("initialized transactional id", "id", id, "producer", res.Transit.ProducerID, "epoch", res.Transit.Epoch)
	return res.Transit.ProducerID, res.Transit.Epoch, nil
}

// AddPartitions adds partitions to id's transaction (AddPartitionsToTxn,
// AddOffsetsToTxn); tv is the client's transaction version the request
// implies (2: a partition leader adding a partition implicitly, KIP-890
// part 2).
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []TopicPartition, tv int16) error {
	var timeout <-chan time.Time
	for {
		c.mu.Lock()
		p, o, err := c.lookupLocked(id)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		m := o.txns[id]
		if m == nil {
			c.mu.Unlock()
			return ErrInvalidProducerIDMapping
		}
		done, err := m.CheckAdd(pid, epoch, parts)
		if errors.Is(err, ErrConcurrentTransactions) && (m.State == PrepareCommit || m.State == PrepareAbort) {
			// The previous transaction's markers are being written:
			// wait for it to complete rather than send the client into
			// its backoff (Kafka answers CONCURRENT_TRANSACTIONS at once).
			settled := c.mu.settled
			c.mu.Unlock()
			if timeout == nil {
				t := time.NewTimer(completionWait)
				defer t.Stop()
				timeout = t.C
			}
			select {
			case <-settled:
				continue
			case <-timeout:
			case <-ctx.Done():
			case <-c.ctx.Done():
			}
			return err
		}
		if err != nil || done {
			c.mu.Unlock()
			return err
		}
		t, err := m.PrepareAdd(parts, tv, c.now().UnixMilli())
		cepoch := o.epoch
		c.mu.Unlock()
		if err != nil {
			return err
		}
		return c.write(ctx, p, cepoch, m, t, nil)
	}
}

// VerifyPartitions answers a VerifyOnly AddPartitionsToTxn (KIP-890 part
// 1): per partition, nil when it is in the transaction.
func (c *Coordinator) VerifyPartitions(id string, pid int64, epoch int16, parts []TopicPartition) (map[TopicPartition]error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, o, err := c.lookupLocked(id)
	if err != nil {
		return nil, err
	}
	m := o.txns[id]
	if m == nil {
		return nil, ErrInvalidProducerIDMapping
	}
	return m.Verify(pid, epoch, parts)
}

// EndTxn commits or aborts id's transaction: once PrepareCommit or
// PrepareAbort is durable the answer goes back and the markers go out.
// tv is the client's transaction version (2 for EndTxn v5+). It returns
// the producer id and epoch the producer continues with.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool, tv int16) (int64, int16, error) {
	return c.endTxn(ctx, id, pid, epoch, commit, true, tv)
}

func (c *Coordinator) endTxn(ctx context.Context, id string, pid int64, epoch int16, commit, fromClient bool, tv int16) (int64, int16, error) {
	var spare int64 = noProducerID
	if tv >= 2 && epochExhausted(epoch) {
		var err error
		if spare, err = c.allocate(ctx); err != nil {
			return noProducerID, noProducerEpoch, err
		}
	}
	newID := func() (int64, error) {
		if spare < 0 {
			return 0, fmt.Errorf("%w: no producer id reserved", ErrConcurrentTransactions)
		}
		return spare, nil
	}
	c.mu.Lock()
	p, o, err := c.lookupLocked(id)
	if err != nil {
		c.mu.Unlock()
		return noProducerID, noProducerEpoch, err
	}
	m := o.txns[id]
	if m == nil {
		c.mu.Unlock()
		return noProducerID, noProducerEpoch, ErrInvalidProducerIDMapping
	}
	res, err := m.PrepareEnd(pid, epoch, commit, fromClient, tv, c.now().UnixMilli(), newID)
	if err != nil {
		if ps, ok := m.PendingState(); ok && ps == PrepareEpochFence {
			m.Abandon() // the fence's abort cannot go ahead: unblock the id
		}
	}
	cepoch := o.epoch
	c.mu.Unlock()
	if err != nil {
		return noProducerID, noProducerEpoch, err
	}
	if res.Done {
		return res.ProducerID, res.Epoch, nil
	}
	var job markerJob
	err = c.write(ctx, p, cepoch, m, res.Transit, func() { job = c.markerJobLocked(p, cepoch, m) })
	if err != nil {
		return noProducerID, noProducerEpoch, err
	}
	c.startMarkers(job)
	return res.ProducerID, res.Epoch, nil
}

// abortTimedOut aborts ongoing transactions past their timeout: fence the
// producer's epoch, then abort under it (Kafka's abortTimedOutTransactions).
func (c *Coordinator) abortTimedOut() {
	nowMs := c.now().UnixMilli()
	type victim struct {
		id  string
		pid int64
	}
	var vs []victim
	c.mu.Lock()
	for _, o := range c.mu.owned {
		if o.loading {
			continue
		}
		for id, m := range o.txns {
			if m.State == Ongoing && m.pending == nil && m.StartMs+int64(m.TimeoutMs) < nowMs {
				vs = append(vs, victim{id, m.ProducerID})
			}
		}
	}
	c.mu.Unlock()
	for _, v := range vs {
		c.mu.Lock()
		_, o, err := c.lookupLocked(v.id)
		var m *Metadata
		var t Transit
		if err == nil {
			m = o.txns[v.id]
		}
		if m == nil || m.ProducerID != v.pid || m.pending != nil || m.State != Ongoing {
			c.mu.Unlock()
			continue
		}
		t, err = m.PrepareFence()
		tv := m.TV
		c.mu.Unlock()
		if err != nil {
			c.logger.Warn("fencing a timed-out transaction", "id", v.id, "err", err)
			continue
		}
		c.logger.Info("aborting a timed-out transaction", "id", v.id, "producer", t.ProducerID, "epoch", t.Epoch)
		if _, _, err := c.endTxn(c.ctx, v.id, t.ProducerID, t.Epoch, false, false, tv); err != nil {
			c.logger.Warn("aborting a timed-out transaction", "id", v.id, "err", err)
		}
	}
}

// expireIDs removes transactional ids idle for
// transactional.id.expiration.ms (a tombstone in the log).
func (c *Coordinator) expireIDs() {
	nowMs := c.now().UnixMilli()
	type dead struct {
		p     int32
		epoch ids.LeaderEpoch
		m     *Metadata
		t     Transit
	}
	var ds []dead
	c.mu.Lock()
	for p, o := range c.mu.owned {
		if o.loading {
			continue
		}
		for _, m := range o.txns {
			if m.State.expirable() && m.pending == nil && m.UpdateMs+c.cfg.IDExpiration.Milliseconds() <= nowMs {
				if t, err := m.PrepareDead(); err == nil {
					ds = append(ds, dead{p, o.epoch, m, t})
				}
			}
		}
	}
	c.mu.Unlock()
	for _, d := range ds {
		if err := c.write(c.ctx, d.p, d.epoch, d.m, d.t, nil); err != nil {
			c.logger.Debug("expiring a transactional id", "id", d.m.ID, "err", err)
		}
	}
}

// Description is one transaction as DescribeTransactions shows it.
type Description struct {
	ID         string
	State      State
	ProducerID int64
	Epoch      int16
	TimeoutMs  int32
	StartMs    int64
	Partitions []TopicPartition
}

// Describe describes id (DescribeTransactions).
func (c *Coordinator) Describe(id string) (Description, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, o, err := c.lookupLocked(id)
	if err != nil {
		return Description{ID: id}, err
	}
	m := o.txns[id]
	if m == nil || m.State == Dead {
		return Description{ID: id}, ErrTransactionalIDNotFound
	}
	return Description{
		ID: id, State: m.State, ProducerID: m.ProducerID, Epoch: m.Epoch, TimeoutMs: m.TimeoutMs,
		StartMs: m.StartMs, Partitions: sortedPartitions(m.Partitions),
	}, nil
}

// Listing is one transaction as ListTransactions shows it.
type Listing struct {
	ID         string
	ProducerID int64
	State      State
}

// List lists the transactions this node coordinates, filtered by state,
// producer id and minimum running time (ms; -1 none), as Kafka does.
func (c *Coordinator) List(states []State, pids []int64, minDurationMs int64) []Listing {
	nowMs := c.now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Listing
	for _, o := range c.mu.owned {
		if o.loading {
			continue
		}
		for id, m := range o.txns {
			if m.State == Dead {
				continue
			}
			if len(states) > 0 && !containsState(states, m.State) {
				continue
			}
			if len(pids) > 0 && !containsPID(pids, m.ProducerID) {
				continue
			}
			// As Kafka: a transaction never started (start -1) passes.
			if minDurationMs >= 0 && nowMs-m.StartMs <= minDurationMs {
				continue
			}
			out = append(out, Listing{ID: id, ProducerID: m.ProducerID, State: m.State})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Loading reports whether some owned partition is still loading
// (ListTransactions answers COORDINATOR_LOAD_IN_PROGRESS then).
func (c *Coordinator) Loading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.mu.owned {
		if o.loading {
			return true
		}
	}
	return false
}

func containsState(ss []State, s State) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func containsPID(ps []int64, p int64) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}
