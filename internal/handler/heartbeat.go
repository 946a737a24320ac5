package handler

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// Heartbeat v0-4 (classic group protocol).
//
// REBALANCE_IN_PROGRESS tells a member to rejoin; while the coordinator is
// loading, heartbeats succeed blindly, as in Kafka.

func init() { register(kmsg.Heartbeat, 0, 4, serveHeartbeat) }

func serveHeartbeat(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if e.Groups == nil {
		resp.ErrorCode = e.errCode(group.ErrCoordinatorNotAvailable)
		return Now(resp)
	}
	return Result{Deferred: func() kmsg.Response {
		err := e.Groups.Heartbeat(r.Ctx, group.HeartbeatRequest{
			Group: req.Group, Generation: req.Generation, MemberID: req.MemberID, InstanceID: req.InstanceID,
		})
		resp.ErrorCode = e.errCode(err)
		return resp
	}}
}
