package handler

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// ConsumerGroupDescribe v0-1 (KIP-848 consumer groups).
//
// Each member with its current and target assignment, and the group and
// assignment epochs. A classic or unknown group gets GROUP_ID_NOT_FOUND,
// an empty group id INVALID_GROUP_ID. Topic names in assignments come from
// the metadata image (a topic deleted meanwhile is left unnamed).
// Authorized operations, when asked for, are every group operation (as
// Kafka without an authorizer); with one, internal/authz narrows them to
// the principal's and refuses groups assigned topics it may not
// describe. v1 adds the member
// type: always 1 (consumer protocol) here.

func init() { register(kmsg.ConsumerGroupDescribe, 0, 1, serveConsumerGroupDescribe) }

func serveConsumerGroupDescribe(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	return Result{Deferred: func() kmsg.Response {
		im := e.Ctrl.Image()
		assignment := func(ta []group.TopicAssignment) kmsg.Assignment {
			a := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
			for _, t := range ta {
				tp := kmsg.AssignmentTopicPartition{TopicID: t.Topic, Partitions: t.Partitions}
				if mt := im.TopicsByID[[16]byte(t.Topic)]; mt != nil {
					tp.Topic = mt.Name
				}
				a.TopicPartitions = append(a.TopicPartitions, tp)
			}
			return a
		}
		for _, id := range req.Groups {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group = id
			var d group.ConsumerGroupDescription
			var msg string
			err := error(group.ErrCoordinatorNotAvailable)
			switch {
			case id == "":
				err = group.ErrInvalidGroupID
			case e.Groups != nil:
				d, msg, err = e.Groups.DescribeConsumerGroup(r.Ctx, id)
			}
			if err != nil {
				dg.ErrorCode = e.errCode(err)
				if msg != "" {
					dg.ErrorMessage = &msg
				}
				resp.Groups = append(resp.Groups, dg)
				continue
			}
			dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = d.State, d.Epoch, d.AssignmentEpoch, d.Assignor
			if req.IncludeAuthorizedOperations {
				dg.AuthorizedOperations = groupOperations // internal/authz narrows it
			}
			dg.Members = []kmsg.ConsumerGroupDescribeResponseGroupMember{}
			for _, m := range d.Members {
				dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.ID, m.InstanceID, m.RackID, m.Epoch
				dm.ClientID, dm.ClientHost = m.ClientID, m.ClientHost
				dm.SubscribedTopics, dm.SubscribedTopicRegex = m.SubscribedTopics, m.SubscribedRegex
				if dm.SubscribedTopicRegex == nil {
					dm.SubscribedTopicRegex = kmsg.StringPtr("") // Kafka's member without a regex
				}
				dm.Assignment, dm.TargetAssignment = assignment(m.Assignment), assignment(m.Target)
				dm.MemberType = 1
				dg.Members = append(dg.Members, dm)
			}
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	}}
}
