package authz

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
)

// TestChecksAsKafka pins the checks that follow Kafka 4.1's KafkaApis and
// ControllerApis where a simpler rule would differ (each also compared
// with Kafka in test/compat/diff TestAuthorizer).
func TestChecksAsKafka(t *testing.T) {
	cluster := kmsg.ACLResourceTypeCluster
	txn := kmsg.ACLResourceTypeTransactionalId
	im := &metadata.Image{
		ACLs: []metadata.ACL{
			acl(txn, "tx", lit, "User:a", "*", write, allow),
			acl(topic, "w", lit, "User:a", "*", write, allow),
			acl(topic, "seen", lit, "User:a", "*", desc, allow),
			acl(cluster, ClusterName, lit, "User:ops", "*", kmsg.ACLOperationAlter, allow),
			acl(cluster, ClusterName, lit, "User:ops", "*", del, allow),
		},
		Topics: map[string]*metadata.Topic{
			"w":    {Name: "w", Partitions: []metadata.Partition{{Index: 0}}},
			"seen": {Name: "seen", Partitions: []metadata.Partition{{Index: 0}}},
		},
		TopicsByID: map[metadata.TopicID]*metadata.Topic{},
	}
	as := func(p string) Subject {
		return Subject{Authorizer: New(Config{}), Image: im, Principal: "User:" + p, Host: "h"}
	}

	// AddOffsetsToTxn: the group after the transactional id.
	ao := &kmsg.AddOffsetsToTxnRequest{Version: 3, TransactionalID: "tx", Group: "g"}
	v := Check(as("a"), kmsg.AddOffsetsToTxn, ao)
	r := ao.ResponseKind()
	if v.Fix(r); !v.Deny || r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("AddOffsetsToTxn without READ on the group: %+v", r)
	}

	// WriteTxnMarkers: ALTER on the cluster is enough.
	if v := Check(as("ops"), kmsg.WriteTxnMarkers, &kmsg.WriteTxnMarkersRequest{Version: 1}); v.Deny {
		t.Errorf("WriteTxnMarkers with ALTER on the cluster refused")
	}

	// OffsetForLeaderEpoch: a replica id does not ask for CLUSTER_ACTION.
	oe := &kmsg.OffsetForLeaderEpochRequest{Version: 4, ReplicaID: 1, Topics: []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "seen"}}}
	if v := Check(as("a"), kmsg.OffsetForLeaderEpoch, oe); v.Deny || len(oe.Topics) != 1 {
		t.Errorf("OffsetForLeaderEpoch from a replica id with DESCRIBE refused")
	}

	// DeleteTopics: DELETE on the cluster; a describable topic that does
	// not exist is the handler's; by id without DESCRIBE: no name.
	del := &kmsg.DeleteTopicsRequest{Version: 5, TopicNames: []string{"w", "seen"}}
	if v := Check(as("ops"), kmsg.DeleteTopics, del); v.Deny || v.Fix != nil || len(del.TopicNames) != 2 {
		t.Errorf("DeleteTopics with DELETE on the cluster refused")
	}
	del = &kmsg.DeleteTopicsRequest{Version: 5, TopicNames: []string{"w", "nowhere"}}
	v = Check(as("a"), kmsg.DeleteTopics, del)
	dr := del.ResponseKind().(*kmsg.DeleteTopicsResponse)
	v.Fix(dr)
	if len(dr.Topics) != 2 || dr.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("DeleteTopics without DELETE: %+v", dr.Topics)
	}
	id := [16]byte{1}
	im.TopicsByID[metadata.TopicID(id)] = &metadata.Topic{Name: "hidden", ID: id}
	im.Topics["hidden"] = im.TopicsByID[metadata.TopicID(id)]
	del = &kmsg.DeleteTopicsRequest{Version: 6, Topics: []kmsg.DeleteTopicsRequestTopic{{TopicID: id}}}
	v = Check(as("a"), kmsg.DeleteTopics, del)
	dr = del.ResponseKind().(*kmsg.DeleteTopicsResponse)
	v.Fix(dr)
	if len(dr.Topics) != 1 || dr.Topics[0].Topic != nil || dr.Topics[0].TopicID != id {
		t.Errorf("DeleteTopics by id without DESCRIBE: %+v", dr.Topics)
	}

	// Produce: the transactional id only for a transactional batch.
	batch := make([]byte, 61)
	binary.BigEndian.PutUint32(batch[8:], 49)
	batch[16] = 2
	plainReq := func() *kmsg.ProduceRequest {
		return &kmsg.ProduceRequest{Version: 12, TransactionID: kmsg.StringPtr("other"),
			Topics: []kmsg.ProduceRequestTopic{{Topic: "w", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: append([]byte(nil), batch...)}}}}}
	}
	if v := Check(as("a"), kmsg.Produce, plainReq()); v.Deny || v.Fix != nil {
		t.Errorf("Produce of a plain batch with a transactional id refused")
	}
	txnReq := plainReq()
	binary.BigEndian.PutUint16(txnReq.Topics[0].Partitions[0].Records[21:], 0x10)
	if v := Check(as("a"), kmsg.Produce, txnReq); !v.Deny {
		t.Errorf("Produce of a transactional batch with a transactional id not allowed passed")
	}
	txnReq.TransactionID = nil
	if v := Check(as("a"), kmsg.Produce, txnReq); !v.Deny {
		t.Errorf("Produce of a transactional batch without a transactional id passed")
	}

	// AddPartitionsToTxn v0-3: WRITE on each topic; one refusal fails all.
	ap := &kmsg.AddPartitionsToTxnRequest{Version: 3, TransactionalID: "tx",
		Topics: []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "w", Partitions: []int32{0, 5}}, {Topic: "seen", Partitions: []int32{0}}}}
	v = Check(as("a"), kmsg.AddPartitionsToTxn, ap)
	ar := ap.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	v.Fix(ar)
	want := map[string]map[int32]int16{
		"w":    {0: kerr.OperationNotAttempted.Code, 5: kerr.UnknownTopicOrPartition.Code},
		"seen": {0: kerr.TopicAuthorizationFailed.Code},
	}
	if !v.Deny {
		t.Fatalf("AddPartitionsToTxn with a topic without WRITE passed")
	}
	for _, rt := range ar.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != want[rt.Topic][rp.Partition] {
				t.Errorf("AddPartitionsToTxn %s/%d: error %d, want %d", rt.Topic, rp.Partition, rp.ErrorCode, want[rt.Topic][rp.Partition])
			}
		}
	}
}
