package authz

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	topicDenied = kerr.TopicAuthorizationFailed.Code
	txnDenied   = kerr.TransactionalIDAuthorizationFailed.Code
)

// checkProduce: WRITE on the transactional id when a partition's first
// batch is transactional (else, or without a transactional id, every
// partition answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED: Kafka's
// RequestUtils.hasTransactionalRecords), and WRITE on each topic (else
// that topic's partitions answer TOPIC_AUTHORIZATION_FAILED).
func checkProduce(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.ProduceRequest)
	fill := func(r *kmsg.ProduceResponse, topics []kmsg.ProduceRequestTopic, code int16) {
		for _, t := range topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}
	if hasTransactionalBatch(q) && (q.TransactionID == nil || !s.Allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *q.TransactionID)) {
		topics := q.Topics
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) { fill(resp.(*kmsg.ProduceResponse), topics, txnDenied) }}
	}
	var kept, denied []kmsg.ProduceRequestTopic
	for _, t := range q.Topics {
		name := t.Topic
		if q.Version >= 13 {
			name = s.topicByID(t.TopicID)
		}
		if name == "" || s.topic(kmsg.ACLOperationWrite, name) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.Topics = kept
	return Verdict{Fix: func(resp kmsg.Response) { fill(resp.(*kmsg.ProduceResponse), denied, topicDenied) }}
}

// checkFetch: a follower's fetch needs CLUSTER_ACTION on the cluster; a
// consumer's, READ on each topic (else TOPIC_AUTHORIZATION_FAILED for
// its partitions).
func checkFetch(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.FetchRequest)
	fill := func(r *kmsg.FetchResponse, topics []kmsg.FetchRequestTopic) {
		for _, t := range topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, topicDenied
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rp.AbortedTransactions, rp.RecordBatches = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}, []byte{}
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}
	replica := q.ReplicaID
	if q.Version >= 15 {
		replica = q.ReplicaState.ID
	}
	if replica >= 0 {
		if s.cluster(kmsg.ACLOperationClusterAction) {
			return Verdict{}
		}
		topics := q.Topics
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) { fill(resp.(*kmsg.FetchResponse), topics) }}
	}
	var kept, denied []kmsg.FetchRequestTopic
	for _, t := range q.Topics {
		name := t.Topic
		if q.Version >= 13 {
			name = s.topicByID(t.TopicID)
		}
		if name == "" || s.topic(kmsg.ACLOperationRead, name) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	q.Topics = kept
	// An answer with errors goes out at once, as Kafka's does when no
	// authorized partition is left to wait for; the handler still runs,
	// so a fetch session keeps its epoch.
	q.MaxWaitMillis = 0
	return Verdict{Fix: func(resp kmsg.Response) { fill(resp.(*kmsg.FetchResponse), denied) }}
}

// checkMetadata: a topic the principal may not DESCRIBE is left out of
// an all-topics answer and answers TOPIC_AUTHORIZATION_FAILED when
// named (asked by id: with the id and no name, as Kafka); with
// auto-creation on, a named topic that does not exist needs CREATE
// (cluster or topic) too. Authorized operations, when asked for, are
// the principal's.
func checkMetadata(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.MetadataRequest)
	type refused struct {
		name string
		id   [16]byte // asked by id
	}
	var kept []kmsg.MetadataRequestTopic
	var denied []refused
	for _, t := range q.Topics {
		name, byID := "", false
		if t.Topic != nil {
			name = *t.Topic
		} else {
			name, byID = s.topicByID(t.TopicID), true
		}
		ok := name == "" || s.topic(kmsg.ACLOperationDescribe, name)
		if ok && name != "" && (q.Version < 4 || q.AllowAutoTopicCreation) && s.AutoCreate && s.Image.Topics[name] == nil {
			ok = s.cluster(kmsg.ACLOperationCreate) || s.topic(kmsg.ACLOperationCreate, name)
		}
		switch {
		case ok:
			kept = append(kept, t)
		case byID:
			denied = append(denied, refused{id: t.TopicID})
		default:
			denied = append(denied, refused{name: name})
		}
	}
	if q.Topics != nil {
		if kept == nil {
			kept = []kmsg.MetadataRequestTopic{}
		}
		q.Topics = kept
	}
	// In v0 an empty list means every topic: a request left with none
	// answers only its refused topics.
	noneKept := q.Version == 0 && len(denied) > 0 && len(kept) == 0
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.MetadataResponse)
		out := r.Topics[:0]
		for _, t := range r.Topics {
			if noneKept {
				break
			}
			if t.Topic == nil || s.visible(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, *t.Topic) {
				if t.Topic != nil {
					name := *t.Topic
					fixOperations(&t.AuthorizedOperations, func() int32 { return s.Operations(kmsg.ACLResourceTypeTopic, name) })
				}
				out = append(out, t)
			}
		}
		r.Topics = out
		fixOperations(&r.AuthorizedOperations, s.clusterOperations)
		for _, d := range denied {
			rt := kmsg.NewMetadataResponseTopic()
			if d.name != "" {
				n := d.name
				rt.Topic = &n
			} else {
				rt.TopicID = d.id
			}
			rt.ErrorCode = topicDenied
			rt.Partitions = []kmsg.MetadataResponseTopicPartition{}
			r.Topics = append(r.Topics, rt)
		}
	}}
}

// checkCreateTopics: CREATE on the cluster, or on each topic. A topic
// created without DESCRIBE_CONFIGS on it is answered without its
// configs, partition count and replication factor, and
// TOPIC_AUTHORIZATION_FAILED as its config error (as Kafka's
// controller).
func checkCreateTopics(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.CreateTopicsRequest)
	clusterCreate := s.cluster(kmsg.ACLOperationCreate)
	var kept []kmsg.CreateTopicsRequestTopic
	var denied []string
	hidden := map[string]bool{} // no DESCRIBE_CONFIGS
	for _, t := range q.Topics {
		if !s.visible(kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, t.Topic) {
			hidden[t.Topic] = true
		}
		if clusterCreate || s.topic(kmsg.ACLOperationCreate, t.Topic) {
			kept = append(kept, t)
		} else {
			denied = append(denied, t.Topic)
		}
	}
	if len(denied) == 0 && len(hidden) == 0 {
		return Verdict{}
	}
	q.Topics = kept
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.CreateTopicsResponse)
		for i := range r.Topics {
			t := &r.Topics[i]
			if t.ErrorCode == 0 && hidden[t.Topic] {
				t.ConfigErrorCode, t.Configs = topicDenied, []kmsg.CreateTopicsResponseTopicConfig{}
				t.NumPartitions, t.ReplicationFactor = -1, -1
			}
		}
		for _, name := range denied {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = name, topicDenied
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			rt.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
			r.Topics = append(r.Topics, rt)
		}
	}}
}

// checkDeleteTopics: DELETE on the cluster, or on each topic, as Kafka's
// controller: a topic named without DESCRIBE is refused whether it
// exists or not; one the principal may describe but that does not exist
// is left to the handler (UNKNOWN_TOPIC_OR_PARTITION); one asked by id is
// refused without its name unless the principal may describe it.
func checkDeleteTopics(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.DeleteTopicsRequest)
	if s.visible(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeCluster, ClusterName) {
		return Verdict{}
	}
	var denied []kmsg.DeleteTopicsResponseTopic
	deny := func(name string, id [16]byte, byID bool) bool {
		if name == "" {
			return false // an unknown id: the handler's UNKNOWN_TOPIC_ID
		}
		describable := s.topic(kmsg.ACLOperationDescribe, name)
		if describable && (s.Image.Topics[name] == nil || s.topic(kmsg.ACLOperationDelete, name)) {
			return false
		}
		rt := kmsg.NewDeleteTopicsResponseTopic()
		if !byID || describable {
			n := name
			rt.Topic = &n
		}
		rt.TopicID, rt.ErrorCode = id, topicDenied
		denied = append(denied, rt)
		return true
	}
	if q.Version >= 6 {
		var kept []kmsg.DeleteTopicsRequestTopic
		for _, t := range q.Topics {
			name, byID := s.topicByID(t.TopicID), true
			if t.Topic != nil {
				name, byID = *t.Topic, false
			}
			if !deny(name, t.TopicID, byID) {
				kept = append(kept, t)
			}
		}
		q.Topics = kept
	} else {
		var kept []string
		for _, name := range q.TopicNames {
			if !deny(name, [16]byte{}, false) {
				kept = append(kept, name)
			}
		}
		q.TopicNames = kept
	}
	if len(denied) == 0 {
		return Verdict{}
	}
	return Verdict{Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.DeleteTopicsResponse)
		r.Topics = append(r.Topics, denied...)
	}}
}

// checkInitProducerID: WRITE on the transactional id; without one,
// IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
func checkInitProducerID(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.InitProducerIDRequest)
	if q.TransactionalID != nil {
		if s.Allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *q.TransactionalID) {
			return Verdict{}
		}
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) { setErrorCode(resp, txnDenied) }}
	}
	if s.cluster(kmsg.ACLOperationIdempotentWrite) || s.anyTopicWrite() {
		return Verdict{}
	}
	return Verdict{Deny: true, Fix: func(resp kmsg.Response) { setErrorCode(resp, kerr.ClusterAuthorizationFailed.Code) }}
}

// anyTopicWrite is Kafka's authorizeByResourceType(TOPIC, WRITE): some
// ALLOW of WRITE (or ALL) on a topic pattern for this principal and
// host that no DENY covers.
func (s Subject) anyTopicWrite() bool {
	if s.Authorizer.superUsers[s.Principal] {
		return true
	}
	if s.Authorizer.allowEmpty && !s.hasTopicACLs() {
		return true
	}
	for _, acl := range s.Image.ACLs {
		if ResourceType(acl.ResourceType) != kmsg.ACLResourceTypeTopic || kmsg.ACLPermissionType(acl.Permission) != kmsg.ACLPermissionTypeAllow {
			continue
		}
		if !implies(Operation(acl.Operation), kmsg.ACLOperationWrite) || !s.entryMatches(acl.Principal, acl.Host) {
			continue
		}
		// The pattern's own name stands for the topics it covers: a DENY
		// that would refuse it refuses them all.
		if s.visible(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, acl.ResourceName) {
			return true
		}
	}
	return false
}

func (s Subject) entryMatches(principal, host string) bool {
	return (principal == s.Principal || principal == AnyUser) && (host == s.Host || host == Wildcard)
}

// checkOffsetCommit: READ on the group (else every partition answers
// GROUP_AUTHORIZATION_FAILED) and READ on each topic.
func checkOffsetCommit(s Subject, req kmsg.Request) Verdict {
	q := req.(*kmsg.OffsetCommitRequest)
	fill := func(r *kmsg.OffsetCommitResponse, topics []kmsg.OffsetCommitRequestTopic, code int16) {
		for _, t := range topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	}
	if !s.Allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, q.Group) {
		topics := q.Topics
		return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
			fill(resp.(*kmsg.OffsetCommitResponse), topics, kerr.GroupAuthorizationFailed.Code)
		}}
	}
	var kept, denied []kmsg.OffsetCommitRequestTopic
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
	return Verdict{Fix: func(resp kmsg.Response) { fill(resp.(*kmsg.OffsetCommitResponse), denied, topicDenied) }}
}

func (s Subject) hasTopicACLs() bool {
	for _, acl := range s.Image.ACLs {
		if ResourceType(acl.ResourceType) == kmsg.ACLResourceTypeTopic {
			return true
		}
	}
	return false
}

// hasTransactionalBatch reports whether the first whole batch of some
// partition of q is a transactional v2 batch.
func hasTransactionalBatch(q *kmsg.ProduceRequest) bool {
	const (
		lengthAt, magicAt, attrsAt = 8, 16, 21
		headerSize                 = 61 // a v2 batch header
		transactional              = 0x10
	)
	for _, t := range q.Topics {
		for _, p := range t.Partitions {
			b := p.Records
			if len(b) < headerSize || b[magicAt] != 2 {
				continue
			}
			if n := int(binary.BigEndian.Uint32(b[lengthAt:])); n < 0 || 12+n > len(b) {
				continue
			}
			if binary.BigEndian.Uint16(b[attrsAt:])&transactional != 0 {
				return true
			}
		}
	}
	return false
}
