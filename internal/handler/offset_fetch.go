package handler

import (
	"cmp"
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// OffsetFetch v0-9.
//
// v0-7 ask for one group, v8+ for a batch. Null topics (v2+) ask for every
// committed partition of the group. A partition with no committed offset
// gets offset -1 and no error, as does every partition of an unknown
// group. Group errors are per partition on v0-1, top-level on v2-7 and per
// group on v8+. Every fetch is answered after the writes to the group's
// __consumer_offsets partition queued before it (commits sent earlier on
// the connection among them): Kafka answers a connection's requests one
// at a time and runs a RequireStable (v7+) fetch as a write ordered after
// the pending ones. With RequireStable (v7+), a partition with a
// transactional commit pending (TxnOffsetCommit of an unfinished
// transaction) answers UNSTABLE_OFFSET_COMMIT with offset -1, as Kafka
// does (KIP-447); the client retries. The v9 member id and epoch are
// checked against KIP-848 groups (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID)
// and ignored for classic groups, as in Kafka. v10 (topic ids) is not
// served.

func init() { register(kmsg.OffsetFetch, 0, 9, serveOffsetFetch) }

// fetchedPartition is one partition's answer.
type fetchedPartition struct {
	tp       group.TopicPartition
	off      group.Offset
	ok       bool
	unstable bool // RequireStable and a transactional commit is pending
}

func serveOffsetFetch(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	// Every group's fetch is queued now, in the connection's order, so it
	// is answered after the commits sent before it.
	if req.Version < 8 {
		var tps []group.TopicPartition
		if req.Topics != nil || req.Version < 2 {
			tps = []group.TopicPartition{}
			for _, t := range req.Topics {
				for _, p := range t.Partitions {
					tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p})
				}
			}
		}
		wait := e.beginFetchOffsets(req.Group, tps, nil, req.RequireStable)
		return Result{Deferred: func() kmsg.Response {
			parts, err := wait(r)
			if err != nil && req.Version >= 2 {
				resp.ErrorCode = e.errCode(err)
				return resp
			}
			for _, t := range groupByTopic(parts) {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t[0].tp.Topic
				for _, p := range t {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition = p.tp.Partition
					rp.Offset, rp.LeaderEpoch, rp.Metadata = fetchedValues(p)
					rp.ErrorCode = e.errCode(err)
					if p.unstable && err == nil {
						rp.ErrorCode = kerr.UnstableOffsetCommit.Code
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp
		}}
	}
	waits := make([]func(*Request) ([]fetchedPartition, error), len(req.Groups))
	for i, rg := range req.Groups {
		var tps []group.TopicPartition
		if rg.Topics != nil {
			tps = []group.TopicPartition{}
			for _, t := range rg.Topics {
				for _, p := range t.Partitions {
					tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p})
				}
			}
		}
		var member *group.FetchMember
		if req.Version >= 9 {
			// A KIP-848 member must name its current epoch.
			member = &group.FetchMember{ID: rg.MemberID, Epoch: rg.MemberEpoch}
		}
		waits[i] = e.beginFetchOffsets(rg.Group, tps, member, req.RequireStable)
	}
	return Result{Deferred: func() kmsg.Response {
		for i, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			parts, err := waits[i](r)
			g.ErrorCode = e.errCode(err)
			if err == nil {
				for _, t := range groupByTopic(parts) {
					rt := kmsg.NewOffsetFetchResponseGroupTopic()
					rt.Topic = t[0].tp.Topic
					for _, p := range t {
						rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
						rp.Partition = p.tp.Partition
						rp.Offset, rp.LeaderEpoch, rp.Metadata = fetchedValues(p)
						if p.unstable {
							rp.ErrorCode = kerr.UnstableOffsetCommit.Code
						}
						rt.Partitions = append(rt.Partitions, rp)
					}
					g.Topics = append(g.Topics, rt)
				}
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}}
}

// beginFetchOffsets queues a fetch at the coordinator and returns the wait
// for it; tps nil means every committed partition. The answer lists tps in
// order (or all, sorted).
func (e *Env) beginFetchOffsets(groupID string, tps []group.TopicPartition, member *group.FetchMember, requireStable bool) func(*Request) ([]fetchedPartition, error) {
	var wait func(context.Context) (map[group.TopicPartition]group.Offset, error)
	if e.Groups != nil {
		wait = e.Groups.BeginFetchOffsets(groupID, tps, member)
	}
	return func(r *Request) ([]fetchedPartition, error) {
		var got map[group.TopicPartition]group.Offset
		err := group.ErrCoordinatorNotAvailable
		if wait != nil {
			got, err = wait(r.Ctx)
		}
		var pending map[group.TopicPartition]bool
		if err == nil && requireStable {
			pending, err = e.Groups.PendingTxnOffsets(r.Ctx, groupID, tps)
		}
		var out []fetchedPartition
		if tps == nil {
			for tp, o := range got {
				out = append(out, fetchedPartition{tp, o, true, pending[tp]})
			}
			slices.SortFunc(out, func(a, b fetchedPartition) int {
				return cmp.Or(cmp.Compare(a.tp.Topic, b.tp.Topic), cmp.Compare(a.tp.Partition, b.tp.Partition))
			})
			return out, err
		}
		for _, tp := range tps {
			o, ok := got[tp]
			out = append(out, fetchedPartition{tp, o, ok, pending[tp]})
		}
		return out, err
	}
}

// groupByTopic splits partitions into runs of one topic, keeping the order
// of first appearance.
func groupByTopic(parts []fetchedPartition) [][]fetchedPartition {
	idx := map[string]int{}
	var out [][]fetchedPartition
	for _, p := range parts {
		i, ok := idx[p.tp.Topic]
		if !ok {
			i = len(out)
			idx[p.tp.Topic] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], p)
	}
	return out
}

func fetchedValues(p fetchedPartition) (int64, int32, *string) {
	if !p.ok || p.unstable {
		empty := ""
		return -1, -1, &empty
	}
	md := p.off.Metadata
	return p.off.Offset, p.off.LeaderEpoch, &md
}
