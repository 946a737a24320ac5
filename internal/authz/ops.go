package authz

import (
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// NotRequested is the value of an authorized-operations field a request
// did not ask for (Kafka's schema default, Integer.MIN_VALUE).
const NotRequested int32 = math.MinInt32

// supportedOps are the operations each resource type supports (Kafka's
// AclEntry.supportedOperations): the candidates of an
// authorized-operations bit field.
var supportedOps = map[ResourceType][]Operation{
	kmsg.ACLResourceTypeTopic: {kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs},
	kmsg.ACLResourceTypeGroup: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs},
	kmsg.ACLResourceTypeCluster: {kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe},
	kmsg.ACLResourceTypeTransactionalId: {kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite},
	kmsg.ACLResourceTypeDelegationToken: {kmsg.ACLOperationDescribe},
	kmsg.ACLResourceTypeUser:            {kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens},
}

// AllOperations is the bit field of every operation typ supports: what
// Kafka answers without an authorizer.
func AllOperations(typ ResourceType) int32 {
	var bits int32
	for _, op := range supportedOps[typ] {
		bits |= 1 << uint(op)
	}
	return bits
}

// Operations is the bit field of the operations s may perform on the
// resource typ/name, among those typ supports (Kafka's
// AuthHelper.authorizedOperations, Utils.to32BitField). Nothing is
// logged: a field that says what is not allowed is no denial.
func (s Subject) Operations(typ ResourceType, name string) int32 {
	var bits int32
	for _, op := range supportedOps[typ] {
		if s.visible(op, typ, name) {
			bits |= 1 << uint(op)
		}
	}
	return bits
}

// clusterOperations is the cluster's field as Kafka's Metadata and
// DescribeCluster give it: 0 without DESCRIBE on the cluster (a
// refusal, logged), else the operations allowed.
func (s Subject) clusterOperations() int32 {
	if !s.cluster(kmsg.ACLOperationDescribe) {
		return 0
	}
	return s.Operations(kmsg.ACLResourceTypeCluster, ClusterName)
}

// fixOperations replaces ops, set by a handler to every operation (as
// without an authorizer), by the operations s may perform; a field left
// at NotRequested stays so.
func fixOperations(ops *int32, f func() int32) {
	if *ops != NotRequested {
		*ops = f()
	}
}

func init() {
	checks[kmsg.DescribeCluster] = checkDescribeCluster
	checks[kmsg.DescribeTopicPartitions] = checkDescribeTopicPartitions
}

// checkDescribeCluster: the request needs nothing (as Kafka); the
// cluster's authorized operations are 0 without DESCRIBE on the cluster.
func checkDescribeCluster(s Subject, _ kmsg.Request) Verdict {
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.DescribeClusterResponse)
		fixOperations(&r.ClusterAuthorizedOperations, s.clusterOperations)
	}}
}

// checkDescribeTopicPartitions: DESCRIBE on each topic, decided by the
// handler as it pages through them (Verdict.Visible): left out of an
// all-topics answer, TOPIC_AUTHORIZATION_FAILED when named; the topic
// authorized operations are the principal's.
func checkDescribeTopicPartitions(s Subject, _ kmsg.Request) Verdict {
	return Verdict{
		Visible: func(topic string) bool { return s.topic(kmsg.ACLOperationDescribe, topic) },
		Fix: func(resp kmsg.Response) {
			r := resp.(*kmsg.DescribeTopicPartitionsResponse)
			for i := range r.Topics {
				t := &r.Topics[i]
				if t.Topic != nil {
					name := *t.Topic
					fixOperations(&t.AuthorizedOperations, func() int32 { return s.Operations(kmsg.ACLResourceTypeTopic, name) })
				}
			}
		},
	}
}
