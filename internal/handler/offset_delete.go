package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// OffsetDelete v0.
//
// Deletes committed offsets (tombstones in __consumer_offsets) of an Empty
// group, or of topics a consumer-protocol group is not subscribed to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise; NON_EMPTY_GROUP for a group with
// members and another protocol type). Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION.

func init() { register(kmsg.OffsetDelete, 0, 0, serveOffsetDelete) }

func serveOffsetDelete(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	im := e.Ctrl.Image()
	type slot struct{ t, p int }
	var slots []slot
	var tps []group.TopicPartition
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				tps = append(tps, group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
				slots = append(slots, slot{ti, len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Result{Deferred: func() kmsg.Response {
		res := &group.CommitResult{Err: group.ErrCoordinatorNotAvailable}
		if e.Groups != nil {
			res = e.Groups.DeleteOffsets(r.Ctx, req.Group, tps)
		}
		if res.Err != nil {
			resp.ErrorCode = e.errCode(res.Err)
			resp.Topics = nil
			return resp
		}
		for i, s := range slots {
			resp.Topics[s.t].Partitions[s.p].ErrorCode = e.errCode(res.Partitions[i])
		}
		return resp
	}}
}
