package handler

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// DeleteGroups v0-2.
//
// Deletes Empty groups with their offsets (tombstones, answered once
// durable). A group with members gets NON_EMPTY_GROUP, an unknown one
// GROUP_ID_NOT_FOUND. v3 (error messages) is not served.

func init() { register(kmsg.DeleteGroups, 0, 2, serveDeleteGroups) }

func serveDeleteGroups(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	return Result{Deferred: func() kmsg.Response {
		for _, id := range req.Groups {
			dg := kmsg.NewDeleteGroupsResponseGroup()
			dg.Group = id
			err := error(group.ErrCoordinatorNotAvailable)
			if e.Groups != nil {
				err = e.Groups.DeleteGroup(r.Ctx, id)
			}
			dg.ErrorCode = e.errCode(err)
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	}}
}
