package handler

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// ListGroups v0-5.
//
// Lists the groups this node coordinates. The states filter (v4+) and the
// types filter (v5+) match case-insensitively; a group's type is
// "classic" or, for KIP-848 groups, "consumer". While a partition is loading the answer is
// COORDINATOR_LOAD_IN_PROGRESS with the groups known so far, as in Kafka.

func init() { register(kmsg.ListGroups, 0, 5, serveListGroups) }

func serveListGroups(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	return Result{Deferred: func() kmsg.Response {
		var states, types []string
		if req.Version >= 4 {
			states = req.StatesFilter
		}
		if req.Version >= 5 {
			types = req.TypesFilter
		}
		if e.Groups == nil {
			resp.ErrorCode = e.errCode(group.ErrCoordinatorNotAvailable)
			return resp
		}
		groups, err := e.Groups.ListGroups(r.Ctx, states, types)
		resp.ErrorCode = e.errCode(err)
		for _, g := range groups {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.ID, g.ProtocolType, g.State, g.Type
			resp.Groups = append(resp.Groups, lg)
		}
		return resp
	}}
}
