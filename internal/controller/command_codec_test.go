package controller

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
)

var (
	sampleID = metadata.TopicID{27, 3, 113, 72, 233, 162, 223, 254, 205, 147, 163, 143, 87, 115, 159, 107}
	sample   = "3600000"
)

// version0 holds entries exactly as the metadata log held them before
// commands had versions (one union object per entry; most taken from
// testdata/seams-base/raft/raft.db), with the command each must decode to.
var version0 = []struct {
	raw  string
	want command
}{
	{`{"op":"init","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"cluster_id":"muUi1jPtss5iFhRloA763w"}`,
		&Init{ClusterID: "muUi1jPtss5iFhRloA763w"}},
	{`{"op":"read_index","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`,
		&ReadIndex{}},
	{`{"op":"register_broker","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"broker":{"ID":3,"Host":"127.0.0.1","Port":9093,"WAL":"127.0.0.1:9193"}}`,
		&RegisterBroker{Broker: &metadata.Broker{ID: 3, Host: "127.0.0.1", Port: 9093, Replication: "127.0.0.1:9193"}}},
	{`{"op":"create_topic","topic":"orders","topic_id":[27,3,113,72,233,162,223,254,205,147,163,143,87,115,159,107],"configs":{"cleanup.policy":"compact","retention.ms":"86400000"},"assignment":[[1,2,3],[2,3,1],[3,1,2]]}`,
		&CreateTopic{Topic: "orders", TopicID: sampleID, Configs: map[string]string{"cleanup.policy": "compact", "retention.ms": "86400000"}, Assignment: [][]ids.NodeID{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}}},
	{`{"op":"create_topic","topic":"__consumer_offsets","topic_id":[27,3,113,72,233,162,223,254,205,147,163,143,87,115,159,107],"internal":true,"configs":{"cleanup.policy":"compact"},"assignment":[[3,1,2]]}`,
		&CreateTopic{Topic: "__consumer_offsets", TopicID: sampleID, Internal: true, Configs: map[string]string{"cleanup.policy": "compact"}, Assignment: [][]ids.NodeID{{3, 1, 2}}}},
	{`{"op":"delete_topic","topic":"doomed","topic_id":[27,3,113,72,233,162,223,254,205,147,163,143,87,115,159,107]}`,
		&DeleteTopic{Topic: "doomed", TopicID: sampleID}},
	// By name only: the single-node controller, and a proposer that did
	// not know the topic.
	{`{"op":"delete_topic","topic":"gone","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`,
		&DeleteTopic{Topic: "gone"}},
	{`{"op":"create_partitions","topic":"events","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"assignment":[[1,2],[2,3]]}`,
		&CreatePartitions{Topic: "events", Assignment: [][]ids.NodeID{{1, 2}, {2, 3}}}},
	{`{"op":"alter_topic_configs","topic":"orders","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"changes":[{"Name":"retention.ms","Value":"3600000"},{"Name":"cleanup.policy","Value":null}]}`,
		&AlterTopicConfigs{Topic: "orders", Changes: []ConfigChange{{Name: "retention.ms", Value: &sample}, {Name: "cleanup.policy"}}}},
	{`{"op":"alter_topic_configs","topic":"events","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"changes":[{"Name":"max.message.bytes","Value":"3600000"}],"replace":true}`,
		&AlterTopicConfigs{Topic: "events", Changes: []ConfigChange{{Name: "max.message.bytes", Value: &sample}}, Replace: true}},
	{`{"op":"alter_broker_configs","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"changes":[{"Name":"log.retention.ms","Value":"3600000"}],"replace":true}`,
		&AlterBrokerConfigs{Changes: []ConfigChange{{Name: "log.retention.ms", Value: &sample}}, Replace: true}},
	{`{"op":"allocate_producer_ids","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"n":1000}`,
		&AllocateProducerIDs{N: 1000}},
	{`{"op":"fence_broker","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"broker_id":3}`,
		&FenceBroker{BrokerID: 3}},
	{`{"op":"alter_isr","topic":"fragile","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"broker_id":3,"isr":[3]}`,
		&AlterISR{Topic: "fragile", BrokerID: 3, ISR: []ids.NodeID{3}}},
	{`{"op":"alter_isr","topic":"orders","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"partition":2,"broker_id":1,"leader_epoch":4,"isr":[1,2]}`,
		&AlterISR{Topic: "orders", Partition: 2, BrokerID: 1, LeaderEpoch: 4, ISR: []ids.NodeID{1, 2}}},
	{`{"op":"elect_leader","topic":"orders","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"partition":1,"broker_id":3}`,
		&ElectLeader{Topic: "orders", Partition: 1, BrokerID: 3}},
	{`{"op":"elect_unclean","topic":"fragile","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`,
		&ElectUnclean{Topic: "fragile"}},
	{`{"op":"reassign","topic":"events","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"partition":1,"assignment":[[3,2]]}`,
		&Reassign{Topic: "events", Partition: 1, Target: []ids.NodeID{3, 2}}},
	// A cancellation has no assignment.
	{`{"op":"reassign","topic":"events","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"partition":2}`,
		&Reassign{Topic: "events", Partition: 2}},
	{`{"op":"complete_reassign","topic":"events","topic_id":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`,
		&CompleteReassign{Topic: "events"}},
}

func TestDecodeVersion0(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range version0 {
		got, err := decodeCommand([]byte(tc.raw))
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\ngot  %#v\nwant %#v", tc.raw, got, tc.want)
		}
		seen[got.op()] = true
	}
	for op := range commandTypes {
		if !seen[op] && !sinceVersion1[op] {
			t.Errorf("no version-0 entry of %s", op)
		}
	}
}

// sinceVersion1 are the commands added after version 0: they never had a
// version-0 form.
var sinceVersion1 = map[string]bool{opReplicaOffline: true, opAlterScramCredentials: true, opAlterACLs: true, opAlterClientQuotas: true}

// TestVersion1Additions round-trips what version 1 added: the SCRAM
// command, and broker listeners in register_broker (an older broker reads
// the registration and ignores "Listeners", as it ignores any field it
// does not know).
func TestVersion1Additions(t *testing.T) {
	cred := metadata.ScramCredential{Salt: []byte{1, 2}, StoredKey: []byte{3}, ServerKey: []byte{4}, Iterations: 4096}
	for _, tc := range []struct {
		cmd  command
		want string
	}{
		{&AlterScramCredentials{Upserts: []ScramUpsert{{User: "alice", Mechanism: "SCRAM-SHA-512", Credential: cred}}, Deletions: []ScramDeletion{{User: "bob", Mechanism: "SCRAM-SHA-256"}}, IfAbsent: true},
			`{"v":1,"op":"alter_scram_credentials","upserts":[{"user":"alice","mechanism":"SCRAM-SHA-512","credential":{"Salt":"AQI=","StoredKey":"Aw==","ServerKey":"BA==","Iterations":4096}}],"deletions":[{"user":"bob","mechanism":"SCRAM-SHA-256"}],"if_absent":true}`},
		{&AlterACLs{Creations: []metadata.ACL{{ResourceType: 2, ResourceName: "t", PatternType: 3, Principal: "User:alice", Host: "*", Operation: 3, Permission: 3}}, Deletions: []metadata.ACL{{ResourceType: 3, ResourceName: "g", PatternType: 4, Principal: "User:*", Host: "*", Operation: 2, Permission: 2}}},
			`{"v":1,"op":"alter_acls","creations":[{"resource_type":2,"resource_name":"t","pattern_type":3,"principal":"User:alice","host":"*","operation":3,"permission":3}],"deletions":[{"resource_type":3,"resource_name":"g","pattern_type":4,"principal":"User:*","host":"*","operation":2,"permission":2}]}`},
		{&AlterClientQuotas{Changes: []ClientQuotaChange{{Entity: []metadata.QuotaComponent{{Type: "user", Name: strp("alice")}, {Type: "client-id"}}, Key: "producer_byte_rate", Value: f64p(1048576)}, {Entity: []metadata.QuotaComponent{{Type: "client-id", Name: strp("c")}}, Key: "request_percentage"}}},
			`{"v":1,"op":"alter_client_quotas","changes":[{"entity":[{"type":"user","name":"alice"},{"type":"client-id","name":null}],"key":"producer_byte_rate","value":1048576},{"entity":[{"type":"client-id","name":"c"}],"key":"request_percentage"}]}`},
		{&RegisterBroker{Broker: &metadata.Broker{ID: 1, Host: "h", Port: 9093, Listeners: []metadata.Endpoint{{Name: "CLIENT", Host: "h", Port: 9093, Protocol: "SASL_SSL"}, {Name: "INTERNAL", Host: "i", Port: 9092, Protocol: "PLAINTEXT"}}}},
			`{"v":1,"op":"register_broker","broker":{"ID":1,"Host":"h","Port":9093,"Listeners":[{"Name":"CLIENT","Host":"h","Port":9093,"Protocol":"SASL_SSL"},{"Name":"INTERNAL","Host":"i","Port":9092,"Protocol":"PLAINTEXT"}]}}`},
	} {
		got, err := encodeCommand(tc.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("encode %#v:\ngot  %s\nwant %s", tc.cmd, got, tc.want)
		}
		back, err := decodeCommand(got)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, tc.cmd) {
			t.Errorf("decode %s:\ngot  %#v\nwant %#v", got, back, tc.cmd)
		}
	}
	// An old registration (no listeners) answers every listener name
	// with its one address.
	var old union
	if err := json.Unmarshal([]byte(`{"op":"register_broker","broker":{"ID":2,"Host":"old","Port":9092}}`), &old); err != nil {
		t.Fatal(err)
	}
	if h, p := old.Broker.Address("CLIENT"); h != "old" || p != 9092 {
		t.Fatalf("old registration answers %s:%d", h, p)
	}
}

func TestEncodeVersion1(t *testing.T) {
	for _, tc := range []struct {
		cmd  command
		want string
	}{
		{&ReadIndex{}, `{"v":1,"op":"read_index"}`},
		{&DeleteTopic{Topic: "gone"}, `{"v":1,"op":"delete_topic","topic":"gone"}`},
		{&DeleteTopic{Topic: "doomed", TopicID: sampleID}, `{"v":1,"op":"delete_topic","topic":"doomed","topic_id":[27,3,113,72,233,162,223,254,205,147,163,143,87,115,159,107]}`},
		{&AlterISR{Topic: "t", Partition: 2, BrokerID: 1, LeaderEpoch: 4, ISR: []ids.NodeID{1, 2}}, `{"v":1,"op":"alter_isr","topic":"t","partition":2,"broker_id":1,"leader_epoch":4,"isr":[1,2]}`},
		{&Reassign{Topic: "t", Partition: 1, Target: []ids.NodeID{3, 2}}, `{"v":1,"op":"reassign","topic":"t","partition":1,"assignment":[[3,2]]}`},
		{&Reassign{Topic: "t", Partition: 1}, `{"v":1,"op":"reassign","topic":"t","partition":1}`},
		{&ReplicaOffline{Topic: "t", Partition: 2, BrokerID: 3}, `{"v":1,"op":"replica_offline","topic":"t","partition":2,"broker_id":3}`},
		{&AlterTopicConfigs{Topic: "t", Changes: []ConfigChange{{Name: "retention.ms", Value: &sample}, {Name: "cleanup.policy"}}}, `{"v":1,"op":"alter_topic_configs","topic":"t","changes":[{"Name":"retention.ms","Value":"3600000"},{"Name":"cleanup.policy","Value":null}]}`},
	} {
		got, err := encodeCommand(tc.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("encode %#v:\ngot  %s\nwant %s", tc.cmd, got, tc.want)
		}
	}
}

// union is the command type of version 0, as code of that version decodes
// every entry (and re-encodes forwarded proposals).
type union struct {
	Op          string            `json:"op"`
	Topic       string            `json:"topic,omitempty"`
	TopicID     metadata.TopicID  `json:"topic_id,omitempty"`
	Partition   int32             `json:"partition,omitempty"`
	Internal    bool              `json:"internal,omitempty"`
	Configs     map[string]string `json:"configs,omitempty"`
	Assignment  [][]int32         `json:"assignment,omitempty"`
	Changes     []ConfigChange    `json:"changes,omitempty"`
	Replace     bool              `json:"replace,omitempty"`
	N           int64             `json:"n,omitempty"`
	Broker      *metadata.Broker  `json:"broker,omitempty"`
	BrokerID    int32             `json:"broker_id,omitempty"`
	LeaderEpoch int32             `json:"leader_epoch,omitempty"`
	ISR         []int32           `json:"isr,omitempty"`
	ClusterID   string            `json:"cluster_id,omitempty"`
}

// TestVersion1ReadableByVersion0 checks that code reading version 0 reads
// version-1 entries as the same commands (the same fields under the same
// names), and that what it writes back reads as the original: a cluster
// mixing both versions applies the same log.
func TestVersion1ReadableByVersion0(t *testing.T) {
	for _, tc := range version0 {
		v1, err := encodeCommand(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		var old union
		if err := json.Unmarshal(v1, &old); err != nil {
			t.Fatalf("%s: %v", v1, err)
		}
		if old.Op != tc.want.op() {
			t.Errorf("%s: version 0 reads op %q", v1, old.Op)
		}
		v0, _ := json.Marshal(&old)
		if string(v0) != tc.raw {
			t.Errorf("version 0 reads %s as\n%s, want\n%s", v1, v0, tc.raw)
		}
	}
}

func TestEveryCommandRoundTrips(t *testing.T) {
	for _, tc := range version0 {
		raw, err := encodeCommand(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeCommand(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if !reflect.DeepEqual(back, tc.want) {
			t.Errorf("%s:\ngot  %#v\nwant %#v", raw, back, tc.want)
		}
	}
	for op, newCmd := range commandTypes {
		if got := newCmd().op(); got != op {
			t.Errorf("type registered as %s says %s", op, got)
		}
	}
}

func TestDecodeCommandRefuses(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want error // nil: any error
	}{
		{`{"v":2,"op":"read_index"}`, errCommandVersion},
		{`{"v":-1,"op":"read_index"}`, errCommandVersion},
		{`{"v":1,"op":"rename_topic","topic":"t"}`, errUnknownCommand},
		{`{"op":"rename_topic"}`, errUnknownCommand},
		{`{"v":1}`, errUnknownCommand},
		{`{"v":1,"op":"create_topic","topic":7}`, nil},
		{`[]`, nil},
		{`{"v":1,"op":"read_index"`, nil},
	} {
		_, err := decodeCommand([]byte(tc.raw))
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: got %v, want %v", tc.raw, err, tc.want)
		}
	}
}

// The single entry of "assignment" is the target; an entry with none is
// a target of no replicas, refused, not a cancellation.
func TestReassignTargetShapes(t *testing.T) {
	im := threeBrokers(t)
	im = mustApply(t, im, &CreateTopic{Topic: "t", TopicID: sampleID, Assignment: [][]ids.NodeID{{1, 2}}})
	for _, raw := range []string{
		`{"op":"reassign","topic":"t","assignment":[[]]}`,
		`{"op":"reassign","topic":"t","assignment":[null]}`,
	} {
		cmd, err := decodeCommand([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cmd.apply(im); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("%s: %v, want an invalid assignment", raw, err)
		}
	}
}

// FuzzDecodeCommand decodes metadata-log entries as every node applies
// them: a decoded command re-encodes stably, and applying it to an image
// either fails or gives a new image that encodes, leaving the old one as
// it was (images are shared, never changed).
func FuzzDecodeCommand(f *testing.F) {
	for i, tc := range version0 {
		v1, _ := encodeCommand(tc.want)
		if i%4 == 0 { // a few are the committed corpus too
			fuzzseed.Add(f, []byte(tc.raw))
			fuzzseed.Add(f, v1)
		} else {
			f.Add([]byte(tc.raw))
			f.Add(v1)
		}
	}
	fuzzseed.Add(f, []byte(`{"v":1,"op":"alter_client_quotas","changes":[{"entity":[{"type":"user","name":"alice"},{"type":"client-id","name":null}],"key":"producer_byte_rate","value":1048576},{"entity":[{"type":"ip","name":"127.0.0.1"}],"key":"connection_creation_rate"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cmd, err := decodeCommand(raw)
		if err != nil {
			return
		}
		again, err := encodeCommand(cmd)
		if err != nil {
			t.Fatalf("decoded %s, cannot encode it: %v", raw, err)
		}
		// Decoding what was encoded gives what encodes the same (empty
		// and absent fields are one).
		back, err := decodeCommand(again)
		if err != nil {
			t.Fatalf("%s -> %s: %v", raw, again, err)
		}
		if third, _ := encodeCommand(back); string(third) != string(again) {
			t.Fatalf("%s -> %s -> %s", raw, again, third)
		}

		im := mustApply(t, threeBrokers(t), &CreateTopic{Topic: "orders", TopicID: sampleID,
			Assignment: [][]ids.NodeID{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}})
		before, err := encodeImage(im)
		if err != nil {
			t.Fatal(err)
		}
		next, _, err := cmd.apply(im)
		if after, _ := encodeImage(im); string(after) != string(before) {
			t.Fatalf("applying %s changed the image it was given", raw)
		}
		if err != nil {
			return
		}
		if _, err := encodeImage(next); err != nil {
			t.Fatalf("applying %s gave an image that does not encode: %v", raw, err)
		}
	})
}
