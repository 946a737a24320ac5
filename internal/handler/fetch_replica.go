package handler

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
)

// Replica fetches: Fetch requests from followers (ReplicaID >= 0 before
// v15, ReplicaState.ID >= 0 from v15), served by the partition leader.
//
// Unlike a consumer's, a follower's read is bounded by the log end offset,
// not the high watermark. Each fetch offset is the follower's log end
// (durable under sync-on-ack: followers sync before fetching again); the
// leader records it (partition.FollowerFetch), which may add the follower
// back to the ISR and advance the high watermark. With LastFetchedEpoch
// (v12+) the leader checks the follower's log against its leader-epoch
// history and answers DivergingEpoch, with no records, when the follower
// has a tail the leader does not (KIP-320 / KIP-595): the follower
// truncates and fetches again. Fetch sessions are not created for
// replicas: every replica fetch is a full one. The rules are in
// docs/replication.md.

// replicaID is the fetching broker's id, -1 for consumers.
func replicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// replicaFetchPart is one partition of a replica fetch that passed the checks.
type replicaFetchPart struct {
	p    *partition.Partition
	rp   *kmsg.FetchResponseTopicPartition
	from int64
	max  int32
	rr   partition.Records // the records read so far: left in the log until written
}

func serveReplicaFetch(e *Env, r *Request, req *kmsg.FetchRequest) Result {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	replica := replicaID(req)
	im := e.Ctrl.Image()
	now := e.Now()
	var reads []replicaFetchPart
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *metadata.Topic
		if req.Version >= 13 {
			t = im.TopicsByID[metadata.TopicID(rt.TopicID)]
		} else {
			t = im.Topics[rt.Topic]
		}
		for i := range rt.Partitions {
			st.Partitions = append(st.Partitions, replicaFetchCheck(e, req, t, replica, &rt.Partitions[i], now))
		}
		resp.Topics = append(resp.Topics, st)
	}
	// Collect the partitions to read only once every slice stops growing.
	// An error or a diverging epoch is answered at once, as in Kafka.
	answerNow := false
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		t := topicOf(im, req, st)
		for pi := range st.Partitions {
			rp := &st.Partitions[pi]
			if rp.ErrorCode != 0 || rp.DivergingEpoch.Epoch >= 0 || t == nil {
				answerNow = true
				continue
			}
			rq := &req.Topics[ti].Partitions[pi]
			reads = append(reads, replicaFetchPart{p: e.Partitions.Get(t.Name, rp.Partition), rp: rp, from: rq.FetchOffset, max: rq.PartitionMaxBytes})
		}
	}
	if replicaFetchRead(e, req, reads, answerNow) || req.MaxWaitMillis <= 0 {
		return Now(replicaResponse(resp, reads))
	}
	deadline := now.Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	return Result{Deferred: func() kmsg.Response {
		replicaFetchWait(e, r, req, reads, deadline)
		return replicaResponse(resp, reads)
	}}
}

// replicaResponse hands the ranges read to the response, in its partition
// order (reads follow that order, skipping partitions not read).
func replicaResponse(resp *kmsg.FetchResponse, reads []replicaFetchPart) *FetchResponse {
	out := &FetchResponse{FetchResponse: resp}
	if len(reads) == 0 {
		return out
	}
	j := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			var rr partition.Records
			if j < len(reads) && reads[j].rp == &resp.Topics[ti].Partitions[pi] {
				rr = reads[j].rr
				j++
			}
			out.Ranges = append(out.Ranges, rr)
		}
	}
	return out
}

func topicOf(im *metadata.Image, req *kmsg.FetchRequest, st *kmsg.FetchResponseTopic) *metadata.Topic {
	if req.Version >= 13 {
		return im.TopicsByID[metadata.TopicID(st.TopicID)]
	}
	return im.Topics[st.Topic]
}

// replicaFetchCheck validates one partition of a replica fetch, answers
// a diverging epoch when there is one, and records the follower's position.
func replicaFetchCheck(e *Env, req *kmsg.FetchRequest, t *metadata.Topic, replica int32, rq *kmsg.FetchRequestTopicPartition, now time.Time) kmsg.FetchResponseTopicPartition {
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition = rq.Partition
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
	rp.PreferredReadReplica = -1
	rp.RecordBatches = []byte{}
	switch {
	case t == nil && req.Version >= 13:
		rp.ErrorCode = kerr.UnknownTopicID.Code
		return rp
	case t == nil || rq.Partition < 0 || int(rq.Partition) >= len(t.Partitions):
		rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return rp
	}
	p := e.Partitions.Get(t.Name, rq.Partition)
	if p == nil {
		rp.ErrorCode = kerr.NotLeaderForPartition.Code
		return rp
	}
	role, _, epoch := p.Role()
	if role != partition.RoleLeader {
		rp.ErrorCode = kerr.NotLeaderForPartition.Code
		return rp
	}
	if code := checkLeaderEpoch(rq.CurrentLeaderEpoch, epoch); code != 0 {
		rp.ErrorCode = code
		return rp
	}
	rp.LogStartOffset = p.LogStartOffset()
	fillHW := func() { rp.HighWatermark = p.HighWatermark(); rp.LastStableOffset = rp.HighWatermark }
	if req.Version >= 12 && rq.LastFetchedEpoch >= 0 {
		de, end := p.EndOffsetForEpoch(rq.LastFetchedEpoch)
		switch {
		case de < 0 || end < 0:
			// Our history no longer reaches that epoch (Kafka answers the same).
			fillHW()
			rp.ErrorCode = kerr.OffsetOutOfRange.Code
			return rp
		case de < rq.LastFetchedEpoch || end < rq.FetchOffset:
			fillHW()
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = de, end
			return rp
		}
	}
	if rq.FetchOffset < rp.LogStartOffset || rq.FetchOffset > p.LogEndOffset() {
		fillHW()
		rp.ErrorCode = kerr.OffsetOutOfRange.Code
		return rp
	}
	if err := p.FollowerFetch(replica, rq.FetchOffset, now); err != nil {
		rp.ErrorCode = e.errCode(err)
		return rp
	}
	fillHW()
	return rp
}

// replicaFetchRead fills the records of every readable partition from its
// fetch offset up to the log end. It reports whether the response is
// complete: MinBytes reached, an error to report, or final.
func replicaFetchRead(e *Env, req *kmsg.FetchRequest, reads []replicaFetchPart, final bool) bool {
	remaining := int64(req.MaxBytes)
	if remaining <= 0 {
		remaining = 1<<31 - 1
	}
	var total int64
	done := final
	for i := range reads {
		rf := &reads[i]
		rp := rf.rp
		if rp.ErrorCode != 0 {
			done = true
			continue
		}
		if !rf.p.IsLeader() {
			rp.ErrorCode = kerr.NotLeaderForPartition.Code
			rp.RecordBatches = []byte{}
			rf.rr.Release()
			rf.rr = partition.Records{}
			done = true
			continue
		}
		if n := int64(rf.rr.Size()); n > 0 {
			o := rf.p.Offsets()
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = o.HighWatermark, o.LastStable, o.LogStart
			total += n
			remaining -= n
			continue
		}
		limit := min(int64(rf.max), remaining)
		rr, o, err := rf.p.Read(rf.from, int32(limit), partition.BoundLogEnd, total == 0)
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = o.HighWatermark, o.LastStable, o.LogStart
		if err != nil {
			if rp.ErrorCode = e.errCode(err); rp.ErrorCode == kerr.KafkaStorageError.Code {
				e.Logger.Error("replica fetch read failed", "topic", rf.p.Topic, "partition", rf.p.Index, "offset", rf.from, "err", err)
			}
			done = true
			continue
		}
		if n := int64(rr.Size()); n > 0 {
			rf.rr = rr
			total += n
			remaining -= n
		}
	}
	return done || total >= int64(max(req.MinBytes, 1))
}

// replicaFetchWait long-polls on appends to (and role changes of) the
// fetched partitions until there is data or the deadline passes.
func replicaFetchWait(e *Env, r *Request, req *kmsg.FetchRequest, reads []replicaFetchPart, deadline time.Time) {
	w := partition.NewWaiter()
	for _, rf := range reads {
		rf.p.AddLogWaiter(w)
		defer rf.p.RemoveLogWaiter(w)
	}
	// An append between the first read and the registration above woke nobody.
	if replicaFetchRead(e, req, reads, false) {
		return
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case <-w.C:
			if replicaFetchRead(e, req, reads, false) {
				return
			}
		case <-timer.C:
			replicaFetchRead(e, req, reads, true)
			return
		case <-r.Ctx.Done():
			replicaFetchRead(e, req, reads, true)
			return
		}
	}
}
