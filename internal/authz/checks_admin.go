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
	q := req.(*kmsg.ElectLeadersRequest)
	return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.ElectLeadersResponse)
		r.ErrorCode = clusterDenied
		for _, t := range q.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, clusterDenied
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}}
}

// checkWriteTxnMarkers: ALTER (not logged when refused) or
// CLUSTER_ACTION on the cluster (a coordinator's request), as Kafka.
func checkWriteTxnMarkers(s Subject, req kmsg.Request) Verdict {
	if s.visible(kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, ClusterName) || s.cluster(kmsg.ACLOperationClusterAction) {
		return Verdict{}
	}
	q := req.(*kmsg.WriteTxnMarkersRequest)
	return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.WriteTxnMarkersResponse)
		for _, m := range q.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, t := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition, rp.ErrorCode = p, clusterDenied
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			r.Markers = append(r.Markers, rm)
		}
	}}
}

// checkDeleteGroups: DELETE on each group.
func checkDeleteGroups(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DeleteGroupsRequest)
	var kept, denied []string
	for _, g := range q.Groups {
		if s.Allowed(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, g) {
			kept = append(kept, g)
		} else {
			denied = append(denied, g)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.Groups = kept
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range denied {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, groupDenied
			r.Groups = append(r.Groups, rg)
		}
	}}
}

// checkOffsetDelete: DELETE on the group, READ on each topic.
func checkOffsetDelete(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.OffsetDeleteRequest)
	if !s.Allowed(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, q.Group) {
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) { resp.(*kmsg.OffsetDeleteResponse).ErrorCode = groupDenied }}
	}
	var kept, denied []kmsg.OffsetDeleteRequestTopic
	for _, t := range q.Topics {
		if s.topic(kmsg.ACLOperationRead, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.Topics = kept
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.OffsetDeleteResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, topicDenied
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}}
}

// checkDescribeTransactions: DESCRIBE on each transactional id; a
// transaction's partitions are listed only for the topics the principal
// may describe, as Kafka.
func checkDescribeTransactions(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DescribeTransactionsRequest)
	var kept, denied []string
	for _, id := range q.TransactionalIDs {
		if s.Allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
			kept = append(kept, id)
		} else {
			denied = append(denied, id)
		}
	}
	q.TransactionalIDs = kept
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
		for _, id := range denied {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = id, txnDenied // the rest 0, as Kafka's
			r.TransactionStates = append(r.TransactionStates, st)
		}
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
	fill := func(r *kmsg.TxnOffsetCommitResponse, topics []kmsg.TxnOffsetCommitRequestTopic, code int16) {
		for _, t := range topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}
	whole := int16(0)
	switch {
	case !s.Allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, q.TransactionalID):
		whole = txnDenied
	case !s.Allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, q.Group):
		whole = groupDenied
	}
	if whole != 0 {
		topics := q.Topics
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) { fill(resp.(*kmsg.TxnOffsetCommitResponse), topics, whole) }}
	}
	var kept, denied []kmsg.TxnOffsetCommitRequestTopic
	for _, t := range q.Topics {
		if s.topic(kmsg.ACLOperationRead, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.Topics = kept
	return Verdict{Fix: func(resp kmsg.Response) { fill(resp.(*kmsg.TxnOffsetCommitResponse), denied, topicDenied) }}
}

// checkOffsetForLeaderEpoch: CLUSTER_ACTION on the cluster (not logged
// when refused) allows every topic, else DESCRIBE on each, whoever asks
// (Kafka does not look at the replica id: KIP-320 consumers use it too).
func checkOffsetForLeaderEpoch(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.OffsetForLeaderEpochRequest)
	fill := func(r *kmsg.OffsetForLeaderEpochResponse, topics []kmsg.OffsetForLeaderEpochRequestTopic, code int16) {
		for _, t := range topics {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, code, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}
	if s.visible(kmsg.ACLOperationClusterAction, kmsg.ACLResourceTypeCluster, ClusterName) {
		return Verdict{}
	}
	var kept, denied []kmsg.OffsetForLeaderEpochRequestTopic
	for _, t := range q.Topics {
		if s.topic(kmsg.ACLOperationDescribe, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.Topics = kept
	return Verdict{Fix: func(resp kmsg.Response) { fill(resp.(*kmsg.OffsetForLeaderEpochResponse), denied, topicDenied) }}
}

// checkDescribeProducers: READ on each topic.
func checkDescribeProducers(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DescribeProducersRequest)
	var kept, denied []kmsg.DescribeProducersRequestTopic
	for _, t := range q.Topics {
		if s.topic(kmsg.ACLOperationRead, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.Topics = kept
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.DescribeProducersResponse)
		for _, t := range denied {
			rt := kmsg.NewDescribeProducersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDescribeProducersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, topicDenied
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}}
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
	var kept, denied []string
	for _, g := range q.Groups {
		if s.Allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g) {
			kept = append(kept, g)
		} else {
			denied = append(denied, g)
		}
	}
	q.Groups = kept
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
		for _, g := range denied {
			rg := kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group, rg.ErrorCode = g, groupDenied
			r.Groups = append(r.Groups, rg)
		}
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
