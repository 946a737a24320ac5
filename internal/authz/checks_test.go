package authz

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
)

// TestChecksRefuseWithKafkasCodes runs every check of the table on a
// request naming one topic, group, transactional id or resource, as a
// principal without ACLs: the answer (refused whole, or served and
// completed) carries an authorization error somewhere, and a super user
// passes untouched.
func TestChecksRefuseWithKafkasCodes(t *testing.T) {
	im := &metadata.Image{Topics: map[string]*metadata.Topic{}, TopicsByID: map[metadata.TopicID]*metadata.Topic{}}
	nobody := Subject{Authorizer: New(Config{SuperUsers: []string{"User:root"}}), Image: im, Principal: "User:a", Host: "h"}
	root := nobody
	root.Principal = "User:root"
	for key := range checks {
		for _, v := range []int16{0, key.Request().MaxVersion()} {
			req := fill(key, v)
			if ver := root.check(key, req); ver.Deny {
				t.Errorf("%s v%d: super user refused", key.Name(), v)
			}
			// Listings are only filtered; an OffsetFetch v8+ group refused
			// is marked in the handler's answer; a topic id this image
			// does not know is the handler's UNKNOWN_TOPIC_ID.
			// DescribeCluster needs nothing (as Kafka); DescribeTopicPartitions
			// is refused by its handler through Verdict.Visible.
			if key == kmsg.DescribeCluster || key == kmsg.DescribeTopicPartitions {
				continue
			}
			if key == kmsg.ListGroups || key == kmsg.ListTransactions || (key == kmsg.OffsetFetch && v >= 8) ||
				((key == kmsg.Produce || key == kmsg.Fetch) && v >= 13) {
				continue
			}
			req = fill(key, v)
			ver := nobody.check(key, req)
			resp := req.ResponseKind()
			if ver.Fix == nil {
				t.Errorf("%s v%d: nothing refused", key.Name(), v)
				continue
			}
			ver.Fix(resp)
			if !hasAuthError(resp) && key != kmsg.Metadata {
				t.Errorf("%s v%d: no authorization error in %+v", key.Name(), v, resp)
			}
		}
	}
}

func (s Subject) check(key kmsg.Key, req kmsg.Request) Verdict { return Check(s, key, req) }

// fill makes a request of key naming one of everything.
func fill(key kmsg.Key, v int16) kmsg.Request {
	name := "x"
	req := key.Request()
	req.SetVersion(v)
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		t := kmsg.NewProduceRequestTopic()
		t.Topic, t.Partitions = name, []kmsg.ProduceRequestTopicPartition{kmsg.NewProduceRequestTopicPartition()}
		r.Topics, r.Acks = append(r.Topics, t), -1
	case *kmsg.FetchRequest:
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.Partitions = name, []kmsg.FetchRequestTopicPartition{kmsg.NewFetchRequestTopicPartition()}
		r.Topics = append(r.Topics, t)
	case *kmsg.MetadataRequest:
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = &name
		r.Topics = append(r.Topics, t)
	case *kmsg.CreateACLsRequest:
		r.Creations = append(r.Creations, kmsg.NewCreateACLsRequestCreation())
	case *kmsg.DeleteACLsRequest:
		r.Filters = append(r.Filters, kmsg.NewDeleteACLsRequestFilter())
	case *kmsg.AlterClientQuotasRequest:
		e := kmsg.NewAlterClientQuotasRequestEntry()
		c := kmsg.NewAlterClientQuotasRequestEntryEntity()
		c.Type, c.Name = "user", &name
		e.Entity = append(e.Entity, c)
		r.Entries = append(r.Entries, e)
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name = name
		r.Deletions = append(r.Deletions, d)
	case *kmsg.CreateTopicsRequest:
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic = name
		r.Topics = append(r.Topics, t)
	case *kmsg.DeleteTopicsRequest:
		t := kmsg.NewDeleteTopicsRequestTopic()
		t.Topic = &name
		r.Topics, r.TopicNames = append(r.Topics, t), []string{name}
	case *kmsg.InitProducerIDRequest:
		r.TransactionalID = &name
	case *kmsg.JoinGroupRequest:
		r.Group = name
	case *kmsg.SyncGroupRequest:
		r.Group = name
	case *kmsg.HeartbeatRequest:
		r.Group = name
	case *kmsg.LeaveGroupRequest:
		r.Group = name
	case *kmsg.OffsetCommitRequest:
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic, t.Partitions = name, []kmsg.OffsetCommitRequestTopicPartition{kmsg.NewOffsetCommitRequestTopicPartition()}
		r.Group, r.Topics = name, append(r.Topics, t)
	case *kmsg.ListOffsetsRequest:
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic, t.Partitions = name, []kmsg.ListOffsetsRequestTopicPartition{kmsg.NewListOffsetsRequestTopicPartition()}
		r.Topics = append(r.Topics, t)
	case *kmsg.OffsetFetchRequest:
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = name
		r.Group, r.Groups = name, append(r.Groups, g)
	case *kmsg.DescribeGroupsRequest:
		r.Groups = []string{name}
	case *kmsg.FindCoordinatorRequest:
		r.CoordinatorKey, r.CoordinatorKeys = name, []string{name}
	case *kmsg.DescribeConfigsRequest:
		x := kmsg.NewDescribeConfigsRequestResource()
		x.ResourceType, x.ResourceName = kmsg.ConfigResourceTypeTopic, name
		r.Resources = append(r.Resources, x)
	case *kmsg.AlterConfigsRequest:
		x := kmsg.NewAlterConfigsRequestResource()
		x.ResourceType, x.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
		r.Resources = append(r.Resources, x)
	case *kmsg.IncrementalAlterConfigsRequest:
		x := kmsg.NewIncrementalAlterConfigsRequestResource()
		x.ResourceType, x.ResourceName = kmsg.ConfigResourceTypeTopic, name
		r.Resources = append(r.Resources, x)
	case *kmsg.CreatePartitionsRequest:
		t := kmsg.NewCreatePartitionsRequestTopic()
		t.Topic = name
		r.Topics = append(r.Topics, t)
	case *kmsg.DeleteRecordsRequest:
		t := kmsg.NewDeleteRecordsRequestTopic()
		t.Topic, t.Partitions = name, []kmsg.DeleteRecordsRequestTopicPartition{kmsg.NewDeleteRecordsRequestTopicPartition()}
		r.Topics = append(r.Topics, t)
	case *kmsg.EndTxnRequest:
		r.TransactionalID = name
	case *kmsg.AddOffsetsToTxnRequest:
		r.TransactionalID = name
	case *kmsg.AddPartitionsToTxnRequest:
		r.TransactionalID = name
		t := kmsg.NewAddPartitionsToTxnRequestTopic()
		t.Topic, t.Partitions = name, []int32{0}
		r.Topics = append(r.Topics, t)
	case *kmsg.DeleteGroupsRequest:
		r.Groups = []string{name}
	case *kmsg.OffsetDeleteRequest:
		r.Group = name
	case *kmsg.DescribeTransactionsRequest:
		r.TransactionalIDs = []string{name}
	case *kmsg.TxnOffsetCommitRequest:
		t := kmsg.NewTxnOffsetCommitRequestTopic()
		t.Topic, t.Partitions = name, []kmsg.TxnOffsetCommitRequestTopicPartition{kmsg.NewTxnOffsetCommitRequestTopicPartition()}
		r.TransactionalID, r.Group, r.Topics = name, name, append(r.Topics, t)
	case *kmsg.OffsetForLeaderEpochRequest:
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic, t.Partitions = name, []kmsg.OffsetForLeaderEpochRequestTopicPartition{kmsg.NewOffsetForLeaderEpochRequestTopicPartition()}
		r.Topics = append(r.Topics, t)
	case *kmsg.DescribeProducersRequest:
		t := kmsg.NewDescribeProducersRequestTopic()
		t.Topic, t.Partitions = name, []int32{0}
		r.Topics = append(r.Topics, t)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		r.Group = name
	case *kmsg.ConsumerGroupDescribeRequest:
		r.Groups = []string{name}
	case *kmsg.ElectLeadersRequest:
		t := kmsg.NewElectLeadersRequestTopic()
		t.Topic, t.Partitions = name, []int32{0}
		r.Topics = append(r.Topics, t)
	case *kmsg.WriteTxnMarkersRequest:
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		t.Topic, t.Partitions = name, []int32{0}
		m.Topics = append(m.Topics, t)
		r.Markers = append(r.Markers, m)
	}
	return req
}

// hasAuthError reports whether an authorization code appears anywhere
// in resp (its re-encoding, decoded back, compared field by field would
// be longer: the codes are distinct enough to search as values).
func hasAuthError(resp kmsg.Response) bool {
	codes := []int16{kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code,
		kerr.ClusterAuthorizationFailed.Code, kerr.TransactionalIDAuthorizationFailed.Code}
	found := false
	walkCodes(resp, func(c int16) {
		for _, want := range codes {
			if c == want {
				found = true
			}
		}
	})
	return found
}

// walkCodes calls fn with every ErrorCode field of v, at any depth.
func walkCodes(v any, fn func(int16)) {
	var walk func(reflect.Value)
	walk = func(x reflect.Value) {
		switch x.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !x.IsNil() {
				walk(x.Elem())
			}
		case reflect.Slice:
			for i := 0; i < x.Len(); i++ {
				walk(x.Index(i))
			}
		case reflect.Struct:
			for i := 0; i < x.NumField(); i++ {
				if x.Type().Field(i).Name == "ErrorCode" && x.Field(i).Kind() == reflect.Int16 {
					fn(int16(x.Field(i).Int()))
				}
				walk(x.Field(i))
			}
		}
	}
	walk(reflect.ValueOf(v))
}
