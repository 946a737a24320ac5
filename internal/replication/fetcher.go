package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metrics"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
)

// fetchVersion is the Fetch version followers speak: v12 is the first
// with LastFetchedEpoch and DivergingEpoch, and names topics, which keeps
// the fetcher independent of topic ids.
const fetchVersion = 12

// fetcher copies every partition this node follows from one leader.
type fetcher struct {
	m      *Manager
	leader ids.NodeID
	addr   string
	ctx    context.Context
	cancel context.CancelFunc

	mu struct {
		sync.Mutex
		parts map[partition.Key]assignment
		// gen counts assignments that added a partition or a leader
		// epoch; inflight is the connection of the fetch in flight (nil
		// when none); interrupted is set when assign closed it.
		gen         int
		inflight    *leaderConn
		interrupted bool
	}
	changed chan struct{} // cap 1: the assignment changed

	// Owned by the run goroutine.
	conn      *leaderConn
	stopClose func() bool                 // undoes the AfterFunc that closes conn on stop
	delayed   map[partition.Key]time.Time // partitions backing off after an error
}

func newFetcher(m *Manager, leader ids.NodeID, addr string) *fetcher {
	f := &fetcher{m: m, leader: leader, addr: addr, changed: make(chan struct{}, 1), delayed: map[partition.Key]time.Time{}}
	f.ctx, f.cancel = context.WithCancel(m.ctx)
	f.mu.parts = map[partition.Key]assignment{}
	return f
}

// assign replaces the partitions to copy.
//
// When it adds a partition (or a leader epoch) that the fetch in flight
// does not carry, and that fetch's response has not begun to arrive, it
// closes the fetch's connection: the leader parks a replica fetch for up
// to MaxWait while none of its partitions has new data, and a partition
// just assigned (a new topic, a new leader) must not wait that long for
// its first fetch, since acks=all producers wait on it. The run loop
// reconnects at once with the new assignment.
func (f *fetcher) assign(parts []assignment) {
	next := make(map[partition.Key]assignment, len(parts))
	for _, a := range parts {
		next[partition.Key{Topic: a.topic, Index: a.p.Index}] = a
	}
	f.mu.Lock()
	grew := false
	for k, a := range next {
		if old, ok := f.mu.parts[k]; !ok || old.epoch != a.epoch || old.p != a.p {
			grew = true
			break
		}
	}
	f.mu.parts = next
	if grew {
		f.mu.gen++
		// A response already arriving is not parked: let it finish (a
		// large catch-up read must not be thrown away by every change);
		// the next fetch carries the new partition.
		if in := f.mu.inflight; in != nil && !f.mu.interrupted && !in.answering.Load() {
			f.mu.interrupted = true
			in.Close()
		}
	}
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// stop ends the fetcher; the Manager's WaitGroup tracks its exit.
func (f *fetcher) stop() { f.cancel() }

// snapshot returns the assigned partitions in a stable order, and the
// assignment generation they belong to.
func (f *fetcher) snapshot() ([]assignment, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]assignment, 0, len(f.mu.parts))
	for _, a := range f.mu.parts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].topic < out[j].topic || out[i].topic == out[j].topic && out[i].p.Index < out[j].p.Index
	})
	return out, f.mu.gen
}

// beginFetch records the fetch about to be sent on f.conn for assignment
// generation gen; it reports false when a newer assignment has arrived
// since the snapshot, which the caller should fetch instead.
func (f *fetcher) beginFetch(gen int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.gen != gen {
		return false
	}
	f.mu.inflight, f.mu.interrupted = f.conn, false
	return true
}

// endFetch clears the fetch in flight and reports whether assign closed
// its connection.
func (f *fetcher) endFetch() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.inflight = nil
	return f.mu.interrupted
}

func (f *fetcher) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
	case <-t.C:
	}
}

func (f *fetcher) closeConn() {
	if f.conn != nil {
		f.stopClose()
		f.conn.Close()
		f.conn, f.stopClose = nil, nil
	}
}

func (f *fetcher) run() {
	defer f.m.wg.Done()
	defer f.closeConn()
	log := f.m.logger.With("leader", f.leader, "addr", f.addr)
	log.Debug("replica fetcher started")
	defer log.Debug("replica fetcher stopped")
	for f.ctx.Err() == nil {
		all, gen := f.snapshot()
		parts := f.ready(all)
		if len(parts) == 0 {
			f.waitForWork()
			continue
		}
		if f.conn == nil {
			c, err := dialLeader(f.ctx, f.addr, f.m.cfg.DialTimeout, "strom-replica-"+strconv.Itoa(int(f.m.cfg.NodeID)), f.m.cfg.TLS)
			if err != nil {
				level := slog.LevelDebug
				if errors.Is(err, errHandshake) {
					level = slog.LevelWarn // a certificate problem, not a node down
				}
				log.Log(f.ctx, level, "connecting to leader failed", "err", err)
				f.sleep(f.m.cfg.Backoff)
				continue
			}
			f.conn = c
			f.stopClose = context.AfterFunc(f.ctx, func() { c.Close() })
		}
		req := f.buildRequest(parts)
		if !f.beginFetch(gen) {
			continue
		}
		resp, err := f.conn.fetch(req, f.m.cfg.MaxWait+f.m.cfg.DialTimeout+10*time.Second)
		if f.endFetch() {
			// assign closed the connection for a new partition; a
			// response that made it through is still good.
			log.Debug("replica fetch interrupted by a new assignment")
			if err == nil && resp.ErrorCode == 0 {
				f.handle(resp, parts, log)
			}
			f.closeConn()
			continue
		}
		if err != nil {
			if f.ctx.Err() == nil {
				log.Warn("replica fetch failed", "err", err)
				f.sleep(f.m.cfg.Backoff)
			}
			f.closeConn()
			continue
		}
		if resp.ErrorCode != 0 {
			log.Warn("replica fetch refused", "err", kerr.ErrorForCode(resp.ErrorCode))
			f.sleep(f.m.cfg.Backoff)
			continue
		}
		f.handle(resp, parts, log)
	}
}

// ready drops the partitions still backing off after an error, and those
// that failed (a failed sync): the leader takes a fetch offset as what the
// follower has on disk, and a failed partition's log end is not, nor will
// a later sync make it so. It stays out until reopened; the leader's lag
// check then removes it from the ISR.
func (f *fetcher) ready(parts []assignment) []assignment {
	var now time.Time
	if len(f.delayed) > 0 {
		now = time.Now()
	}
	out := parts[:0]
	for _, a := range parts {
		if len(f.delayed) > 0 {
			k := partition.Key{Topic: a.topic, Index: a.p.Index}
			if until, ok := f.delayed[k]; ok && now.Before(until) {
				continue
			}
			delete(f.delayed, k)
		}
		if a.p.Failed() != nil {
			continue // after the backoff is forgotten: nothing to wake up for
		}
		out = append(out, a)
	}
	return out
}

// waitForWork blocks until the assignment changes, a delayed partition is
// due, or the fetcher stops.
func (f *fetcher) waitForWork() {
	var due <-chan time.Time
	if len(f.delayed) > 0 {
		t := time.NewTimer(f.m.cfg.Backoff)
		defer t.Stop()
		due = t.C
	}
	select {
	case <-f.ctx.Done():
	case <-f.changed:
	case <-due:
	}
}

// maxWait is how long the leader may park the next fetch: MaxWait, but no
// longer than until the first partition left out for its backoff is due,
// so that partition is not kept waiting behind idle ones. The backoff of a
// partition no longer assigned is forgotten here.
func (f *fetcher) maxWait() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	wait := f.m.cfg.MaxWait
	now := time.Now()
	for k, until := range f.delayed {
		if _, ok := f.mu.parts[k]; !ok {
			delete(f.delayed, k)
			continue
		}
		wait = min(wait, max(until.Sub(now), time.Millisecond))
	}
	return wait
}

func (f *fetcher) buildRequest(parts []assignment) *kmsg.FetchRequest {
	cfg := f.m.cfg
	req := kmsg.NewPtrFetchRequest()
	req.Version = fetchVersion
	req.ReplicaID = int32(cfg.NodeID)
	req.MaxWaitMillis = int32(f.maxWait() / time.Millisecond)
	req.MinBytes = cfg.MinBytes
	req.MaxBytes = cfg.MaxBytes
	req.SessionID, req.SessionEpoch = 0, -1
	for _, a := range parts {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != a.topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = a.topic, a.id
			req.Topics = append(req.Topics, rt)
		}
		rt := &req.Topics[len(req.Topics)-1]
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = a.p.Index
		rp.CurrentLeaderEpoch = int32(a.epoch)
		rp.FetchOffset = int64(a.p.LogEndOffset())
		rp.LastFetchedEpoch = int32(a.p.LatestEpoch())
		rp.LogStartOffset = int64(a.p.LogStartOffset())
		rp.PartitionMaxBytes = cfg.PartitionMaxBytes
		rt.Partitions = append(rt.Partitions, rp)
	}
	return req
}

// handle applies a response: appends, truncations, then one sync round
// per appended partition (in parallel), then the high watermarks.
func (f *fetcher) handle(resp *kmsg.FetchResponse, parts []assignment, log *slog.Logger) {
	byKey := make(map[partition.Key]assignment, len(parts))
	for _, a := range parts {
		byKey[partition.Key{Topic: a.topic, Index: a.p.Index}] = a
	}
	type appended struct {
		a  assignment
		hw ids.Offset
	}
	var done []appended
	for _, rt := range resp.Topics {
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			k := partition.Key{Topic: rt.Topic, Index: rp.Partition}
			a, ok := byKey[k]
			if !ok {
				continue
			}
			grew, err := f.handlePartition(a, rp)
			switch {
			case err == nil && grew:
				done = append(done, appended{a, ids.Offset(rp.HighWatermark)})
			case err == nil:
				if rp.HighWatermark >= 0 {
					a.p.UpdateFollowerHW(ids.Offset(rp.HighWatermark))
				}
			case errors.Is(err, partition.ErrNotFollower):
				// The role changed under us; the next Apply reassigns.
			case errors.Is(err, errRetry):
				log.Debug("leader cannot serve partition yet", "topic", a.topic, "partition", a.p.Index, "err", err)
				f.delayed[k] = time.Now().Add(f.m.cfg.Backoff)
			default:
				log.Warn("replicating partition failed", "topic", a.topic, "partition", a.p.Index, "err", err)
				f.delayed[k] = time.Now().Add(f.m.cfg.Backoff)
			}
		}
	}
	// Sync before the next fetch tells the leader our new log end
	// offset: the leader counts it toward the high watermark.
	errs := make([]error, len(done))
	var wg sync.WaitGroup
	for i, d := range done {
		if len(done) == 1 {
			errs[i] = d.a.p.Persist()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.a.p.Persist()
		}()
	}
	wg.Wait()
	for i, d := range done {
		if errs[i] != nil {
			log.Warn("syncing replicated partition failed", "topic", d.a.topic, "partition", d.a.p.Index, "err", errs[i])
			f.delayed[partition.Key{Topic: d.a.topic, Index: d.a.p.Index}] = time.Now().Add(f.m.cfg.Backoff)
			continue
		}
		if d.hw >= 0 {
			d.a.p.UpdateFollowerHW(d.hw)
		}
	}
}

// errRetry marks a partition error that only needs a backoff (leader
// change in progress); it is not logged as a failure.
var errRetry = errors.New("retry later")

// handlePartition applies one partition's answer. grew reports an append
// that needs a sync before the next fetch.
func (f *fetcher) handlePartition(a assignment, rp *kmsg.FetchResponseTopicPartition) (grew bool, err error) {
	p := a.p
	switch rp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		// Our log end is outside the leader's log, or the leader's epoch
		// history no longer reaches ours: start over from the leader's log
		// start (copying its log again is always correct, if slow).
		if rp.LogStartOffset < 0 {
			return false, fmt.Errorf("offset out of range without a log start offset")
		}
		return false, p.TruncateFullyAndStartAt(ids.Offset(rp.LogStartOffset), a.epoch)
	case kerr.NotLeaderForPartition.Code, kerr.FencedLeaderEpoch.Code, kerr.UnknownLeaderEpoch.Code,
		kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code:
		// Metadata is moving; a newer image will reassign us.
		return false, fmt.Errorf("%w: %v", errRetry, kerr.ErrorForCode(rp.ErrorCode))
	default:
		return false, kerr.ErrorForCode(rp.ErrorCode)
	}
	if rp.DivergingEpoch.Epoch >= 0 || rp.DivergingEpoch.EndOffset >= 0 {
		return false, p.TruncateTo(truncationOffset(p, ids.LeaderEpoch(rp.DivergingEpoch.Epoch), ids.Offset(rp.DivergingEpoch.EndOffset)), a.epoch)
	}
	if len(rp.RecordBatches) > 0 {
		n, err := record.SplitPartial(rp.RecordBatches, func([]byte, record.BatchHeader) error { return nil })
		if err != nil {
			return false, fmt.Errorf("records from leader: %w", err)
		}
		if n > 0 {
			if _, err := p.AppendAsFollower(rp.RecordBatches[:n], a.epoch); err != nil {
				return false, err
			}
			metrics.ReplicationBytesIn.Add(float64(n))
			grew = true
		}
	}
	return grew, p.MaybeRaiseLogStart(ids.Offset(rp.LogStartOffset))
}

// truncationOffset is where a follower cuts its log when the leader says
// its epoch leaderEpoch ends at leaderEnd (Kafka's
// AbstractFetcherThread.getTruncationOffset): if we know that epoch, cut
// at the smaller of the two ends; if not, cut at the end of our largest
// epoch below it, and the next fetch (carrying that epoch) finds the exact
// point.
func truncationOffset(p *partition.Partition, leaderEpoch ids.LeaderEpoch, leaderEnd ids.Offset) ids.Offset {
	leo := p.LogEndOffset()
	if leaderEpoch < 0 || leaderEnd < 0 {
		return min(leo, p.HighWatermark())
	}
	// On a follower this is its log's epoch history (should p lead by
	// now, TruncateTo refuses anyway).
	e, end := p.EndOffsetForEpoch(leaderEpoch)
	switch {
	case e < 0 || end < 0:
		return min(leaderEnd, leo)
	case e != leaderEpoch:
		return min(end, leo)
	default:
		return min(leaderEnd, end, leo)
	}
}
