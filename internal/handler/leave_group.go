package handler

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// LeaveGroup v0-5 (classic group protocol).
//
// v0-2 name one member, whose error is the top-level one; v3+ carry a
// batch of members (by member id, or by instance id alone for a static
// member), each with its own error. The Reason (v5) is not recorded.

func init() { register(kmsg.LeaveGroup, 0, 5, serveLeaveGroup) }

func serveLeaveGroup(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	var members []group.LeaveMember
	if req.Version < 3 {
		members = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			members = append(members, group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID})
		}
	}
	if e.Groups == nil {
		resp.ErrorCode = e.errCode(group.ErrCoordinatorNotAvailable)
		return Now(resp)
	}
	return Result{Deferred: func() kmsg.Response {
		errs, err := e.Groups.Leave(r.Ctx, req.Group, members)
		if err != nil {
			resp.ErrorCode = e.errCode(err)
			return resp
		}
		if req.Version < 3 {
			resp.ErrorCode = e.errCode(errs[0])
			return resp
		}
		for i, m := range req.Members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, e.errCode(errs[i])
			resp.Members = append(resp.Members, rm)
		}
		return resp
	}}
}
