package authz

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	checks[kmsg.ElectLeaders] = checkElectLeaders
	checks[kmsg.AlterPartitionAssignments] = clusterOnly(kmsg.ACLOperationAlter)
	checks[kmsg.ListPartitionReassignments] = clusterOnly(kmsg.ACLOperationDescribe)
	checks[kmsg.DescribeLogDirs] = clusterOnly(kmsg.ACLOperationDescribe)
	checks[kmsg.DescribeQuorum] = clusterOnly(kmsg.ACLOperationDescribe)
	checks[kmsg.WriteTxnMarkers] = checkWriteTxnMarkers
	checks[kmsg.DeleteGroups] = checkDeleteGroups
	checks[kmsg.OffsetDelete] = checkOffsetDelete
	checks[kmsg.DescribeTransactions] = checkDescribeTransactions
	checks[kmsg.ListTransactions] = checkListTransactions
	checks[kmsg.TxnOffsetCommit] = checkTxnOffsetCommit
	checks[kmsg.OffsetForLeaderEpoch] = checkOffsetForLeaderEpoch
	checks[kmsg.DescribeProducers] = checkDescribeProducers
	checks[kmsg.ConsumerGroupHeartbeat] = checkConsumerGroupHeartbeat
	checks[kmsg.ConsumerGroupDescribe] = checkConsumerGroupDescribe
}

// checkElectLeaders: ALTER on the cluster; a refusal is the top-level
// code and every named partition's.
func checkElectLeaders(s Subject, req kmsg.Request) Verdict {
	if s.cluster(kmsg.ACLOperationAlter) {
		return Verdict{}
	}
	return denyAll(req, clusterDenied)
}

// checkWriteTxnMarkers: ALTER (not logged when refused) or
// CLUSTER_ACTION on the cluster (a coordinator's request), as Kafka.
func checkWriteTxnMarkers(s Subject, req kmsg.Request) Verdict {
	if s.visible(kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, ClusterName) || s.cluster(kmsg.ACLOperationClusterAction) {
		return Verdict{}
	}
	return denyAll(req, clusterDenied)
}

// checkDeleteGroups: DELETE on each group.
func checkDeleteGroups(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DeleteGroupsRequest)
	kept, denied := split(q.Groups, func(g string) bool { return s.Allowed(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, g) })
	if len(denied) == 0 {
		return Verdict{}
	}
	refused := *q
	q.Groups, refused.Groups = kept, denied
	return refusePart(&refused, groupDenied)
}

// checkOffsetDelete: DELETE on the group, READ on each topic.
func checkOffsetDelete(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.OffsetDeleteRequest)
	if !s.Allowed(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, q.Group) {
		return denyCode(groupDenied)
	}
	kept, denied := split(q.Topics, func(t kmsg.OffsetDeleteRequestTopic) bool { return s.topic(kmsg.ACLOperationRead, t.Topic) })
	if len(denied) == 0 {
		return Verdict{}
	}
	refused := *q
	q.Topics, refused.Topics = kept, denied
	return refusePart(&refused, topicDenied)
}

// checkDescribeTransactions: DESCRIBE on each transactional id; a
// transaction's partitions are listed only for the topics the principal
// may describe, as Kafka.
func checkDescribeTransactions(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DescribeTransactionsRequest)
	kept, denied := split(q.TransactionalIDs, func(id string) bool {
		return s.Allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id)
	})
	refused := *q
	q.TransactionalIDs, refused.TransactionalIDs = kept, denied
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.DescribeTransactionsResponse)
		for i := range r.TransactionStates {
			st := &r.TransactionStates[i]
			out := st.Topics[:0]
			for _, t := range st.Topics {
				if s.topic(kmsg.ACLOperationDescribe, t.Topic) {
					out = append(out, t)
				}
			}
			st.Topics = out
		}
		refuse(&refused, r, txnDenied)
	}}
}

// checkListTransactions: only the transactional ids the principal may
// describe.
func checkListTransactions(s Subject, _ kmsg.Request) Verdict {
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.ListTransactionsResponse)
		out := r.TransactionStates[:0]
		for _, st := range r.TransactionStates {
			if s.visible(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, st.TransactionalID) {
				out = append(out, st)
			}
		}
		r.TransactionStates = out
	}}
}

// checkTxnOffsetCommit: WRITE on the transactional id and READ on the
// group (else every partition answers with that refusal), READ on each
// topic.
func checkTxnOffsetCommit(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.TxnOffsetCommitRequest)
	whole := int16(0)
	switch {
	case !s.Allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, q.TransactionalID):
		whole = txnDenied
	case !s.Allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, q.Group):
		whole = groupDenied
	}
	if whole != 0 {
		return denyAll(q, whole)
	}
	kept, denied := split(q.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool { return s.topic(kmsg.ACLOperationRead, t.Topic) })
	if len(denied) == 0 {
		return Verdict{}
	}
	refused := *q
	q.Topics, refused.Topics = kept, denied
	return refusePart(&refused, topicDenied)
}

// checkOffsetForLeaderEpoch: CLUSTER_ACTION on the cluster (not logged
// when refused) allows every topic, else DESCRIBE on each, whoever asks
// (Kafka does not look at the replica id: KIP-320 consumers use it too).
func checkOffsetForLeaderEpoch(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.OffsetForLeaderEpochRequest)
	if s.visible(kmsg.ACLOperationClusterAction, kmsg.ACLResourceTypeCluster, ClusterName) {
		return Verdict{}
	}
	kept, denied := split(q.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) bool { return s.topic(kmsg.ACLOperationDescribe, t.Topic) })
	if len(denied) == 0 {
		return Verdict{}
	}
	refused := *q
	q.Topics, refused.Topics = kept, denied
	return refusePart(&refused, topicDenied)
}

// checkDescribeProducers: READ on each topic.
func checkDescribeProducers(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DescribeProducersRequest)
	kept, denied := split(q.Topics, func(t kmsg.DescribeProducersRequestTopic) bool { return s.topic(kmsg.ACLOperationRead, t.Topic) })
	if len(denied) == 0 {
		return Verdict{}
	}
	refused := *q
	q.Topics, refused.Topics = kept, denied
	return refusePart(&refused, topicDenied)
}

// checkConsumerGroupHeartbeat: READ on the group, and DESCRIBE on each
// subscribed topic (else the whole request answers
// TOPIC_AUTHORIZATION_FAILED, as Kafka 4.1).
func checkConsumerGroupHeartbeat(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.ConsumerGroupHeartbeatRequest)
	if v := groupRead(func(kmsg.Request) string { return q.Group })(s, req); v.Deny {
		return v
	}
	for _, t := range q.SubscribedTopicNames {
		if !s.topic(kmsg.ACLOperationDescribe, t) {
			return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
				r := resp.(*kmsg.ConsumerGroupHeartbeatResponse)
				r.ErrorCode = topicDenied
				msg := "The group has subscribed topics that the client is not authorized to describe."
				r.ErrorMessage = &msg
			}}
		}
	}
	return Verdict{}
}

// checkConsumerGroupDescribe: DESCRIBE on each group; a group whose
// members' assignments name a topic the principal may not DESCRIBE
// answers TOPIC_AUTHORIZATION_FAILED with no members (Kafka 4.1);
// authorized operations, when asked for, are the principal's.
func checkConsumerGroupDescribe(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.ConsumerGroupDescribeRequest)
	kept, denied := split(q.Groups, func(g string) bool { return s.Allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g) })
	refused := *q
	q.Groups, refused.Groups = kept, denied
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.ConsumerGroupDescribeResponse)
		for i := range r.Groups {
			g := &r.Groups[i]
			if g.ErrorCode != 0 {
				continue
			}
			if s.describesAssignedTopics(g) {
				fixOperations(&g.AuthorizedOperations, func() int32 { return s.Operations(kmsg.ACLResourceTypeGroup, g.Group) })
				continue
			}
			rg := kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, topicDenied
			msg := "The group has described topic(s) that the client is not authorized to describe."
			rg.ErrorMessage = &msg
			rg.Members = []kmsg.ConsumerGroupDescribeResponseGroupMember{}
			*g = rg
		}
		refuse(&refused, r, groupDenied)
	}}
}

// describesAssignedTopics reports whether s may DESCRIBE every topic in
// the current and target assignments of g's members.
func (s Subject) describesAssignedTopics(g *kmsg.ConsumerGroupDescribeResponseGroup) bool {
	for _, m := range g.Members {
		for _, a := range []kmsg.Assignment{m.Assignment, m.TargetAssignment} {
			for _, tp := range a.TopicPartitions {
				if !s.visible(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, tp.Topic) {
					return false
				}
			}
		}
	}
	return true
}
