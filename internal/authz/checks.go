package authz

import (
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
)

// Subject is who asks and what they see: the principal and host of a
// request and the image whose ACLs and topics the checks read.
type Subject struct {
	Authorizer *Authorizer
	Image      *metadata.Image
	Principal  string
	Host       string
	// AutoCreate is the broker's auto_create_topics: only then does a
	// Metadata request for a missing topic need CREATE.
	AutoCreate bool
}

// HostOf is the host part of a client address ("10.0.0.1:5432").
func HostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Allowed reports whether s may perform op on the resource typ/name.
func (s Subject) Allowed(op Operation, typ ResourceType, name string) bool {
	return s.Authorizer.Authorize(s.Image.ACLs, Action{Principal: s.Principal, Host: s.Host, Op: op, Type: typ, Name: name})
}

// visible is Allowed without logging a denial: for what is only left
// out of a listing (all-topics Metadata, ListGroups), as Kafka does not
// log those.
func (s Subject) visible(op Operation, typ ResourceType, name string) bool {
	ok, _ := s.Authorizer.decide(s.Image.ACLs, Action{Principal: s.Principal, Host: s.Host, Op: op, Type: typ, Name: name})
	return ok
}

func (s Subject) cluster(op Operation) bool {
	return s.Allowed(op, kmsg.ACLResourceTypeCluster, ClusterName)
}

func (s Subject) topic(op Operation, name string) bool {
	return s.Allowed(op, kmsg.ACLResourceTypeTopic, name)
}

// Verdict is what a check decided about one request. With Deny the
// handler is not run: the response is the request's empty response kind
// passed through Fix. Otherwise the handler serves the request (which
// the check may have trimmed of what was refused), and Fix, when set,
// adds the refused parts to its response.
type Verdict struct {
	Deny bool
	Fix  func(kmsg.Response)
	// Visible, when set, is passed to the handler of a request that
	// lists topics page by page: whether a topic may be described.
	Visible func(topic string) bool
}

// check authorizes one API's request.
type check func(s Subject, req kmsg.Request) Verdict

// checks is the table of what each API needs, after Kafka's KafkaApis.
// An API not listed is not checked.
var checks = map[kmsg.Key]check{
	kmsg.Produce:                      checkProduce,
	kmsg.Fetch:                        checkFetch,
	kmsg.Metadata:                     checkMetadata,
	kmsg.CreateACLs:                   clusterOnly(kmsg.ACLOperationAlter),
	kmsg.DeleteACLs:                   clusterOnly(kmsg.ACLOperationAlter),
	kmsg.DescribeACLs:                 clusterOnly(kmsg.ACLOperationDescribe),
	kmsg.AlterUserSCRAMCredentials:    clusterOnly(kmsg.ACLOperationAlter),
	kmsg.DescribeUserSCRAMCredentials: clusterOnly(kmsg.ACLOperationDescribe),
	kmsg.CreateTopics:                 checkCreateTopics,
	kmsg.DeleteTopics:                 checkDeleteTopics,
	kmsg.InitProducerID:               checkInitProducerID,
	kmsg.JoinGroup:                    groupRead(func(r kmsg.Request) string { return r.(*kmsg.JoinGroupRequest).Group }),
	kmsg.SyncGroup:                    groupRead(func(r kmsg.Request) string { return r.(*kmsg.SyncGroupRequest).Group }),
	kmsg.Heartbeat:                    groupRead(func(r kmsg.Request) string { return r.(*kmsg.HeartbeatRequest).Group }),
	kmsg.LeaveGroup:                   groupRead(func(r kmsg.Request) string { return r.(*kmsg.LeaveGroupRequest).Group }),
	kmsg.OffsetCommit:                 checkOffsetCommit,
	kmsg.DescribeClientQuotas:         checkDescribeClientQuotas,
	kmsg.AlterClientQuotas:            checkAlterClientQuotas,
}

// Check authorizes req (of API key) for s.
func Check(s Subject, key kmsg.Key, req kmsg.Request) Verdict {
	c, ok := checks[key]
	if !ok {
		return Verdict{}
	}
	return c(s, req)
}

// setErrorCode sets the top-level error code of the responses whose
// denial is one code for the whole request.
func setErrorCode(resp kmsg.Response, code int16) {
	switch r := resp.(type) {
	case *kmsg.DescribeACLsResponse:
		r.ErrorCode = code
	case *kmsg.DescribeUserSCRAMCredentialsResponse:
		r.ErrorCode = code
	case *kmsg.JoinGroupResponse:
		r.ErrorCode = code
		r.MemberID = ""
		r.Generation = -1
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = code
	case *kmsg.HeartbeatResponse:
		r.ErrorCode = code
	case *kmsg.LeaveGroupResponse:
		r.ErrorCode = code
	case *kmsg.InitProducerIDResponse:
		r.ErrorCode = code
		r.ProducerID, r.ProducerEpoch = -1, -1
	case *kmsg.AlterPartitionAssignmentsResponse:
		r.ErrorCode = code
	case *kmsg.ListPartitionReassignmentsResponse:
		r.ErrorCode = code
	case *kmsg.DescribeLogDirsResponse:
		r.ErrorCode = code // v3+; older versions answer no directories
	case *kmsg.DescribeQuorumResponse:
		r.ErrorCode = code
	case *kmsg.ConsumerGroupHeartbeatResponse:
		r.ErrorCode = code
	}
}

// clusterOnly needs op on the cluster; a denial answers
// CLUSTER_AUTHORIZATION_FAILED for every entry of the request.
func clusterOnly(op Operation) check {
	return func(s Subject, req kmsg.Request) Verdict {
		if s.cluster(op) {
			return Verdict{}
		}
		code := kerr.ClusterAuthorizationFailed.Code
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
			switch r := resp.(type) {
			case *kmsg.CreateACLsResponse:
				for range req.(*kmsg.CreateACLsRequest).Creations {
					res := kmsg.NewCreateACLsResponseResult()
					res.ErrorCode = code
					r.Results = append(r.Results, res)
				}
			case *kmsg.DeleteACLsResponse:
				for range req.(*kmsg.DeleteACLsRequest).Filters {
					res := kmsg.NewDeleteACLsResponseResult()
					res.ErrorCode = code
					r.Results = append(r.Results, res)
				}
			case *kmsg.DescribeUserSCRAMCredentialsResponse:
				// As Kafka's getErrorResponse: a result per user asked
				// for, with the code and no name.
				r.ErrorCode = code
				for range req.(*kmsg.DescribeUserSCRAMCredentialsRequest).Users {
					res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
					res.ErrorCode = code
					r.Results = append(r.Results, res)
				}
			case *kmsg.AlterUserSCRAMCredentialsResponse:
				q := req.(*kmsg.AlterUserSCRAMCredentialsRequest)
				seen := map[string]bool{}
				add := func(u string) {
					if seen[u] {
						return
					}
					seen[u] = true
					res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
					res.User, res.ErrorCode = u, code
					r.Results = append(r.Results, res)
				}
				for _, d := range q.Deletions {
					add(d.Name)
				}
				for _, u := range q.Upsertions {
					add(u.Name)
				}
			default:
				setErrorCode(resp, code)
			}
		}}
	}
}

// groupRead needs READ on the group.
func groupRead(group func(kmsg.Request) string) check {
	return func(s Subject, req kmsg.Request) Verdict {
		if s.Allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, group(req)) {
			return Verdict{}
		}
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
			setErrorCode(resp, kerr.GroupAuthorizationFailed.Code)
		}}
	}
}

// topicByID names the topic of id in the image ("" when unknown).
func (s Subject) topicByID(id [16]byte) string {
	if t := s.Image.TopicsByID[metadata.TopicID(id)]; t != nil {
		return t.Name
	}
	return ""
}
