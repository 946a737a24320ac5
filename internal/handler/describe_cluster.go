package handler

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-2.
//
// Answers from the metadata image: cluster id, controller id and every
// broker with its advertised address (the same as Metadata gives). v1+
// names the endpoint type: a broker serves the BROKERS type (1); asking a
// broker for CONTROLLERS (2) is MISMATCHED_ENDPOINT_TYPE and any other
// type UNSUPPORTED_ENDPOINT_TYPE, as in Kafka. v2's fenced brokers are
// never listed: the image holds only registered, unfenced ones.
//
// With no authorizer every cluster operation is allowed, so requested
// authorized operations are all of the cluster's supported ones.

func init() { register(kmsg.DescribeCluster, 0, 2, serveDescribeCluster) }

const (
	endpointBrokers     int8 = 1
	endpointControllers int8 = 2
)

// clusterOperations is the bit set of ACL operations Kafka supports on the
// CLUSTER resource: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
const clusterOperations int32 = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

// topicOperations are the operations on a TOPIC resource: READ, WRITE,
// CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS. Strom
// has no ACLs, so a client asking is allowed all of them, as on a Kafka
// without an authorizer.
const topicOperations int32 = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11

// groupOperations are the operations on a GROUP resource: READ, DELETE,
// DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const groupOperations int32 = 1<<3 | 1<<6 | 1<<8 | 1<<10 | 1<<11

func serveDescribeCluster(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 {
		resp.EndpointType = endpointBrokers
		switch req.EndpointType {
		case endpointBrokers:
		case endpointControllers:
			resp.ErrorCode = kerr.MismatchedEndpointType.Code
			resp.ErrorMessage = errMsg(fmt.Errorf("the request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"))
			return Now(resp)
		default:
			resp.ErrorCode = kerr.UnsupportedEndpointType.Code
			resp.ErrorMessage = errMsg(fmt.Errorf("unsupported endpoint type %d", req.EndpointType))
			return Now(resp)
		}
	}
	im := e.Ctrl.Image()
	resp.ClusterID = im.ClusterID
	resp.ControllerID = int32(im.ControllerID)
	for _, b := range im.Brokers {
		sb := kmsg.NewDescribeClusterResponseBroker()
		sb.Host, sb.Port = b.Address(r.Listener)
		sb.NodeID, sb.Rack = int32(b.ID), b.Rack
		resp.Brokers = append(resp.Brokers, sb)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	return Now(resp)
}
