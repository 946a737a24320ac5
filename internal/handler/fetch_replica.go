package handler

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// Replica fetches: Fetch requests from followers (ReplicaID >= 0 before
// v15, ReplicaState.ID >= 0 from v15), served by the partition leader
// through the same planner and long poll as consumers' (fetch.go).
//
// Unlike a consumer's, a follower's read is bounded by the log end offset,
// not the high watermark, and its long poll is woken by appends. Each fetch
// offset is the follower's log end (durable under sync-on-ack: followers
// sync before fetching again); the leader records it once per request
// (partition.FollowerFetch), which may add the follower back to the ISR and
// advance the high watermark. With LastFetchedEpoch (v12+) the leader
// checks the follower's log against its leader-epoch history and answers
// DivergingEpoch, with no records, when the follower has a tail the leader
// does not (KIP-320 / KIP-595): the follower truncates and fetches again.
// An OFFSET_OUT_OF_RANGE answer keeps the offsets, as the follower restarts
// at the leader's log start. Fetch sessions are not created for replicas:
// every replica fetch is a full one. The rules are in docs/replication.md.

// replicaID is the fetching broker's id, -1 for consumers.
func replicaID(req *kmsg.FetchRequest) ids.NodeID {
	if req.Version >= 15 {
		return ids.NodeID(req.ReplicaState.ID)
	}
	return ids.NodeID(req.ReplicaID)
}

// admitFollower does a follower's bookkeeping before the first read: for
// every partition led here at the epoch the follower knows, the
// diverging-epoch check, then the follower's position. A partition
// answered here (diverging epoch, an epoch history that no longer reaches
// the follower's, leadership lost meanwhile) keeps that answer, and the
// response goes out without waiting. Other errors are the reads' to
// answer.
func (f *fetchPlan) admitFollower(im *metadata.Image, now time.Time) {
	for i := range f.parts {
		sp := f.parts[i].sp
		if rp, answered := f.admitFollowerPartition(im, sp, now); answered {
			a := rp // on the heap only when kept
			sp.answer = &a
		}
	}
}

func (f *fetchPlan) admitFollowerPartition(im *metadata.Image, sp *sessionPart, now time.Time) (kmsg.FetchResponseTopicPartition, bool) {
	rp := newFetchPartition(sp.partition)
	p, code := f.leaderOf(im, sp, &rp)
	if code != 0 {
		return rp, false
	}
	o := p.Offsets()
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = int64(o.HighWatermark), int64(o.LastStable), int64(o.LogStart)
	if f.req.Version >= 12 && sp.lastFetchedEpoch >= 0 {
		de, end := p.EndOffsetForEpoch(sp.lastFetchedEpoch)
		switch {
		case de < 0 || end < 0:
			// Our history no longer reaches that epoch (Kafka answers the same).
			rp.ErrorCode = kerr.OffsetOutOfRange.Code
			return rp, true
		case de < sp.lastFetchedEpoch || end < sp.fetchOffset:
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = int32(de), int64(end)
			return rp, true
		}
	}
	if sp.fetchOffset < o.LogStart || sp.fetchOffset > o.LogEnd {
		return rp, false // out of range: the read answers it
	}
	if err := p.FollowerFetch(f.replica, sp.fetchOffset, now); err != nil {
		rp.ErrorCode = kerr.NotLeaderForPartition.Code
		rp.HighWatermark, rp.LastStableOffset = -1, -1
		return rp, true
	}
	return rp, false
}
