package handler

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
)

// DescribeGroups v0-5.
//
// As Kafka's GroupMetadata.summary: member metadata and assignments only
// for a Stable group; an unknown group is described as Dead with no error.
// Authorized operations (v3+), when asked for, are every group operation
// (as Kafka without an authorizer); with one, internal/authz narrows them
// to the principal's. v6 (KIP-1043 errors) is not served.

func init() { register(kmsg.DescribeGroups, 0, 5, serveDescribeGroups) }

func serveDescribeGroups(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	return Result{Deferred: func() kmsg.Response {
		for _, id := range req.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group = id
			d, err := group.GroupDescription{}, error(group.ErrCoordinatorNotAvailable)
			if e.Groups != nil {
				d, err = e.Groups.DescribeGroup(r.Ctx, id)
			}
			dg.ErrorCode = e.errCode(err)
			if err == nil {
				if req.IncludeAuthorizedOperations {
					dg.AuthorizedOperations = groupOperations
				}
				dg.State, dg.ProtocolType, dg.Protocol = d.State, d.ProtocolType, d.Protocol
				for _, m := range d.Members {
					dm := kmsg.NewDescribeGroupsResponseGroupMember()
					dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.ID, m.InstanceID, m.ClientID, m.ClientHost
					dm.ProtocolMetadata, dm.MemberAssignment = nonNil(m.Metadata), nonNil(m.Assignment)
					dg.Members = append(dg.Members, dm)
				}
			}
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	}}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
