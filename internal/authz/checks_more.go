package authz

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
)

var (
	groupDenied   = kerr.GroupAuthorizationFailed.Code
	clusterDenied = kerr.ClusterAuthorizationFailed.Code
)

func init() {
	checks[kmsg.ListOffsets] = checkListOffsets
	checks[kmsg.OffsetFetch] = checkOffsetFetch
	checks[kmsg.DescribeGroups] = checkDescribeGroups
	checks[kmsg.ListGroups] = checkListGroups
	checks[kmsg.FindCoordinator] = checkFindCoordinator
	checks[kmsg.DescribeConfigs] = configsCheck(kmsg.ACLOperationDescribeConfigs)
	checks[kmsg.AlterConfigs] = configsCheck(kmsg.ACLOperationAlterConfigs)
	checks[kmsg.IncrementalAlterConfigs] = configsCheck(kmsg.ACLOperationAlterConfigs)
	checks[kmsg.CreatePartitions] = checkCreatePartitions
	checks[kmsg.DeleteRecords] = checkDeleteRecords
	checks[kmsg.EndTxn] = txnWrite(func(r kmsg.Request) string { return r.(*kmsg.EndTxnRequest).TransactionalID })
	checks[kmsg.AddOffsetsToTxn] = checkAddOffsetsToTxn
	checks[kmsg.AddPartitionsToTxn] = checkAddPartitionsToTxn
}

// checkListOffsets: DESCRIBE on each topic.
func checkListOffsets(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.ListOffsetsRequest)
	var kept, denied []kmsg.ListOffsetsRequestTopic
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
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range denied {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, topicDenied
				rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}}
}

// checkOffsetFetch: DESCRIBE on the group (else GROUP_AUTHORIZATION_FAILED
// for it) and on each topic: a topic the principal may not describe is
// left out of an all-topics answer and its partitions answer
// TOPIC_AUTHORIZATION_FAILED when named.
func checkOffsetFetch(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.OffsetFetchRequest)
	groupOK := func(g string) bool { return s.Allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g) }
	if q.Version < 8 && !groupOK(q.Group) {
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
			resp.(*kmsg.OffsetFetchResponse).ErrorCode = groupDenied
		}}
	}
	named := map[string]bool{} // v8+: the groups asked for named topics
	for _, g := range q.Groups {
		if g.Topics != nil {
			named[g.Group] = true
		}
	}
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.OffsetFetchResponse)
		if q.Version < 8 {
			out := r.Topics[:0]
			for _, t := range r.Topics {
				if s.topic(kmsg.ACLOperationDescribe, t.Topic) {
					out = append(out, t)
				} else if q.Topics != nil {
					for i := range t.Partitions {
						t.Partitions[i].ErrorCode, t.Partitions[i].Offset, t.Partitions[i].Metadata = topicDenied, -1, kmsg.StringPtr("")
						t.Partitions[i].LeaderEpoch = -1
					}
					out = append(out, t)
				}
			}
			r.Topics = out
			return
		}
		for gi := range r.Groups {
			g := &r.Groups[gi]
			if !groupOK(g.Group) {
				g.ErrorCode, g.Topics = groupDenied, nil
				continue
			}
			out := g.Topics[:0]
			for _, t := range g.Topics {
				if s.visible(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t.Topic) {
					out = append(out, t)
				} else if named[g.Group] {
					// Kafka's UNAUTHORIZED_PARTITION.
					for i := range t.Partitions {
						p := &t.Partitions[i]
						p.ErrorCode, p.Offset, p.LeaderEpoch, p.Metadata = topicDenied, -1, -1, kmsg.StringPtr("")
					}
					out = append(out, t)
				}
			}
			g.Topics = out
		}
	}}
}

// checkDescribeGroups: DESCRIBE on each group; authorized operations,
// when asked for, are the principal's.
func checkDescribeGroups(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DescribeGroupsRequest)
	var kept, denied []string
	for _, g := range q.Groups {
		if s.Allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g) {
			kept = append(kept, g)
		} else {
			denied = append(denied, g)
		}
	}
	if len(denied) == 0 && !q.IncludeAuthorizedOperations {
		return Verdict{}
	}
	q.Groups = kept
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.DescribeGroupsResponse)
		for i := range r.Groups {
			g := &r.Groups[i]
			fixOperations(&g.AuthorizedOperations, func() int32 { return s.Operations(kmsg.ACLResourceTypeGroup, g.Group) })
		}
		for _, g := range denied {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, groupDenied
			r.Groups = append(r.Groups, rg)
		}
	}}
}

// checkListGroups: all groups with DESCRIBE on the cluster, else those
// the principal may describe.
func checkListGroups(s Subject, _ kmsg.Request) Verdict {
	if s.cluster(kmsg.ACLOperationDescribe) {
		return Verdict{}
	}
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.ListGroupsResponse)
		out := r.Groups[:0]
		for _, g := range r.Groups {
			if s.visible(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.Group) {
				out = append(out, g)
			}
		}
		r.Groups = out
	}}
}

// checkFindCoordinator: DESCRIBE on the group or transactional id.
func checkFindCoordinator(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.FindCoordinatorRequest)
	typ, code := kmsg.ACLResourceTypeGroup, groupDenied
	switch q.CoordinatorType {
	case 0:
	case 1:
		typ, code = kmsg.ACLResourceTypeTransactionalId, txnDenied
	default:
		return Verdict{} // the handler refuses the type
	}
	ok := func(k string) bool { return s.Allowed(kmsg.ACLOperationDescribe, typ, k) }
	if q.Version < 4 {
		if ok(q.CoordinatorKey) {
			return Verdict{}
		}
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
			r := resp.(*kmsg.FindCoordinatorResponse)
			r.ErrorCode, r.NodeID, r.Port = code, -1, -1
		}}
	}
	var kept, denied []string
	for _, k := range q.CoordinatorKeys {
		if ok(k) {
			kept = append(kept, k)
		} else {
			denied = append(denied, k)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.CoordinatorKeys = kept
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.FindCoordinatorResponse)
		for _, k := range denied {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
			r.Coordinators = append(r.Coordinators, c)
		}
	}}
}

// configsCheck: op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on each topic or
// group, or on the cluster for broker, broker-logger and client-metrics
// resources (Kafka's ConfigHelper).
func configsCheck(op Operation) check {
	return func(s Subject, req kmsg.Request) Verdict {
		type res struct {
			typ  kmsg.ConfigResourceType
			name string
			code int16
		}
		var denied []res
		ok := func(typ kmsg.ConfigResourceType, name string) bool {
			switch typ {
			case kmsg.ConfigResourceTypeTopic:
				if !s.topic(op, name) {
					denied = append(denied, res{typ, name, topicDenied})
					return false
				}
			case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeClientMetrics:
				if !s.cluster(op) {
					denied = append(denied, res{typ, name, clusterDenied})
					return false
				}
			case kmsg.ConfigResourceTypeGroupConfig:
				if !s.Allowed(op, kmsg.ACLResourceTypeGroup, name) {
					denied = append(denied, res{typ, name, groupDenied})
					return false
				}
			}
			return true
		}
		switch q := req.(type) {
		case *kmsg.DescribeConfigsRequest:
			kept := q.Resources[:0]
			for _, r := range q.Resources {
				if ok(r.ResourceType, r.ResourceName) {
					kept = append(kept, r)
				}
			}
			q.Resources = kept
		case *kmsg.AlterConfigsRequest:
			kept := q.Resources[:0]
			for _, r := range q.Resources {
				if ok(r.ResourceType, r.ResourceName) {
					kept = append(kept, r)
				}
			}
			q.Resources = kept
		case *kmsg.IncrementalAlterConfigsRequest:
			kept := q.Resources[:0]
			for _, r := range q.Resources {
				if ok(r.ResourceType, r.ResourceName) {
					kept = append(kept, r)
				}
			}
			q.Resources = kept
		}
		if len(denied) == 0 {
			return Verdict{}
		}
		return Verdict{Fix: func(resp kmsg.Response) {
			for _, d := range denied {
				switch r := resp.(type) {
				case *kmsg.DescribeConfigsResponse:
					x := kmsg.NewDescribeConfigsResponseResource()
					x.ResourceType, x.ResourceName, x.ErrorCode = d.typ, d.name, d.code
					r.Resources = append(r.Resources, x)
				case *kmsg.AlterConfigsResponse:
					x := kmsg.NewAlterConfigsResponseResource()
					x.ResourceType, x.ResourceName, x.ErrorCode = d.typ, d.name, d.code
					r.Resources = append(r.Resources, x)
				case *kmsg.IncrementalAlterConfigsResponse:
					x := kmsg.NewIncrementalAlterConfigsResponseResource()
					x.ResourceType, x.ResourceName, x.ErrorCode = d.typ, d.name, d.code
					r.Resources = append(r.Resources, x)
				}
			}
		}}
	}
}

// checkCreatePartitions: ALTER on each topic.
func checkCreatePartitions(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.CreatePartitionsRequest)
	var kept []kmsg.CreatePartitionsRequestTopic
	var denied []string
	for _, t := range q.Topics {
		if s.topic(kmsg.ACLOperationAlter, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t.Topic)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.Topics = kept
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.CreatePartitionsResponse)
		for _, name := range denied {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = name, topicDenied
			r.Topics = append(r.Topics, rt)
		}
	}}
}

// checkDeleteRecords: DELETE on each topic.
func checkDeleteRecords(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DeleteRecordsRequest)
	var kept, denied []kmsg.DeleteRecordsRequestTopic
	for _, t := range q.Topics {
		if s.topic(kmsg.ACLOperationDelete, t.Topic) {
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
		r := resp.(*kmsg.DeleteRecordsResponse)
		for _, t := range denied {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, topicDenied, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}}
}

// txnWrite needs WRITE on the transactional id.
func txnWrite(id func(kmsg.Request) string) check {
	return func(s Subject, req kmsg.Request) Verdict {
		if s.Allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, id(req)) {
			return Verdict{}
		}
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
			switch r := resp.(type) {
			case *kmsg.EndTxnResponse:
				r.ErrorCode = txnDenied
			case *kmsg.AddOffsetsToTxnResponse:
				r.ErrorCode = txnDenied
			}
		}}
	}
}

// checkAddPartitionsToTxn: a client's request (v0-3) needs WRITE on the
// transactional id, else every partition answers
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED; a broker's batch (v4+)
// CLUSTER_ACTION on the cluster.
func checkAddPartitionsToTxn(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.AddPartitionsToTxnRequest)
	if q.Version >= 4 {
		if s.cluster(kmsg.ACLOperationClusterAction) {
			return Verdict{}
		}
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
			resp.(*kmsg.AddPartitionsToTxnResponse).ErrorCode = clusterDenied
		}}
	}
	topics := q.Topics
	fill := func(code func(topic string, partition int32) int16) Verdict {
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
			r := resp.(*kmsg.AddPartitionsToTxnResponse)
			for _, t := range topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, code(t.Topic, p)
					rt.Partitions = append(rt.Partitions, rp)
				}
				r.Topics = append(r.Topics, rt)
			}
		}}
	}
	if !s.Allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, q.TransactionalID) {
		return fill(func(string, int32) int16 { return txnDenied })
	}
	// WRITE on each topic, as Kafka: an internal topic is never
	// authorized; one refusal fails the whole request, the partitions of
	// unknown topics UNKNOWN_TOPIC_OR_PARTITION, the others
	// OPERATION_NOT_ATTEMPTED.
	denied := map[string]bool{}
	for _, t := range topics {
		if metadata.IsInternal(t.Topic) || !s.topic(kmsg.ACLOperationWrite, t.Topic) {
			denied[t.Topic] = true
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	return fill(func(topic string, partition int32) int16 {
		switch {
		case denied[topic]:
			return topicDenied
		case !s.partitionExists(topic, partition):
			return kerr.UnknownTopicOrPartition.Code
		}
		return kerr.OperationNotAttempted.Code
	})
}

// partitionExists reports whether the image has partition p of topic.
func (s Subject) partitionExists(topic string, p int32) bool {
	t := s.Image.Topics[topic]
	if t == nil {
		return false
	}
	for _, part := range t.Partitions {
		if part.Index == p {
			return true
		}
	}
	return false
}

// checkAddOffsetsToTxn: WRITE on the transactional id, then READ on the
// group (GROUP_AUTHORIZATION_FAILED), as Kafka.
func checkAddOffsetsToTxn(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.AddOffsetsToTxnRequest)
	if v := txnWrite(func(kmsg.Request) string { return q.TransactionalID })(s, req); v.Deny {
		return v
	}
	if s.Allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, q.Group) {
		return Verdict{}
	}
	return Verdict{Deny: true, Fix: func(resp kmsg.Response) { resp.(*kmsg.AddOffsetsToTxnResponse).ErrorCode = groupDenied }}
}
