package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
)

// ElectLeaders v0-2.
//
// Preferred election (type 0) moves leadership to the partition's first
// replica when it is a live in-sync replica: ELECTION_NOT_NEEDED when it
// already leads, PREFERRED_LEADER_NOT_AVAILABLE otherwise. Unclean
// election (type 1, v1+) gives a partition without a live leader to a live
// replica even if out of sync: ELIGIBLE_LEADERS_NOT_AVAILABLE when there
// is none, ELECTION_NOT_NEEDED when it has a leader. Null topics (v0-2)
// mean every partition.

func init() { register(kmsg.ElectLeaders, 0, 2, serveElectLeaders) }

func serveElectLeaders(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	ctx, cancel := within(r, req.TimeoutMillis)
	defer cancel()
	im := e.Ctrl.Image()
	topics := req.Topics
	if topics == nil {
		for _, name := range im.SortedTopicNames() {
			t := kmsg.NewElectLeadersRequestTopic()
			t.Topic = name
			for _, p := range im.Topics[name].Partitions {
				t.Partitions = append(t.Partitions, p.Index)
			}
			topics = append(topics, t)
		}
	}
	if req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return Now(resp)
	}
	for _, rt := range topics {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		for _, part := range rt.Partitions {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = part
			var err error
			switch {
			case t == nil || part < 0 || int(part) >= len(t.Partitions):
				err = controller.ErrUnknownTopic
			case req.ElectionType == 0:
				err = e.Ctrl.ElectLeader(ctx, rt.Topic, part, t.Partitions[part].Replicas[0])
			default:
				err = e.Ctrl.ElectUnclean(ctx, rt.Topic, part)
			}
			sp.ErrorCode = e.errCode(err)
			if err != nil {
				sp.ErrorMessage = errMsg(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}
