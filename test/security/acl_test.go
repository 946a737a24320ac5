package security_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

func withAuthorizer(c *config.Config) {
	c.Authorization = config.Authorization{Enabled: true, SuperUsers: []string{"User:admin"}}
	c.GroupInitialRebalanceDelay = 0
}

// plainClient is a client of user on the SASL_PLAINTEXT listener.
func plainClient(t *testing.T, sb *secureBroker, user string, opts ...kgo.Opt) *kgo.Client {
	return franzClient(t, sb.saslPlain, nil, plain.Auth{User: user, Pass: adminPassword}.AsMechanism(), opts...)
}

// consumeOne reads partition 0 of topic from the start: the first
// record's value, or the error of the fetch.
func consumeOne(t *testing.T, sb *secureBroker, user, topic string) (string, error) {
	t.Helper()
	cl := plainClient(t, sb, user, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			return "", err
		}
		if recs := fs.Records(); len(recs) > 0 {
			return string(recs[0].Value), nil
		}
	}
}

func produce(cl *kgo.Client, topic, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr()
}

// TestACLs: with [authorization] enabled, a user without ACLs cannot
// see, write or read a topic (TOPIC_AUTHORIZATION_FAILED); kadm's
// CreateACLs, DescribeACLs and DeleteACLs change that; DENY wins over
// ALLOW; a prefixed ACL covers the topics under it; the super user may
// do everything, and only it may change ACLs.
func TestACLs(t *testing.T) {
	sb := startSecureBroker(t, "none", withAuthorizer)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := kadm.NewClient(plainClient(t, sb, "admin"))
	topic := testkit.TopicName(t, "")
	prefixed := "pre-" + topic
	if _, err := admin.CreateTopics(ctx, 1, 1, nil, topic, prefixed); err != nil {
		t.Fatalf("super user creates topics: %v", err)
	}

	bea := plainClient(t, sb, "bea", kgo.DisableIdempotentWrite())
	if err := produce(bea, topic, "x"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	md, err := kadm.NewClient(bea).Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 0 {
		t.Fatalf("metadata without ACLs lists %v", md.Topics.Names())
	}
	res, err := kadm.NewClient(bea).CreateACLs(ctx, kadm.NewACLs().Allow("User:bea").AllowHosts().Topics(topic).Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("bea creates an ACL: %v %+v, want CLUSTER_AUTHORIZATION_FAILED", err, res)
	}

	// WRITE (which implies DESCRIBE), then READ.
	mustCreate := func(b *kadm.ACLBuilder) {
		t.Helper()
		res, err := admin.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create ACL %+v: %v", r, r.Err)
			}
		}
	}
	mustCreate(kadm.NewACLs().Allow("User:bea").AllowHosts().Topics(topic).Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	// Auto-creation through Metadata needs CREATE, not only DESCRIBE:
	// the topic is not made until bea has it.
	mustCreate(kadm.NewACLs().Allow("User:bea").AllowHosts().Topics("auto-").Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternPrefixed))
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("auto-" + topic)
	mreq.Topics, mreq.AllowAutoTopicCreation = append(mreq.Topics, mt), true
	mresp, err := mreq.RequestWith(ctx, bea)
	if err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("auto-creating metadata without CREATE: %v %+v", err, mresp)
	}
	if td, err := admin.ListTopics(ctx, "auto-"+topic); err != nil || td.Has("auto-"+topic) && td["auto-"+topic].Err == nil {
		t.Fatalf("the topic was created: %v %+v", err, td)
	}

	mustCreate(kadm.NewACLs().Allow("User:bea").AllowHosts().Topics("auto-").Operations(kadm.OpCreate).ResourcePatternType(kadm.ACLPatternPrefixed))
	if mresp, err = mreq.RequestWith(ctx, bea); err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("auto-creating metadata with CREATE: %v %+v", err, mresp)
	}

	beaIdem := plainClient(t, sb, "bea") // idempotent: InitProducerId allowed by a topic WRITE (KIP-679)
	if err := produce(beaIdem, topic, "hello"); err != nil {
		t.Fatalf("produce after ALLOW WRITE: %v", err)
	}
	if _, err := consumeOne(t, sb, "bea", topic); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("fetch without READ: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	mustCreate(kadm.NewACLs().Allow("User:bea").AllowHosts().Topics(topic).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if v, err := consumeOne(t, sb, "bea", topic); err != nil || v != "hello" {
		t.Fatalf("fetch after ALLOW READ: %q %v", v, err)
	}

	described, err := admin.DescribeACLs(ctx, kadm.NewACLs().Allow("User:bea").AllowHosts().Topics(topic).Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil || len(described) != 1 || described[0].Err != nil || len(described[0].Described) != 2 {
		t.Fatalf("describe ACLs: %v %+v", err, described)
	}

	// DENY beats ALLOW, for everyone (User:*); deleting it restores access.
	mustCreate(kadm.NewACLs().Deny("User:*").DenyHosts().Topics(topic).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if _, err := consumeOne(t, sb, "bea", topic); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("fetch under DENY: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if v, err := consumeOne(t, sb, "admin", topic); err != nil || v != "hello" {
		t.Fatalf("super user under DENY: %q %v", v, err)
	}
	deleted, err := admin.DeleteACLs(ctx, kadm.NewACLs().Deny("User:*").DenyHosts().Topics(topic).Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternMatch))
	if err != nil || len(deleted) != 1 || len(deleted[0].Deleted) != 1 {
		t.Fatalf("delete the DENY: %v %+v", err, deleted)
	}
	if v, err := consumeOne(t, sb, "bea", topic); err != nil || v != "hello" {
		t.Fatalf("fetch after the DENY is deleted: %q %v", v, err)
	}

	// A prefixed ACL covers every topic under the prefix.
	if err := produce(bea, prefixed, "x"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to %s without ACLs: %v", prefixed, err)
	}
	mustCreate(kadm.NewACLs().Allow("User:bea").AllowHosts().Topics("pre-").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternPrefixed))
	if err := produce(bea, prefixed, "x"); err != nil {
		t.Fatalf("produce under a prefixed ALLOW: %v", err)
	}

	// Groups: READ on the group (which implies DESCRIBE for
	// FindCoordinator and OffsetFetch).
	beaAdmin := kadm.NewClient(bea)
	if _, err := beaAdmin.FetchOffsets(ctx, "g-"+topic); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("offset fetch without a group ACL: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	mustCreate(kadm.NewACLs().Allow("User:bea").AllowHosts().Groups("g-").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	if _, err := beaAdmin.FetchOffsets(ctx, "g-"+topic); err != nil {
		t.Fatalf("offset fetch with READ on the group: %v", err)
	}
	rc, err := beaAdmin.DescribeTopicConfigs(ctx, topic)
	if err == nil && len(rc) == 1 {
		err = rc[0].Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("describe configs without DESCRIBE_CONFIGS: %v %+v", err, rc)
	}

	// Kafka's validation: the CLUSTER resource has one name.
	resp, err := kmsg.NewPtrCreateACLsRequest().RequestWith(ctx, plainClient(t, sb, "admin"))
	if err != nil || len(resp.Results) != 0 {
		t.Fatalf("empty CreateAcls: %v %+v", err, resp)
	}
	req := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeCluster, "other", kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:bea", "*", kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow
	req.Creations = append(req.Creations, c)
	resp, err = req.RequestWith(ctx, plainClient(t, sb, "admin"))
	if err != nil || len(resp.Results) != 1 || resp.Results[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("CLUSTER ACL named other: %v %+v", err, resp)
	}
}

// TestACLAPIsWithoutAuthorizer: without [authorization] the ACL APIs
// answer SECURITY_DISABLED, as Kafka without an authorizer.
func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	b := testkit.StartBroker(t)
	cl := franzClient(t, b.Addr(), nil, nil)
	resp, err := kmsg.NewPtrDescribeACLsRequest().RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("DescribeAcls: %v %+v", err, resp)
	}
}
