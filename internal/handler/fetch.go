package handler

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/metrics"
	"github.com/strom-broker/strom/internal/partition"
)

// Fetch v4-16.
//
// Consumers read below the high watermark (read_committed: the last stable
// offset, equal to it until transactions exist); followers (fetch_replica.go)
// read below the log end. Both go through one planner: the request
// long-polls until MinBytes are available or MaxWaitMillis passes, woken
// when the partitions' bound advances (partition.Waiter), and every round
// reads each partition afresh. The first batch of the first non-empty
// partition is returned whole even when larger than the byte limits, as
// Kafka does. Fetch sessions (v7+, KIP-227) are kept in a bounded cache
// for consumers. v9+ checks the current leader epoch (FENCED_LEADER_EPOCH /
// UNKNOWN_LEADER_EPOCH); v13+ names topics by id. v17+ (KIP-853 replica
// directory ids) is not served.

func init() { register(kmsg.Fetch, 4, 16, serveFetch) }

const (
	finalEpoch   = -1
	initialEpoch = 0
)

// fetchPlan is a fetch in progress: the partitions to read and how.
type fetchPlan struct {
	e        *Env
	req      *kmsg.FetchRequest
	replica  ids.NodeID      // the fetching follower's broker id; -1 for consumers
	bound    partition.Bound // what the fetcher may read, and waits on
	session  *fetchSession   // nil for sessionless fetches
	full     bool            // every partition is answered
	parts    []fetchPart
	deadline time.Time
}

// fetchPart is one partition of a plan: what is asked, and the answer of
// the round being read.
type fetchPart struct {
	sp  *sessionPart // &own, or the session's
	own sessionPart  // as the request asks it
	rp  kmsg.FetchResponseTopicPartition
	rr  partition.Records // released by the round unless the response takes it
}

func serveFetch(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.FetchRequest)
	plan := &fetchPlan{e: e, req: req, replica: replicaID(req), bound: partition.BoundHighWatermark, full: true}
	now, im := e.Now(), e.Ctrl.Image()
	parts := requestParts(req, im)
	if plan.replica >= 0 {
		// Replication: sessionless, bounded by the log end, and the
		// follower's position recorded once per request.
		plan.bound = partition.BoundLogEnd
		plan.parts = parts
		plan.admitFollower(im, now)
	} else {
		if req.IsolationLevel == 1 {
			plan.bound = partition.BoundLastStable
		}
		if code := plan.resolveSession(im, now, parts); code != 0 {
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			resp.ErrorCode = code
			return Now(resp)
		}
	}
	if req.MaxWaitMillis > 0 {
		plan.deadline = now.Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	}
	if out, done := plan.read(false); done {
		return Now(out)
	}
	return Result{Deferred: func() kmsg.Response { return plan.wait(r) }}
}

// requestParts lists the partitions a request names, in its order, with
// topic names and ids resolved in im (v13+ names topics by id: an unknown
// id has the name "").
func requestParts(req *kmsg.FetchRequest, im *metadata.Image) []fetchPart {
	n := 0
	for _, rt := range req.Topics {
		n += len(rt.Partitions)
	}
	parts := make([]fetchPart, 0, n)
	for _, rt := range req.Topics {
		name := rt.Topic
		id := metadata.TopicID(rt.TopicID)
		if req.Version >= 13 {
			if t := im.TopicsByID[id]; t != nil {
				name = t.Name
			} else {
				name = ""
			}
		} else if t := im.Topics[name]; t != nil {
			id = t.ID
		}
		for _, rp := range rt.Partitions {
			parts = append(parts, fetchPart{own: sessionPart{topic: name, id: id, partition: rp.Partition, fetchOffset: ids.Offset(rp.FetchOffset),
				maxBytes: rp.PartitionMaxBytes, leaderEpoch: ids.LeaderEpoch(rp.CurrentLeaderEpoch), lastFetchedEpoch: ids.LeaderEpoch(rp.LastFetchedEpoch),
				sentHW: -1, sentLSO: -1, sentLogStart: -1}})
		}
	}
	for i := range parts {
		parts[i].sp = &parts[i].own
	}
	return parts
}

// sessionParts is a plan's parts for a session's partitions.
func sessionParts(s *fetchSession) []fetchPart {
	parts := make([]fetchPart, len(s.parts))
	for i, sp := range s.parts {
		parts[i].sp = sp
	}
	return parts
}

// resolveSession applies the KIP-227 session rules; a non-zero return is
// the top-level error to answer with.
func (f *fetchPlan) resolveSession(im *metadata.Image, now time.Time, parts []fetchPart) int16 {
	req, cache := f.req, f.e.sessions
	if req.Version < 7 || (req.SessionID == 0 && req.SessionEpoch == finalEpoch) {
		f.parts = parts
		return 0
	}
	switch {
	case req.SessionEpoch == finalEpoch:
		cache.remove(req.SessionID)
		f.parts = parts
		return 0
	case req.SessionEpoch == initialEpoch:
		if req.SessionID != 0 {
			cache.remove(req.SessionID)
		}
		s := cache.create(now)
		cache.mu.Lock()
		for i := range parts {
			s.upsert(parts[i].own)
		}
		f.parts = sessionParts(s)
		cache.mu.Unlock()
		f.session = s
		return 0
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	s := cache.m[req.SessionID]
	if s == nil {
		return kerr.FetchSessionIDNotFound.Code
	}
	if s.nextEpoch != req.SessionEpoch {
		return kerr.InvalidFetchSessionEpoch.Code
	}
	s.nextEpoch = nextSessionEpoch(s.nextEpoch)
	s.lastUsed = now
	for _, ft := range req.ForgottenTopics {
		name := ft.Topic
		if req.Version >= 13 {
			name = ""
			if t := im.TopicsByID[metadata.TopicID(ft.TopicID)]; t != nil {
				name = t.Name
			}
		}
		for _, p := range ft.Partitions {
			s.forget(name, p)
		}
	}
	for i := range parts {
		s.upsert(parts[i].own)
	}
	f.parts = sessionParts(s)
	f.session, f.full = s, false
	return 0
}

// read builds a response from the current state of the logs. done is
// false when the request should wait for more data first (and final is
// false).
func (f *fetchPlan) read(final bool) (*FetchResponse, bool) {
	req := f.req
	im := f.e.Ctrl.Image()
	remaining := int64(req.MaxBytes)
	if req.Version < 3 || remaining <= 0 {
		remaining = 1<<31 - 1
	}
	var total int64
	hasErr := false // an error or a diverging epoch: answer at once, as Kafka does
	// Every range read is released here unless the returned response took
	// it: ranges of partitions a session leaves out, all of them when
	// waiting for more data, and all of them on a panic (which the server
	// turns into a closed connection), so no segment file stays referenced.
	var res *FetchResponse
	returned := false
	defer func() {
		for i := range f.parts {
			f.parts[i].rr.Release()
		}
		if !returned && res != nil {
			res.Release()
		}
	}()
	for i := range f.parts {
		fp := &f.parts[i]
		fp.rp, fp.rr = f.readPartition(im, fp.sp, &remaining, total == 0)
		total += int64(fp.rr.Size())
		if fp.rp.ErrorCode != 0 || fp.sp.answer != nil {
			hasErr = true
		}
	}
	if !final && !hasErr && total < int64(req.MinBytes) && !f.deadline.IsZero() && f.e.Now().Before(f.deadline) {
		return nil, false
	}

	if f.session != nil {
		f.e.sessions.mu.Lock()
		defer f.e.sessions.mu.Unlock()
	}
	res = newFetchResponse(req.Version, len(f.parts))
	resp := res.FetchResponse
	if f.session != nil {
		resp.SessionID = f.session.id
	}
	var cur *kmsg.FetchResponseTopic
	for i := range f.parts {
		fp := &f.parts[i]
		sp, rp := fp.sp, &fp.rp
		if !f.full && fp.rr.Size() == 0 && rp.ErrorCode == 0 &&
			rp.HighWatermark == sp.sentHW && rp.LastStableOffset == sp.sentLSO && rp.LogStartOffset == sp.sentLogStart {
			continue
		}
		sp.sentHW, sp.sentLSO, sp.sentLogStart = rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset
		if cur == nil || cur.Topic != sp.topic || cur.TopicID != [16]byte(sp.id) {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			cur = &resp.Topics[len(resp.Topics)-1]
			cur.Topic, cur.TopicID = sp.topic, sp.id
		}
		cur.Partitions = append(cur.Partitions, *rp)
		if n := fp.rr.Size(); n > 0 {
			if f.replica >= 0 {
				metrics.ReplicationBytesOut.Add(float64(n))
			} else {
				metrics.TopicBytesOut.WithLabelValues(sp.topic).Add(float64(n))
			}
		}
		res.Ranges = append(res.Ranges, fp.rr)
		fp.rr = partition.Records{} // now res's to release
	}
	returned = true
	return res, true
}

// readPartition answers one partition; its record set is the returned log
// range (rp.RecordBatches stays empty), which the caller must release.
func (f *fetchPlan) readPartition(im *metadata.Image, sp *sessionPart, remaining *int64, first bool) (rp kmsg.FetchResponseTopicPartition, rr partition.Records) {
	if sp.answer != nil {
		return *sp.answer, rr
	}
	rp = newFetchPartition(sp.partition)
	p, code := f.leaderOf(im, sp, &rp)
	if code != 0 {
		rp.ErrorCode = code
		return rp, rr
	}
	if f.bound == partition.BoundLastStable {
		rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	limit := min(int64(sp.maxBytes), *remaining)
	rr, o, err := p.Read(sp.fetchOffset, int32(limit), f.bound, first)
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = int64(o.HighWatermark), int64(o.LastStable), int64(o.LogStart)
	if err != nil {
		if rp.ErrorCode = f.e.errCode(err); rp.ErrorCode == kerr.OffsetOutOfRange.Code {
			if f.replica < 0 {
				// A follower keeps the offsets: it restarts at our log start.
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			}
		} else if rp.ErrorCode == kerr.KafkaStorageError.Code {
			f.e.Logger.Error("fetch read failed", "topic", p.Topic, "partition", sp.partition, "offset", sp.fetchOffset, "replica", f.replica, "err", err)
		}
		return rp, rr
	}
	*remaining -= int64(rr.Size())
	return rp, rr
}

// newFetchPartition is a partition's answer before anything is known.
func newFetchPartition(index int32) kmsg.FetchResponseTopicPartition {
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition = index
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
	rp.PreferredReadReplica = -1
	// Kafka sends empty records, never null: librdkafka rejects a null
	// record set.
	rp.RecordBatches = []byte{}
	return rp
}

// leaderOf returns the partition sp names when this node leads it at the
// epoch the fetcher knows; otherwise the error code to answer with (rp
// takes what goes with it).
func (f *fetchPlan) leaderOf(im *metadata.Image, sp *sessionPart, rp *kmsg.FetchResponseTopicPartition) (*partition.Partition, int16) {
	t := im.Topics[sp.topic]
	if t == nil || sp.topic == "" {
		rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		if f.req.Version >= 13 {
			return nil, kerr.UnknownTopicID.Code
		}
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	if sp.partition < 0 || int(sp.partition) >= len(t.Partitions) {
		rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	p := f.e.Partitions.Get(t.Name, sp.partition)
	if p == nil {
		return nil, kerr.NotLeaderForPartition.Code
	}
	// Replication: consumers read from the leader only (no KIP-392 yet),
	// and not while this node is cut off from the metadata quorum; a
	// follower is served by the node it takes for the leader.
	role, _, epoch := p.Role()
	if role != partition.RoleLeader || (f.replica < 0 && !f.e.Ctrl.Fresh()) {
		return nil, kerr.NotLeaderForPartition.Code
	}
	if code := checkLeaderEpoch(sp.leaderEpoch, epoch); code != 0 {
		return nil, code
	}
	return p, 0
}

// checkLeaderEpoch applies KIP-320: a client that knows an older epoch is
// fenced, one that knows a newer epoch than ours must retry.
func checkLeaderEpoch(client, ours ids.LeaderEpoch) int16 {
	switch {
	case client < 0 || client == ours:
		return 0
	case client < ours:
		return kerr.FencedLeaderEpoch.Code
	default:
		return kerr.UnknownLeaderEpoch.Code
	}
}

// wait long-polls: woken when the bound of any involved partition
// advances (or its role changes), it re-reads until MinBytes are there or
// the deadline passes.
func (f *fetchPlan) wait(r *Request) kmsg.Response {
	w := partition.NewWaiter(f.bound)
	var regs []*partition.Partition
	for i := range f.parts {
		if p := f.e.Partitions.Get(f.parts[i].sp.topic, f.parts[i].sp.partition); p != nil {
			p.AddWaiter(w)
			regs = append(regs, p)
		}
	}
	defer func() {
		for _, p := range regs {
			p.RemoveWaiter(w)
		}
	}()
	// An append between the first read and the registration above would
	// have woken nobody: look once more before sleeping.
	if resp, done := f.read(false); done {
		return resp
	}
	metrics.FetchWaiting.Inc()
	defer metrics.FetchWaiting.Dec()
	timer := time.NewTimer(time.Until(f.deadline))
	defer timer.Stop()
	for {
		select {
		case <-w.C:
			if resp, done := f.read(false); done {
				return resp
			}
		case <-timer.C:
			resp, _ := f.read(true)
			return resp
		case <-r.Ctx.Done():
			resp, _ := f.read(true)
			return resp
		}
	}
}
