package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
)

// writeTimeout bounds how long a write to __consumer_offsets may take to
// become durable before its request is failed (Kafka's
// offsets.commit.timeout.ms).
const writeTimeout = 5 * time.Second

// Coordinator drives a Machine: it is the only goroutine touching it, owns
// its timer, performs its writes and loads partitions this node leads.
type Coordinator struct {
	nodeID ids.NodeID
	parts  *partition.Registry
	logger *slog.Logger
	now    func() time.Time

	m       *Machine
	events  chan func()
	images  chan *metadata.Image // latest image, one slot
	waiters map[ReplyID]chan any // driver goroutine only
	nextID  ReplyID
	epochs  map[int32]ids.LeaderEpoch // leader epoch each owned partition was loaded at; driver only
	// inflight are each partition's writes not yet durable, in append
	// order; driver only. Writes complete in this order, whatever order
	// their waits end in (see writeVisible).
	inflight map[int32][]inflightWrite

	ctx    context.Context // cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   sync.Once
}

// NewCoordinator returns a coordinator for node nodeID; Start runs it.
func NewCoordinator(cfg Config, nodeID ids.NodeID, parts *partition.Registry, logger *slog.Logger) *Coordinator {
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{
		nodeID: nodeID, parts: parts, logger: logger, now: time.Now,
		m:       NewMachine(cfg),
		events:  make(chan func(), 64),
		images:  make(chan *metadata.Image, 1),
		waiters: map[ReplyID]chan any{},
		epochs:  map[int32]ids.LeaderEpoch{},

		inflight: map[int32][]inflightWrite{},
		ctx:      ctx, cancel: cancel,
	}
}

// Start runs the driver goroutine.
func (c *Coordinator) Start() {
	c.wg.Add(1)
	go c.run()
}

// Stop ends the driver and every write and load in flight; callers still
// waiting get ErrCoordinatorNotAvailable.
func (c *Coordinator) Stop() {
	c.stop.Do(func() {
		c.cancel()
		c.wg.Wait()
	})
}

// OnImage tells the coordinator about a new metadata image; it never
// blocks, so it may be called from a controller subscriber. Leadership of
// __consumer_offsets partitions decides which groups this node serves.
func (c *Coordinator) OnImage(im *metadata.Image) {
	for {
		select {
		case c.images <- im:
			return
		default:
		}
		select {
		case <-c.images: // drop the stale one
		default:
		}
	}
}

// PartitionFor is the __consumer_offsets partition of a group.
func (c *Coordinator) PartitionFor(groupID string) int32 { return c.m.PartitionFor(groupID) }

func (c *Coordinator) run() {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case ev := <-c.events:
			ev()
		case im := <-c.images:
			c.applyImage(im)
		case <-timer.C:
			c.m.Tick(c.now())
		}
		c.apply(c.m.Take())
		timer.Stop()
		if d := c.m.NextDeadline(); !d.IsZero() {
			timer.Reset(max(d.Sub(c.now()), 0))
		}
	}
}

// apply carries out effects: answers waiting callers and starts writes.
func (c *Coordinator) apply(e Effects) {
	for len(e.Replies) > 0 || len(e.Writes) > 0 {
		for _, r := range e.Replies {
			if ch, ok := c.waiters[r.To]; ok {
				delete(c.waiters, r.To)
				ch <- r.Value
			}
		}
		for _, w := range e.Writes {
			if err := c.startWrite(w); err != nil {
				c.logger.Warn("write to "+OffsetsTopic+" failed", "partition", w.Partition, "err", err)
				c.m.WriteDone(c.now(), w.Token, err)
			}
		}
		e = c.m.Take()
	}
}

// inflightWrite is a write appended to a partition and not yet durable,
// or (token 0) a barrier: after runs once every write queued before it
// has completed.
type inflightWrite struct {
	last  ids.Offset
	token uint64
	after func()
}

// startWrite appends w's records as one batch and reports durability back
// to the driver from a goroutine.
func (c *Coordinator) startWrite(w Write) error {
	p := c.parts.Get(OffsetsTopic, w.Partition)
	if p == nil {
		return fmt.Errorf("%s-%d is not hosted here", OffsetsTopic, w.Partition)
	}
	recs := make([]record.Record, len(w.Records))
	for i, r := range w.Records {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
	}
	opts := record.BatchOptions{FirstTimestamp: c.now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	if t := w.Txn; t != nil {
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = t.ProducerID, t.ProducerEpoch, t.Sequence
		opts.Transactional, opts.Control = true, t.Control
	}
	batch, err := record.AppendBatch(nil, opts, recs)
	if err != nil {
		return err
	}
	var guard uint64
	appendBatch := p.AppendVerified
	if w.Txn != nil {
		guard = w.Txn.Guard
		if w.Txn.Added {
			appendBatch = p.AppendAdded
		}
	}
	res, err := appendBatch(batch, partition.FromCoordinator, guard)
	if err != nil {
		return err
	}
	c.inflight[w.Partition] = append(c.inflight[w.Partition], inflightWrite{last: res.LastOffset, token: w.Token})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
		err := p.WaitVisible(ctx, res.LastOffset)
		cancel()
		c.post(func() { c.writeVisible(w.Partition, w.Token, res.LastOffset, err) })
	}()
	return nil
}

// writeVisible completes the writes of partition p in append order. The
// waits of two writes end in any order, but a write's effects (a commit
// recorded in memory) must apply in log order, or a commit of offset 47
// finishing after one of 50 leaves 47 as the group's committed offset
// until the next load. A durable write at last proves every write before
// it durable (the high watermark passed them too), so they complete
// first; a failed write completes alone.
func (c *Coordinator) writeVisible(p int32, token uint64, last ids.Offset, err error) {
	q := c.inflight[p]
	if !slices.ContainsFunc(q, func(w inflightWrite) bool { return w.token == token }) {
		// Completed already (by a later write's wait, or failed when the
		// leadership ended): a wait of an earlier leadership must not
		// complete writes of this one, whose offsets may be the same.
		return
	}
	if err != nil {
		for i, w := range q {
			if w.token == token {
				q = append(q[:i:i], q[i+1:]...)
				c.m.WriteDone(c.now(), token, err)
				break
			}
		}
	} else {
		for len(q) > 0 && (q[0].token == 0 || q[0].last <= last) {
			w := q[0]
			q = q[1:]
			if w.token == 0 {
				w.after()
			} else {
				c.m.WriteDone(c.now(), w.token, nil)
			}
		}
	}
	// Barriers whose writes have all completed run now.
	for len(q) > 0 && q[0].token == 0 {
		q[0].after()
		q = q[1:]
	}
	if len(q) == 0 {
		delete(c.inflight, p)
	} else {
		c.inflight[p] = q
	}
}

// failInflight completes every write of partition p still in flight with
// err (its leadership ended: an offset of the old leadership may be reused
// by the next one, so no later wait may complete them), and runs its
// barriers.
func (c *Coordinator) failInflight(p int32, err error) {
	q := c.inflight[p]
	delete(c.inflight, p)
	for _, w := range q {
		if w.token == 0 {
			w.after()
		} else {
			c.m.WriteDone(c.now(), w.token, err)
		}
	}
}

// afterInflight runs fn once every write of partition p appended so far
// has completed: at once when there are none.
func (c *Coordinator) afterInflight(p int32, fn func()) {
	if len(c.inflight[p]) == 0 {
		fn()
		return
	}
	c.inflight[p] = append(c.inflight[p], inflightWrite{after: fn})
}

// post queues fn for the driver unless the coordinator is stopping.
func (c *Coordinator) post(fn func()) bool {
	select {
	case c.events <- fn:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// applyImage loads the partitions this node now leads and drops those it
// no longer leads.
func (c *Coordinator) applyImage(im *metadata.Image) {
	c.m.SetTopics(c.now(), topicMetas(im))
	t := im.Topics[OffsetsTopic]
	lead := map[int32]ids.LeaderEpoch{} // partition -> leader epoch
	if t != nil {
		for _, p := range t.Partitions {
			if p.Leader == c.nodeID && c.parts.Get(OffsetsTopic, p.Index) != nil {
				lead[p.Index] = p.LeaderEpoch
			}
		}
	}
	var loading, unloaded []int32
	for p := int32(0); p < c.m.cfg.Partitions; p++ {
		epoch, leads := lead[p]
		if c.m.Owns(p) && (!leads || epoch != c.epochs[p]) {
			// Lost the leadership, or lost and regained it between two
			// images we saw: another leader may have written meanwhile.
			c.m.Unload(p)
			c.failInflight(p, ErrNotCoordinator)
			delete(c.epochs, p)
			unloaded = append(unloaded, p)
		}
		if leads && !c.m.Owns(p) {
			c.m.BeginLoad(p)
			c.epochs[p] = epoch
			c.startLoad(c.parts.Get(OffsetsTopic, p), p, epoch)
			loading = append(loading, p)
		}
	}
	if len(loading) > 0 || len(unloaded) > 0 {
		c.logger.Info("consumer-group partitions changed", "loading", loading, "unloaded", unloaded)
	}
}

func (c *Coordinator) startLoad(part *partition.Partition, p int32, epoch ids.LeaderEpoch) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		start := time.Now()
		l, n, err := load(c.ctx, part, p)
		if err != nil {
			if c.ctx.Err() == nil {
				c.logger.Error("loading consumer groups failed; the partition stays loading", "partition", p, "err", err)
			}
			return
		}
		c.post(func() {
			if c.epochs[p] != epoch || !c.m.Owns(p) {
				return // superseded by a newer leadership
			}
			if err := c.m.CompleteLoad(c.now(), p, l); err != nil {
				c.logger.Error("consumer groups left out of the load", "partition", p, "err", err)
			}
			c.logger.Debug("loaded consumer groups", "partition", p, "records", n, "took", time.Since(start))
		})
	}()
}

// load replays a partition's log up to its end, as Kafka's loader does: a
// new leader's high watermark may still lag records that are committed.
func load(ctx context.Context, part *partition.Partition, p int32) (*Loader, int, error) {
	l := NewLoader(p)
	n := 0
	off, end := part.LogStartOffset(), part.LogEndOffset()
	var buf []byte
	for off < end {
		if ctx.Err() != nil {
			return nil, n, ctx.Err()
		}
		rr, _, err := part.Read(off, 1<<20, partition.BoundLogEnd, true)
		if err != nil {
			return nil, n, fmt.Errorf("read %s-%d at %d: %w", OffsetsTopic, p, off, err)
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
				if !h.IsTransactional() {
					return nil
				}
				return record.Records(batch, func(r record.Record) error {
					if commit, ok := IsCommitMarker(r.Key); ok {
						l.EndTxn(h.ProducerID, commit)
					}
					return nil
				})
			}
			if h.IsTransactional() {
				return record.Records(batch, func(r record.Record) error {
					if r.Key == nil {
						return nil
					}
					n++
					if err := l.ApplyTxn(h.ProducerID, append([]byte(nil), r.Key...), r.Value); err != nil {
						return fmt.Errorf("%s-%d offset %d: %w", OffsetsTopic, p, h.BaseOffset+int64(r.OffsetDelta), err)
					}
					return nil
				})
			}
			return record.Records(batch, func(r record.Record) error {
				n++
				var value []byte
				if r.Value != nil {
					value = append([]byte{}, r.Value...)
				}
				if r.Key == nil {
					return nil
				}
				if err := l.Apply(append([]byte(nil), r.Key...), value); err != nil {
					return fmt.Errorf("%s-%d offset %d: %w", OffsetsTopic, p, h.BaseOffset+int64(r.OffsetDelta), err)
				}
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
	return l, n, nil
}

// errPastLoadEnd stops a load at a batch appended since it began (batches
// never straddle the log end it started with).
var errPastLoadEnd = errors.New("past the end of the load")

// call runs fn on the driver with a fresh ReplyID and waits for the Reply
// sent to it.
func (c *Coordinator) call(ctx context.Context, fn func(now time.Time, to ReplyID)) (any, error) {
	return c.begin(fn)(ctx)
}

// begin queues fn for the driver with a fresh ReplyID now and returns the
// wait for the Reply sent to it. Requests of one connection begin in
// arrival order, so their effects (commits) are applied in that order,
// however their waits are scheduled.
func (c *Coordinator) begin(fn func(now time.Time, to ReplyID)) func(ctx context.Context) (any, error) {
	ch := make(chan any, 1)
	ok := c.post(func() {
		c.nextID++
		id := c.nextID
		c.waiters[id] = ch
		fn(c.now(), id)
	})
	return func(ctx context.Context) (any, error) {
		if !ok {
			return nil, ErrCoordinatorNotAvailable
		}
		select {
		case v := <-ch:
			return v, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, ctx.Err())
		case <-c.ctx.Done():
			return nil, ErrCoordinatorNotAvailable
		}
	}
}

// do runs fn on the driver and waits for it to finish.
func (c *Coordinator) do(ctx context.Context, fn func(now time.Time)) error {
	done := make(chan struct{})
	if !c.post(func() { fn(c.now()); close(done) }) {
		return ErrCoordinatorNotAvailable
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, ctx.Err())
	case <-c.ctx.Done():
		return ErrCoordinatorNotAvailable
	}
}

// Join handles a JoinGroup, blocking until the rebalance answers it.
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) *JoinResult {
	v, err := c.call(ctx, func(now time.Time, to ReplyID) { c.m.Join(now, to, req) })
	if err != nil {
		return joinError(req.MemberID, err)
	}
	return v.(*JoinResult)
}

// Sync handles a SyncGroup, blocking until the leader's assignment is
// stored.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) *SyncResult {
	v, err := c.call(ctx, func(now time.Time, to ReplyID) { c.m.Sync(now, to, req) })
	if err != nil {
		return &SyncResult{Err: err}
	}
	return v.(*SyncResult)
}

// Heartbeat handles a Heartbeat.
func (c *Coordinator) Heartbeat(ctx context.Context, req HeartbeatRequest) error {
	var res error
	if err := c.do(ctx, func(now time.Time) { res = c.m.Heartbeat(now, req) }); err != nil {
		return err
	}
	return res
}

// Leave handles a LeaveGroup.
func (c *Coordinator) Leave(ctx context.Context, groupID string, members []LeaveMember) ([]error, error) {
	var errs []error
	var gerr error
	if err := c.do(ctx, func(now time.Time) { errs, gerr = c.m.Leave(now, groupID, members) }); err != nil {
		return nil, err
	}
	return errs, gerr
}

// Commit handles an OffsetCommit, blocking until the offsets are durable.
func (c *Coordinator) Commit(ctx context.Context, req CommitRequest) *CommitResult {
	return c.BeginCommit(req)(ctx)
}

// BeginCommit queues an OffsetCommit now (in the connection's order, see
// begin) and returns the wait for its answer, which comes once the
// offsets are durable.
func (c *Coordinator) BeginCommit(req CommitRequest) func(ctx context.Context) *CommitResult {
	wait := c.begin(func(now time.Time, to ReplyID) { c.m.Commit(now, to, req) })
	return func(ctx context.Context) *CommitResult {
		v, err := wait(ctx)
		if err != nil {
			return &CommitResult{Err: err}
		}
		return v.(*CommitResult)
	}
}

// FetchOffsets returns committed offsets (all of the group's when tps is
// nil).
func (c *Coordinator) FetchOffsets(ctx context.Context, groupID string, tps []TopicPartition) (map[TopicPartition]Offset, error) {
	return c.BeginFetchOffsets(groupID, tps, nil)(ctx)
}

// FetchMember is the member id and epoch an OffsetFetch v9+ names, checked
// against a KIP-848 group.
type FetchMember struct {
	ID    *string
	Epoch int32
}

// BeginFetchOffsets queues an OffsetFetch now and returns the wait for its
// answer. The answer comes once every write to the group's partition
// appended before it has completed, as Kafka's coordinator orders a
// stable fetch after the writes before it (and answers one request of a
// connection at a time): a fetch sent after commits, asynchronous ones
// included, sees them. The wait is bounded by the writes' own timeout.
// member, when set, is validated first (STALE_MEMBER_EPOCH,
// UNKNOWN_MEMBER_ID).
func (c *Coordinator) BeginFetchOffsets(groupID string, tps []TopicPartition, member *FetchMember) func(ctx context.Context) (map[TopicPartition]Offset, error) {
	type answer struct {
		out map[TopicPartition]Offset
		err error
	}
	ch := make(chan answer, 1)
	ok := c.post(func() {
		c.afterInflight(c.m.PartitionFor(groupID), func() {
			if member != nil {
				if err := c.m.ValidateConsumerFetch(groupID, member.ID, member.Epoch); err != nil {
					ch <- answer{err: err}
					return
				}
			}
			out, err := c.m.FetchOffsets(groupID, tps)
			ch <- answer{out, err}
		})
	})
	return func(ctx context.Context) (map[TopicPartition]Offset, error) {
		if !ok {
			return nil, ErrCoordinatorNotAvailable
		}
		select {
		case a := <-ch:
			return a.out, a.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, ctx.Err())
		case <-c.ctx.Done():
			return nil, ErrCoordinatorNotAvailable
		}
	}
}

// DeleteOffsets handles an OffsetDelete.
func (c *Coordinator) DeleteOffsets(ctx context.Context, groupID string, tps []TopicPartition) *CommitResult {
	v, err := c.call(ctx, func(now time.Time, to ReplyID) { c.m.DeleteOffsets(now, to, groupID, tps) })
	if err != nil {
		return &CommitResult{Err: err}
	}
	return v.(*CommitResult)
}

// ListGroups lists groups, filtered by state and type.
func (c *Coordinator) ListGroups(ctx context.Context, states, types []string) ([]GroupListing, error) {
	var out []GroupListing
	var lerr error
	if err := c.do(ctx, func(time.Time) { out, lerr = c.m.ListGroups(states, types) }); err != nil {
		return nil, err
	}
	return out, lerr
}

// DescribeGroup describes one group.
func (c *Coordinator) DescribeGroup(ctx context.Context, groupID string) (GroupDescription, error) {
	var d GroupDescription
	var derr error
	if err := c.do(ctx, func(time.Time) { d, derr = c.m.DescribeGroup(groupID) }); err != nil {
		return GroupDescription{ID: groupID}, err
	}
	return d, derr
}

// DeleteGroup deletes an Empty group and its offsets.
func (c *Coordinator) DeleteGroup(ctx context.Context, groupID string) error {
	v, err := c.call(ctx, func(now time.Time, to ReplyID) { c.m.DeleteGroup(now, to, groupID) })
	if err != nil {
		return err
	}
	return v.(*DeleteResult).Err
}

// TxnCommit handles a TxnOffsetCommit, blocking until the offsets are
// durable (and pending until the transaction ends).
func (c *Coordinator) TxnCommit(ctx context.Context, req TxnCommitRequest) *CommitResult {
	v, err := c.call(ctx, func(now time.Time, to ReplyID) { c.m.TxnCommit(now, to, req) })
	if err != nil {
		return &CommitResult{Err: err}
	}
	return v.(*CommitResult)
}

// CompleteTxn writes producer pid's transaction marker (COMMIT when commit)
// to partition p of __consumer_offsets, for a WriteTxnMarkers request, and
// applies it to the producer's pending offsets; it returns once the marker
// is durable. This is how markers reach __consumer_offsets, as in Kafka 4
// (GroupCoordinator.completeTransaction): never by a plain append, which
// would leave the pending offsets behind.
func (c *Coordinator) CompleteTxn(ctx context.Context, p int32, pid int64, epoch int16, coordinatorEpoch int32, commit bool) error {
	v, err := c.call(ctx, func(now time.Time, to ReplyID) { c.m.CompleteTxn(now, to, p, pid, epoch, coordinatorEpoch, commit) })
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	return v.(error)
}

// PendingTxnOffsets reports which of tps (all when nil) of groupID have a
// transactional commit pending (OffsetFetch RequireStable, KIP-447).
func (c *Coordinator) PendingTxnOffsets(ctx context.Context, groupID string, tps []TopicPartition) (map[TopicPartition]bool, error) {
	var out map[TopicPartition]bool
	if err := c.do(ctx, func(time.Time) { out = c.m.HasPendingTxn(groupID, tps) }); err != nil {
		return nil, err
	}
	return out, nil
}

// ApplyTxnEnd makes pid's transactional offset commits on partition p
// visible (commit) or drops them (abort), once the transaction's marker is
// in p's log: Kafka's GroupCoordinator.onTransactionCompleted, called by
// WriteTxnMarkers after it appended the marker.
func (c *Coordinator) ApplyTxnEnd(ctx context.Context, p int32, pid int64, commit bool) error {
	var err error
	if derr := c.do(ctx, func(now time.Time) { err = c.m.ApplyTxnEnd(now, p, pid, commit) }); derr != nil {
		return derr
	}
	return err
}
