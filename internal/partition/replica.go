package partition

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/metrics"
)

// Role is what this node does for a partition.
type Role int8

const (
	// RoleLeader takes produce requests and serves consumers and followers.
	// A partition opened outside a Registry starts as a leader of itself.
	RoleLeader Role = iota
	// RoleFollower copies the leader's log and serves nobody.
	RoleFollower
)

func (r Role) String() string {
	if r == RoleLeader {
		return "leader"
	}
	return "follower"
}

// DefaultReplicaLagTimeMax is replica.lag.time.max.ms, from config.Default.
var DefaultReplicaLagTimeMax = config.Default().ReplicaLagTimeMax

// Errors of replication (defined in errcode, which gives their Kafka codes).
var (
	// ErrNotLeader: this node does not lead the partition (NOT_LEADER_OR_FOLLOWER).
	ErrNotLeader = errcode.ErrNotLeader
	// ErrNotFollower: a follower append for a partition this node no longer
	// follows at that leader epoch; the fetcher drops the response.
	ErrNotFollower = errcode.ErrNotFollower
	// ErrClosed: the partition closed while a caller waited on it.
	ErrClosed = errcode.ErrPartitionClosed
)

// AlterISRFunc asks the metadata authority to change a partition's ISR
// (controller.Controller.AlterISR); it returns once the change is applied
// to this node's image, or fails.
type AlterISRFunc func(ctx context.Context, topic string, partition int32, leaderEpoch ids.LeaderEpoch, isr []ids.NodeID) error

// isrChange is an ISR proposal in flight. While one is, HW counts the
// union of the current and proposed ISR (Kafka's "maximal ISR"), and no
// other change is proposed.
type isrChange struct {
	epoch ids.LeaderEpoch
	isr   []ids.NodeID
}

// follower is what the leader knows of one other replica, from its
// fetches (Kafka's Replica state).
type follower struct {
	leo                ids.Offset // its log end offset = last fetch offset; -1 unknown
	lastFetchTime      time.Time  // when it last fetched
	lastFetchLeaderLEO ids.Offset // our log end offset at that fetch
	lastCaughtUp       time.Time  // last time it had everything we had
}

// IsLeader reports whether this node leads the partition.
func (p *Partition) IsLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.role == RoleLeader
}

// Role returns this node's role, the leader's id (-1 unknown) and the
// leader epoch.
func (p *Partition) Role() (role Role, leader ids.NodeID, epoch ids.LeaderEpoch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.role, p.mu.leaderID, p.mu.leaderEpoch
}

// ISR returns the in-sync replicas as this node last applied them (nil for
// a partition opened outside a Registry).
func (p *Partition) ISR() []ids.NodeID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.mu.isr)
}

// WaitDurable blocks until offset is on this node's disk (under the
// sync-on-ack policy; otherwise it returns at once): what acks=1 waits for.
func (p *Partition) WaitDurable(ctx context.Context, offset ids.Offset) error {
	if !p.Config().Flush.SyncOnAck() {
		return nil
	}
	w := NewWaiter(BoundLogEnd) // woken by syncs, whatever its bound
	p.mu.Lock()
	p.mu.syncWaiters[w] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.mu.syncWaiters, w)
		p.mu.Unlock()
	}()
	for {
		if p.log.FlushedOffset() > offset {
			return nil
		}
		p.mu.Lock()
		ferr := p.mu.flushErr
		p.mu.Unlock()
		if ferr != nil {
			return ferr
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

// ownVisibleEndLocked is the part of our log that counts toward the high
// watermark: all of it, or under sync-on-ack only what is on disk, so that
// an acknowledged write is durable on the leader too.
func (p *Partition) ownVisibleEndLocked() ids.Offset {
	leo := p.log.LogEndOffset()
	if p.mu.cfg.Flush.SyncOnAck() {
		leo = min(leo, p.log.FlushedOffset())
	}
	return leo
}

// maximalISRLocked is the ISR the high watermark is computed over: the
// applied ISR plus any replica a pending change adds.
func (p *Partition) maximalISRLocked() []ids.NodeID {
	if p.mu.pendingISR == nil {
		return p.mu.isr
	}
	out := slices.Clone(p.mu.isr)
	for _, id := range p.mu.pendingISR.isr {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// maybeAdvanceHWLocked applies the HW rule on the leader: the high
// watermark is the smallest log end offset of the (maximal) ISR, our own
// counting only up to what is durable under sync-on-ack. A member that
// has not fetched since this node became leader holds it back. The HW
// never moves back.
func (p *Partition) maybeAdvanceHWLocked() {
	if p.mu.role != RoleLeader {
		return
	}
	hw := p.ownVisibleEndLocked()
	for _, id := range p.maximalISRLocked() {
		if id == p.nodeID {
			continue
		}
		f := p.mu.followers[id]
		if f == nil || f.leo < 0 {
			return
		}
		hw = min(hw, f.leo)
	}
	if hw > p.mu.hw {
		p.mu.hw = hw
		p.wakeHWLocked()
	}
}

// applyMetadata brings the partition's role, epoch, replicas and ISR in
// line with the image. It reports whether the role, leader or epoch
// changed. self is this node's id; opening is set for a partition just
// opened.
func (p *Partition) applyMetadata(pm metadata.Partition, self ids.NodeID, now time.Time, opening bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	role := RoleFollower
	if pm.Leader == self {
		role = RoleLeader
	}
	changed := role != p.mu.role || pm.Leader != p.mu.leaderID || pm.LeaderEpoch != p.mu.leaderEpoch
	p.mu.replicas = slices.Clone(pm.Replicas)
	p.mu.isr = slices.Clone(pm.ISR)
	if !changed {
		if role == RoleLeader {
			p.syncFollowersLocked(pm.Replicas, self)
		}
		p.maybeAdvanceHWLocked()
		return false
	}
	prevRole := p.mu.role
	p.mu.role, p.mu.leaderID, p.mu.leaderEpoch = role, pm.Leader, pm.LeaderEpoch
	p.mu.pendingISR = nil // an in-flight change fails on the stale epoch
	if role == RoleLeader {
		// Kafka assigns the new epoch at the log end here; the log's
		// epoch cache records it with the first append, and
		// EndOffsetForEpoch answers as if it already had.
		p.mu.epochStart = p.log.LogEndOffset()
		p.mu.followers = make(map[ids.NodeID]*follower, len(pm.Replicas))
		for _, id := range pm.Replicas {
			if id == self {
				continue
			}
			f := &follower{leo: -1, lastFetchLeaderLEO: -1}
			if slices.Contains(pm.ISR, id) {
				// Give in-sync replicas a full lag period to fetch from us.
				f.lastCaughtUp = now
			}
			p.mu.followers[id] = f
		}
		p.maybeAdvanceHWLocked()
	} else {
		p.mu.followers = nil
	}
	level := slog.LevelInfo
	if opening {
		level = slog.LevelDebug // one line per partition at start-up is noise
	}
	p.logger.Log(context.Background(), level, "partition role change", "topic", p.Topic, "partition", p.Index,
		"from", prevRole.String(), "to", role.String(), "leader", pm.Leader, "leader_epoch", pm.LeaderEpoch)
	// Produce waiters learn they lost leadership; fetch waiters re-read.
	for b := range p.mu.waiters {
		wakeAll(p.mu.waiters[b])
	}
	return true
}

// syncFollowersLocked follows a replica-set change under a leader that
// stays (a reassignment): new replicas are tracked from their first fetch,
// removed ones forgotten.
func (p *Partition) syncFollowersLocked(replicas []ids.NodeID, self ids.NodeID) {
	for _, id := range replicas {
		if id != self && p.mu.followers[id] == nil {
			p.mu.followers[id] = &follower{leo: -1, lastFetchLeaderLEO: -1}
		}
	}
	for id := range p.mu.followers {
		if !slices.Contains(replicas, id) {
			delete(p.mu.followers, id)
		}
	}
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (and the leader's
// diverging-epoch check) for the largest epoch <= epoch: that epoch and
// the offset where the next one starts. The log's epoch cache learns a
// leader epoch only with its first batch, while Kafka's leader records it
// at the log end on election; this answers as that cache would.
func (p *Partition) EndOffsetForEpoch(epoch ids.LeaderEpoch) (ids.LeaderEpoch, ids.Offset) {
	p.mu.Lock()
	cur, role := p.mu.leaderEpoch, p.mu.role
	p.mu.Unlock()
	latest := p.log.LatestEpoch()
	if role != RoleLeader || epoch < 0 || latest >= cur || epoch < latest {
		return p.log.EndOffsetForEpoch(epoch)
	}
	leo := p.log.LogEndOffset()
	switch {
	case epoch > cur:
		return -1, -1
	case epoch == cur || latest < 0:
		return epoch, leo
	default: // latest <= epoch < cur: the current epoch starts at the log end
		return latest, leo
	}
}

// FollowerFetch records that replica fetched from offset at, which is
// its log end offset (everything below is on its disk under sync-on-ack:
// followers sync before fetching again). It updates the replica's
// caught-up time as Kafka does, may propose adding it back to the ISR, and
// advances the high watermark. It fails with ErrNotLeader when this node
// does not lead. Fetch offsets above our log end are not recorded: such a
// follower is about to truncate.
func (p *Partition) FollowerFetch(replica ids.NodeID, at ids.Offset, now time.Time) error {
	fetchOffset := at
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.role != RoleLeader {
		return fmt.Errorf("partition %s-%d: %w", p.Topic, p.Index, ErrNotLeader)
	}
	f := p.mu.followers[replica]
	leo := p.log.LogEndOffset()
	if f == nil || fetchOffset > leo {
		return nil // not a replica of ours (yet), or diverged
	}
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = now
	case fetchOffset >= f.lastFetchLeaderLEO && f.lastFetchLeaderLEO >= 0:
		// It now has what we had at its previous fetch.
		if f.lastFetchTime.After(f.lastCaughtUp) {
			f.lastCaughtUp = f.lastFetchTime
		}
	}
	f.leo, f.lastFetchLeaderLEO, f.lastFetchTime = fetchOffset, leo, now
	if !slices.Contains(p.mu.isr, replica) && p.mu.pendingISR == nil &&
		fetchOffset >= p.mu.hw && fetchOffset >= p.mu.epochStart {
		p.proposeISRLocked(append(slices.Clone(p.mu.isr), replica), "expand", replica)
	}
	p.maybeAdvanceHWLocked()
	return nil
}

// FollowerLEO is what the leader knows of a replica's log end offset (-1
// unknown or not leading), for tests and metrics.
func (p *Partition) FollowerLEO(replica ids.NodeID) ids.Offset {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.mu.followers[replica]; f != nil {
		return f.leo
	}
	return -1
}

// MaybeShrinkISR removes from the ISR every follower that has not caught
// up with our log end offset for longer than replica.lag.time.max.ms (a
// follower at our log end is in sync however long ago it fetched: an idle
// partition must not shrink; a dead broker is fenced by the controller).
func (p *Partition) MaybeShrinkISR(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.role != RoleLeader || p.mu.pendingISR != nil || p.alterISR == nil {
		return
	}
	leo := p.log.LogEndOffset()
	var out []ids.NodeID
	for _, id := range p.mu.isr {
		f := p.mu.followers[id]
		if id == p.nodeID || f == nil {
			continue
		}
		if f.leo >= leo {
			continue
		}
		if now.Sub(f.lastCaughtUp) > p.lagMax {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return
	}
	isr := slices.DeleteFunc(slices.Clone(p.mu.isr), func(id ids.NodeID) bool { return slices.Contains(out, id) })
	p.proposeISRLocked(isr, "shrink", out...)
}

// proposeISRLocked sends an ISR change to the controller on a background
// goroutine (one at a time per partition). The controller applies it to
// the image, and Registry.Apply brings it here.
func (p *Partition) proposeISRLocked(isr []ids.NodeID, why string, replicas ...ids.NodeID) {
	if p.alterISR == nil {
		return
	}
	ch := &isrChange{epoch: p.mu.leaderEpoch, isr: isr}
	p.mu.pendingISR = ch
	p.logger.Info("proposing ISR change", "topic", p.Topic, "partition", p.Index, "change", why,
		"replicas", replicas, "isr", isr, "leader_epoch", ch.epoch)
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		err := p.alterISR(p.bgCtx, p.Topic, p.Index, ch.epoch, ch.isr)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.mu.pendingISR == ch {
			p.mu.pendingISR = nil
		}
		if err != nil {
			p.logger.Warn("ISR change refused", "topic", p.Topic, "partition", p.Index, "isr", ch.isr, "leader_epoch", ch.epoch, "err", err)
			return
		}
		if why == "shrink" {
			metrics.IsrShrinks.Inc()
		} else {
			metrics.IsrExpands.Inc()
		}
		// The new ISR may let the high watermark move.
		p.maybeAdvanceHWLocked()
	}()
}
