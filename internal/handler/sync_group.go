package handler

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// SyncGroup v0-5 (classic group protocol).
//
// Deferred: the leader's SyncGroup is answered once the assignment is
// durable in __consumer_offsets, the followers' at the same moment. v5
// carries the protocol type and name, which must match the group's.

func init() { register(kmsg.SyncGroup, 0, 5, serveSyncGroup) }

func serveSyncGroup(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.SyncGroupRequest)
	sr := group.SyncRequest{
		Group:      req.Group,
		Generation: req.Generation,
		MemberID:   req.MemberID,
		InstanceID: req.InstanceID,
	}
	if req.Version >= 5 {
		sr.ProtocolType, sr.Protocol = req.ProtocolType, req.Protocol
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	return Result{Deferred: func() kmsg.Response {
		var res *group.SyncResult
		if e.Groups == nil {
			res = &group.SyncResult{Err: group.ErrCoordinatorNotAvailable}
		} else {
			res = e.Groups.Sync(r.Ctx, sr)
		}
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = e.errCode(res.Err)
		resp.MemberAssignment = []byte{}
		if res.Err == nil {
			pt, p := res.ProtocolType, res.Protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
			if res.Assignment != nil {
				resp.MemberAssignment = res.Assignment
			}
		}
		return resp
	}}
}
