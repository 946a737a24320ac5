package handler

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// ConsumerGroupHeartbeat v0-1 (KIP-848 consumer groups).
//
// The request is checked as Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid
// does (INVALID_REQUEST with Kafka's message), then handed to the
// coordinator. v0 members joining without a member id get one from the
// broker; v1 members generate their own. Subscribed regexes (v1) use Go's
// RE2 syntax, which matches Kafka's RE2/J for the common forms, and are
// resolved against the metadata image at once (Kafka resolves them
// asynchronously). Server assignors: uniform (default) and range.

func init() { register(kmsg.ConsumerGroupHeartbeat, 0, 1, serveConsumerGroupHeartbeat) }

func serveConsumerGroupHeartbeat(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(err error, msg string) Result {
		resp.ErrorCode = e.errCode(err)
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return Now(resp)
	}
	if msg := invalidConsumerHeartbeat(req); msg != "" {
		return fail(errInvalidRequest, msg)
	}
	if e.Groups == nil {
		return fail(group.ErrCoordinatorNotAvailable, "")
	}
	hb := group.ConsumerHeartbeatRequest{
		Group: req.Group, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch,
		InstanceID: req.InstanceID, RackID: req.RackID,
		RebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		SubscribedTopics: req.SubscribedTopicNames, ServerAssignor: req.ServerAssignor,
		ClientID: r.ClientID, ClientHost: clientHost(r.ClientAddr),
	}
	if req.RebalanceTimeoutMillis < 0 {
		hb.RebalanceTimeout = -1
	}
	if req.Version >= 1 {
		hb.SubscribedRegex = req.SubscribedTopicRegex
	}
	if req.Topics != nil {
		hb.Owned = make([]group.TopicAssignment, 0, len(req.Topics))
		for _, t := range req.Topics {
			hb.Owned = append(hb.Owned, group.TopicAssignment{Topic: group.TopicID(t.TopicID), Partitions: t.Partitions})
		}
	}
	if hb.MemberEpoch == group.EpochJoin && hb.MemberID == "" {
		hb.MemberID = group.NewConsumerMemberID() // v0: the broker names members
	}
	return Result{Deferred: func() kmsg.Response {
		res := e.Groups.ConsumerHeartbeat(r.Ctx, hb)
		if res.Err != nil {
			resp.ErrorCode = e.errCode(res.Err)
			if res.Message != "" {
				resp.ErrorMessage = &res.Message
			}
			return resp
		}
		id := res.MemberID
		resp.MemberID = &id
		resp.MemberEpoch = res.MemberEpoch
		resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval / time.Millisecond)
		if res.Assignment != nil {
			a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
			a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
			for _, t := range res.Assignment {
				at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
				at.TopicID, at.Partitions = t.Topic, t.Partitions
				a.Topics = append(a.Topics, at)
			}
			resp.Assignment = &a
		}
		return resp
	}}
}

// invalidConsumerHeartbeat returns Kafka's INVALID_REQUEST message for a
// malformed heartbeat, or "".
func invalidConsumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) string {
	switch {
	case (req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == group.EpochLeave) && req.MemberID == "":
		return "MemberId can't be empty."
	case req.Group == "":
		return "GroupId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return "RackId can't be empty."
	}
	switch {
	case req.MemberEpoch == group.EpochJoin:
		switch {
		case req.RebalanceTimeoutMillis == -1:
			return "RebalanceTimeoutMs must be provided in first request."
		case req.Topics == nil || len(req.Topics) > 0:
			return "TopicPartitions must be empty when (re-)joining."
		case req.SubscribedTopicNames == nil && (req.Version < 1 || req.SubscribedTopicRegex == nil):
			return "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."
		}
	case req.MemberEpoch == group.EpochStaticLeave:
		if req.InstanceID == nil {
			return "InstanceId can't be null."
		}
	case req.MemberEpoch < group.EpochStaticLeave:
		return "MemberEpoch is invalid."
	}
	return ""
}
