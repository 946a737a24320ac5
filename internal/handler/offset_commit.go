package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// OffsetCommit v0-9.
//
// Offsets are records in __consumer_offsets; the answer waits until they
// are durable. Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION
// and the rest are committed. A commit with generation -1 and no member id
// is a simple consumer's (or an admin's): accepted while the group has no
// members, creating the group if needed. For a group that does not exist,
// a commit with a generation gets GROUP_ID_NOT_FOUND on v9+ and
// ILLEGAL_GENERATION before, as in Kafka 4. The v2-4 retention time and the
// v1 commit timestamp are ignored (offsets.retention applies). v10 (topic
// ids) is not served.

func init() { register(kmsg.OffsetCommit, 0, 9, serveOffsetCommit) }

func serveOffsetCommit(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	im := e.Ctrl.Image()
	cr := group.CommitRequest{
		Group: req.Group, Generation: req.Generation, MemberID: req.MemberID,
		InstanceID: req.InstanceID, Version: req.Version,
	}
	if req.Version == 0 {
		cr.Generation = -1
	}
	type slot struct{ t, p int }
	var slots []slot
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				o := group.CommitOffset{
					TopicPartition: group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition},
					Offset:         rp.Offset, LeaderEpoch: -1,
				}
				if req.Version >= 6 {
					o.LeaderEpoch = rp.LeaderEpoch
				}
				if rp.Metadata != nil {
					o.Metadata = *rp.Metadata
				}
				cr.Offsets = append(cr.Offsets, o)
				slots = append(slots, slot{ti, len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	// Queued now, in the connection's order: pipelined commits (librdkafka's
	// asynchronous ones) are applied in the order sent.
	wait := func(context.Context) *group.CommitResult {
		return &group.CommitResult{Err: group.ErrCoordinatorNotAvailable}
	}
	if e.Groups != nil {
		wait = e.Groups.BeginCommit(cr)
	}
	return Result{Deferred: func() kmsg.Response {
		res := wait(r.Ctx)
		for i, s := range slots {
			err := res.Err
			if err == nil {
				err = res.Partitions[i]
			}
			resp.Topics[s.t].Partitions[s.p].ErrorCode = e.errCode(err)
		}
		return resp
	}}
}
