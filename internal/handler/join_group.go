package handler

import (
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// JoinGroup v0-9 (classic group protocol).
//
// The answer is deferred until the rebalance completes (or at once for
// errors, MEMBER_ID_REQUIRED on v4+ and rejoins that change nothing).
// v0 has no rebalance timeout: the session timeout is used, as Kafka does.
// SkipAssignment (v9, KIP-814) is always false: no server-side assignors.
// The group state machine, and every error it gives, is in internal/group.

func init() { register(kmsg.JoinGroup, 0, 9, serveJoinGroup) }

func serveJoinGroup(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.JoinGroupRequest)
	jr := group.JoinRequest{
		Group:                req.Group,
		MemberID:             req.MemberID,
		InstanceID:           req.InstanceID,
		ClientID:             r.ClientID,
		ClientHost:           clientHost(r.ClientAddr),
		ProtocolType:         req.ProtocolType,
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		RequireKnownMemberID: req.Version >= 4,
	}
	if req.Version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	return Result{Deferred: func() kmsg.Response {
		var res *group.JoinResult
		if e.Groups == nil {
			res = &group.JoinResult{Err: group.ErrCoordinatorNotAvailable, MemberID: req.MemberID, Generation: -1}
		} else {
			res = e.Groups.Join(r.Ctx, jr)
		}
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = e.errCode(res.Err)
		resp.Generation = res.Generation
		resp.MemberID = res.MemberID
		if res.Err == nil {
			resp.LeaderID = res.Leader
			pt, p := res.ProtocolType, res.Protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
			for _, m := range res.Members {
				rm := kmsg.NewJoinGroupResponseMember()
				rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.ID, m.InstanceID, m.Metadata
				resp.Members = append(resp.Members, rm)
			}
		}
		return resp
	}}
}

// clientHost renders a client address as Kafka does ("/127.0.0.1").
func clientHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return "/" + host
	}
	return "/" + addr
}
