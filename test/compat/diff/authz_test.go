package diff

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// The authorizer pair: an Apache Kafka broker whose client listener is
// SASL_PLAINTEXT with SCRAM-SHA-512 and StandardAuthorizer, and a Strom
// broker with the same listener and [authorization]; admin is the super
// user of both, alice and bob ordinary users. Scenarios grant the same
// ACLs on both as admin, then send the same requests as alice or bob.

// passwords of the SCRAM users, on both brokers.
var passwords = map[string]string{"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}

var (
	authzOnce   sync.Once
	authzShared *pair
	authzErr    error
)

// authzBrokers returns the authorizer pair, starting it on first use.
func authzBrokers(t *testing.T) *pair {
	t.Helper()
	if testing.Short() {
		t.Skip("compat: Apache Kafka is not started in -short mode")
	}
	if os.Getenv("STROM_SKIP_KAFKAREF") != "" {
		t.Skip("compat: STROM_SKIP_KAFKAREF is set")
	}
	testkit.NeedTool(t, "java")
	authzOnce.Do(func() { authzShared, authzErr = startAuthzPair() })
	if errors.Is(authzErr, kafkaref.ErrUnavailable) {
		testkit.MissingTool(t, "kafka-ref-jars", authzErr.Error())
	}
	if authzErr != nil {
		t.Fatalf("start brokers: %v", authzErr)
	}
	return authzShared
}

func startAuthzPair() (*pair, error) {
	p := &pair{}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "strom-compat-authz-")
	if err != nil {
		return nil, err
	}
	p.stromDir = dir
	port, err := testkit.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := config.Default()
	cfg.Listen = addr
	cfg.Listeners = []config.Listener{{Name: "CLIENT", Address: addr, Protocol: "SASL_PLAINTEXT", SASLMechanisms: []string{"SCRAM-SHA-512"}}}
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.LogLevel = "debug"
	cfg.GroupInitialRebalanceDelay = 0
	cfg.Authorization = config.Authorization{Enabled: true, SuperUsers: []string{"User:admin"}}
	var scramArgs []string
	for _, u := range []string{"admin", "alice", "bob"} {
		f := filepath.Join(dir, u+".password")
		if err := os.WriteFile(f, []byte(passwords[u]+"\n"), 0o600); err != nil {
			return nil, err
		}
		cfg.SASL.Users = append(cfg.SASL.Users, config.SASLUser{Name: u, PasswordFile: f, Mechanisms: []string{"SCRAM-SHA-512"}})
		scramArgs = append(scramArgs, "--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", u, passwords[u]))
	}
	if err := p.startStrom(cfg, dir); err != nil {
		p.stop()
		return nil, err
	}
	p.stromAddr = addr

	k, err := kafkaref.StartProcess(ctx, kafkaref.Options{
		HeapMB: 512,
		Config: map[string]string{
			// The listener keeps its name PLAINTEXT and speaks SASL.
			"listener.security.protocol.map":       "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
			"sasl.enabled.mechanisms":              "SCRAM-SHA-512",
			"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
			"listener.name.plaintext.scram-sha-512.sasl.jaas.config": fmt.Sprintf(
				`org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="%s";`, passwords["admin"]),
			"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			// The controller listener is PLAINTEXT: the node reaches its
			// own controller as User:ANONYMOUS.
			"super.users": "User:admin;User:ANONYMOUS",
		},
		FormatArgs: scramArgs,
		ClientOpts: []kgo.Opt{kgo.SASL(scram.Auth{User: "admin", Pass: passwords["admin"]}.AsSha512Mechanism())},
	})
	if err != nil {
		p.stop()
		return nil, err
	}
	p.kafka = k
	p.kafkaAddr = k.Addr()

	if p.kafkaVersions, err = advertised(p.kafkaAddr); err != nil {
		p.stop()
		return nil, fmt.Errorf("kafka ApiVersions: %w", err)
	}
	if p.stromVersions, err = advertised(p.stromAddr); err != nil {
		p.stop()
		return nil, fmt.Errorf("strom ApiVersions: %w", err)
	}
	return p, nil
}

// login authenticates the connection with SCRAM-SHA-512.
func (c *wireConn) login(user, pass string) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version = 1
	hs.Mechanism = "SCRAM-SHA-512"
	resp, err := c.roundTrip(hs)
	if err != nil {
		return fmt.Errorf("sasl handshake: %w", err)
	}
	if code := resp.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return fmt.Errorf("sasl handshake: error %d", code)
	}
	sess, msg, err := scram.Auth{User: user, Pass: pass}.AsSha512Mechanism().Authenticate(context.Background(), "")
	if err != nil {
		return err
	}
	for {
		ar := kmsg.NewPtrSASLAuthenticateRequest()
		ar.Version = 1
		ar.SASLAuthBytes = msg
		resp, err := c.roundTrip(ar)
		if err != nil {
			return fmt.Errorf("sasl authenticate: %w", err)
		}
		r := resp.(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != 0 {
			return fmt.Errorf("sasl authenticate as %s: error %d", user, r.ErrorCode)
		}
		done, next, err := sess.Challenge(r.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		msg = next
	}
}

// as makes the session's next requests come from user.
func (s *session) as(user string) {
	if s.user != user {
		s.close()
		s.user = user
	}
}

// binding is one ACL: resource type, name, pattern type, principal,
// operation, permission; host "*".
type binding struct {
	typ     kmsg.ACLResourceType
	name    string
	pattern kmsg.ACLResourcePatternType
	user    string
	op      kmsg.ACLOperation
	perm    kmsg.ACLPermissionType
}

func allow(typ kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType, user string, op kmsg.ACLOperation) binding {
	return binding{typ, name, pattern, user, op, kmsg.ACLPermissionTypeAllow}
}

func deny(typ kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType, user string, op kmsg.ACLOperation) binding {
	return binding{typ, name, pattern, user, op, kmsg.ACLPermissionTypeDeny}
}

const (
	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
	topicRes = kmsg.ACLResourceTypeTopic
	groupRes = kmsg.ACLResourceTypeGroup
	txnRes   = kmsg.ACLResourceTypeTransactionalId
	clusRes  = kmsg.ACLResourceTypeCluster
)

func createACLsReq(v int16, bs ...binding) *kmsg.CreateACLsRequest {
	req := kmsg.NewPtrCreateACLsRequest()
	req.Version = v
	for _, b := range bs {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = b.typ, b.name, b.pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = "User:"+b.user, "*", b.op, b.perm
		req.Creations = append(req.Creations, c)
	}
	return req
}

// grant creates bs as admin and waits until the broker's authorizer
// holds them (DescribeAcls answers from it).
func (s *session) grant(bs ...binding) {
	user := s.user
	s.as("admin")
	defer s.as(user)
	r := s.must("create acls", createACLsReq(s.newest(30), bs...)).(*kmsg.CreateACLsResponse)
	for _, res := range r.Results {
		if res.ErrorCode != 0 {
			s.fail("create acls: error %d", res.ErrorCode)
		}
	}
	for _, b := range bs {
		s.waitACLs(b, 1)
	}
}

// revoke deletes every ACL of user as admin and waits until none is left.
func (s *session) revoke(user string) {
	prev := s.user
	s.as("admin")
	defer s.as(prev)
	req := kmsg.NewPtrDeleteACLsRequest()
	req.Version = s.newest(31)
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Principal = kmsg.StringPtr("User:" + user)
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	req.Filters = append(req.Filters, f)
	s.must("delete acls", req)
	s.waitACLs(binding{typ: kmsg.ACLResourceTypeAny, pattern: kmsg.ACLResourcePatternTypeAny, user: user,
		op: kmsg.ACLOperationAny, perm: kmsg.ACLPermissionTypeAny}, 0)
}

func describeACLsReq(v int16, b binding) *kmsg.DescribeACLsRequest {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.Version = v
	req.ResourceType, req.ResourcePatternType = b.typ, b.pattern
	if b.name != "" {
		req.ResourceName = kmsg.StringPtr(b.name)
	}
	req.Principal = kmsg.StringPtr("User:" + b.user)
	req.Host = kmsg.StringPtr("*")
	req.Operation, req.PermissionType = b.op, b.perm
	return req
}

// waitACLs polls DescribeAcls (as the session's user) until the filter
// b selects want bindings (0) or at least one (1).
func (s *session) waitACLs(b binding, want int) {
	last := -1
	for range 300 {
		r := s.must("describe acls", describeACLsReq(s.newest(29), b)).(*kmsg.DescribeACLsResponse)
		if r.ErrorCode != 0 {
			s.fail("describe acls: error %d", r.ErrorCode)
		}
		n := 0
		for _, res := range r.Resources {
			n += len(res.ACLs)
		}
		if last = n; (want == 0) == (n == 0) {
			return
		}
		sleepPoll()
	}
	s.fail("acls %+v: %d bindings, want %d", b, last, want)
}

func TestAuthorizer(t *testing.T) {
	p := authzBrokers(t)
	runScenariosOn(t, p, []scenario{
		{name: "topics", key: -1, short: true, run: authzTopics},
		{name: "admin", key: -1, short: false, run: authzTopicAdmin},
		{name: "groups", key: -1, short: false, run: authzGroups},
		{name: "producers", key: -1, short: true, run: authzProducers},
		{name: "describe", key: -1, short: false, run: authzDescribe},
		{name: "denials", key: -1, short: false, run: authzDenials},
	})
}

func metadataOpsReq(v int16, topics ...string) *kmsg.MetadataRequest {
	req := metadataReq(v, topics...)
	req.AllowAutoTopicCreation = false
	req.IncludeTopicAuthorizedOperations = true
	req.IncludeClusterAuthorizedOperations = true
	return req
}

// authzTopics: literal and prefixed ALLOWs, DENY over ALLOW, and a topic
// with no ACL for the user, through Metadata, Produce, Fetch and
// ListOffsets, with the authorized-operations fields.
func authzTopics(s *session, _ int16) {
	read, write, denied, none := s.topic("read"), s.topic("p-write"), s.topic("denied"), s.topic("none")
	s.as("admin")
	for _, name := range []string{read, write, denied, none} {
		s.createTopic(name, 1, nil)
	}
	s.grant(
		allow(topicRes, read, literal, "alice", kmsg.ACLOperationRead),
		allow(topicRes, s.topic("p-"), prefixed, "alice", kmsg.ACLOperationWrite),
		allow(topicRes, denied, literal, "alice", kmsg.ACLOperationAll),
		deny(topicRes, denied, literal, "alice", kmsg.ACLOperationRead),
	)
	s.as("alice")
	all := []string{read, write, denied, none, s.topic("missing"), s.topic("p-missing")}
	s.do("named topics", metadataOpsReq(s.newest(3), all...))
	s.do("named topics, cluster operations", metadataOpsReq(min(s.newest(3), 10), all...))
	list := metadataOpsReq(s.newest(3))
	list.Topics = nil
	s.do("every topic", list)
	for _, name := range all[:4] {
		s.do("produce to "+name, s.produceReq(min(s.newest(0), 12), name, 0, makeBatch(plain, "x")))
		s.do("fetch from "+name, fetchReq(s, min(s.newest(1), 12), name, 0, 0))
		s.do("list offsets of "+name, listOffsetsReq(s, s.newest(2), name, 0, -1))
	}
	// Kafka authorizes OffsetForLeaderEpoch the same whatever the replica
	// id: CLUSTER_ACTION, else DESCRIBE on each topic.
	for _, replica := range []int32{-1, 1} {
		oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
		oe.Version, oe.ReplicaID = s.newest(23), replica
		for _, name := range []string{read, none} {
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = name
			p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = 0, -1, 0
			t.Partitions = append(t.Partitions, p)
			oe.Topics = append(oe.Topics, t)
		}
		s.do(fmt.Sprintf("offset for leader epoch, replica %d", replica), oe)
	}
}

// authzTopicAdmin: CreateTopics, DeleteTopics, DescribeConfigs and
// AlterConfigs with CREATE, DELETE and the config operations granted on
// some topics only.
func authzTopicAdmin(s *session, _ int16) {
	own, other := s.topic("own"), s.topic("other")
	s.as("admin")
	s.createTopic(own, 1, nil)
	s.createTopic(other, 1, nil)
	ownID, otherID := s.topicID(own), s.topicID(other)
	s.grant(
		allow(topicRes, s.topic("new-"), prefixed, "alice", kmsg.ACLOperationCreate),
		allow(topicRes, s.topic("new-"), prefixed, "alice", kmsg.ACLOperationDelete),
		allow(topicRes, own, literal, "alice", kmsg.ACLOperationAlterConfigs),
		allow(topicRes, other, literal, "alice", kmsg.ACLOperationDescribeConfigs),
		allow(topicRes, other, literal, "alice", kmsg.ACLOperationDescribe),
	)
	s.as("alice")
	s.do("create", createTopicsReq(s.newest(19), false, newTopic(s.topic("new-a"), 1, 1), newTopic(s.topic("elsewhere"), 1, 1)))
	s.waitReady(s.topic("new-a"), 1)
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = min(s.newest(20), 5)
	del.TimeoutMillis = 30000
	del.TopicNames = []string{s.topic("new-a"), own, s.topic("missing")}
	for _, n := range del.TopicNames {
		t := kmsg.NewDeleteTopicsRequestTopic()
		t.Topic = kmsg.StringPtr(n)
		del.Topics = append(del.Topics, t)
	}
	s.do("delete", del)
	if s.newest(20) >= 6 {
		// By id: refused without the name unless the user may describe
		// the topic; by name, a topic the user may describe but that does
		// not exist is UNKNOWN_TOPIC_OR_PARTITION.
		byID := kmsg.NewPtrDeleteTopicsRequest()
		byID.Version = s.newest(20)
		byID.TimeoutMillis = 30000
		for _, id := range [][16]byte{ownID, otherID} {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.TopicID = id
			byID.Topics = append(byID.Topics, t)
		}
		missing := kmsg.NewDeleteTopicsRequestTopic()
		missing.Topic = kmsg.StringPtr(s.topic("new-missing"))
		byID.Topics = append(byID.Topics, missing)
		s.do("delete by id", byID)
	}
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Version = s.newest(32)
	for _, n := range []string{own, other, s.topic("missing")} {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeTopic, n, []string{"retention.ms"}
		dc.Resources = append(dc.Resources, r)
	}
	br := kmsg.NewDescribeConfigsRequestResource()
	br.ResourceType, br.ResourceName, br.ConfigNames = kmsg.ConfigResourceTypeBroker, "", []string{"log.retention.ms"}
	dc.Resources = append(dc.Resources, br)
	for _, typ := range []kmsg.ConfigResourceType{kmsg.ConfigResourceTypeGroupConfig, kmsg.ConfigResourceTypeClientMetrics} {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = typ, s.topic("no-acl")
		dc.Resources = append(dc.Resources, r)
	}
	s.do("describe configs", dc)
	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ia.Version = s.newest(44)
	for _, n := range []string{own, other} {
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, n
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", kmsg.StringPtr("3600000")
		r.Configs = append(r.Configs, c)
		ia.Resources = append(ia.Resources, r)
	}
	s.do("incremental alter configs", ia)
	ac := kmsg.NewPtrAlterConfigsRequest()
	ac.Version = s.newest(33)
	ac.ValidateOnly = true
	for _, n := range []string{own, other} {
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, n
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", kmsg.StringPtr("3600000")
		r.Configs = append(r.Configs, c)
		ac.Resources = append(ac.Resources, r)
	}
	s.do("alter configs", ac)
	s.doDescribeACLs("describe acls", describeACLsReq(s.newest(29), binding{typ: kmsg.ACLResourceTypeAny, pattern: kmsg.ACLResourcePatternTypeAny,
		user: "alice", op: kmsg.ACLOperationAny, perm: kmsg.ACLPermissionTypeAny}))
	s.do("create acls", createACLsReq(s.newest(30), allow(topicRes, own, literal, "alice", kmsg.ACLOperationAll)))
}

// authzGroups: READ and DESCRIBE on groups, literal and prefixed, through
// the group APIs, with DescribeGroups' authorized operations.
func authzGroups(s *session, _ int16) {
	readable, described, closed, pfx := s.topic("g-read"), s.topic("g-describe"), s.topic("g-none"), s.topic("g-p-")
	topic, hidden := s.topic("t"), s.topic("hidden")
	s.as("admin")
	s.createTopic(topic, 1, nil)
	s.createTopic(hidden, 1, nil)
	s.waitCoordinator(readable)
	s.grant(
		allow(groupRes, readable, literal, "alice", kmsg.ACLOperationRead),
		allow(groupRes, described, literal, "alice", kmsg.ACLOperationDescribe),
		allow(groupRes, pfx, prefixed, "alice", kmsg.ACLOperationRead),
		allow(topicRes, topic, literal, "alice", kmsg.ACLOperationRead),
	)
	s.as("alice")
	fc := findCoordinatorReq(s.newest(10), readable)
	fc.CoordinatorKeys = []string{readable, described, closed}
	s.do("find coordinators", fc)
	commit := func(group string) *kmsg.OffsetCommitRequest {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = min(s.newest(8), 9)
		req.Group, req.Generation = group, -1
		for _, n := range []string{topic, hidden} {
			t := kmsg.NewOffsetCommitRequestTopic()
			t.Topic = n
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = 0, 0, -1
			t.Partitions = append(t.Partitions, p)
			req.Topics = append(req.Topics, t)
		}
		return req
	}
	s.do("commit to a readable group", commit(readable))
	s.do("commit to a group without ACL", commit(closed))
	s.do("fetch offsets, named", fetchOffsetsReq(s.newest(9), readable, hidden))
	all := fetchOffsetsReq(s.newest(9), readable, topic)
	all.Groups[0].Topics = nil
	s.do("fetch offsets, every topic", all)
	s.do("fetch offsets of a group without ACL", fetchOffsetsReq(s.newest(9), closed, topic))
	s.do("join a group without ACL", joinReq(s.newest(11), closed, ""))
	s.do("join a prefixed group", joinReq(s.newest(11), pfx+"x", ""))
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version = s.newest(15)
	dg.Groups = []string{readable, described, closed}
	dg.IncludeAuthorizedOperations = true
	s.do("describe groups", dg)
}

// authzProducers: transactional ids (prefixed ALLOW, literal DENY),
// IDEMPOTENT_WRITE, and the cluster's authorized operations.
func authzProducers(s *session, _ int16) {
	writable, unwritable := s.topic("w"), s.topic("u")
	s.as("admin")
	s.revoke("bob")
	s.createTopic(writable, 1, nil)
	s.createTopic(unwritable, 1, nil)
	s.waitTxnCoordinator(s.topic("txn"))
	s.initProducerID()
	s.as("bob")
	initPID := func(txn string) *kmsg.InitProducerIDRequest {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = s.newest(22)
		req.TransactionTimeoutMillis = 60000
		if txn != "" {
			req.TransactionalID = kmsg.StringPtr(txn)
		}
		return req
	}
	cluster := kmsg.NewPtrDescribeClusterRequest()
	cluster.Version = s.newest(60)
	cluster.IncludeClusterAuthorizedOperations = true
	s.do("idempotent, no ACL", initPID(""))
	s.do("transactional, no ACL", initPID(s.topic("txn-a")))
	s.do("cluster, no ACL", cluster)
	s.doDescribeACLs("describe acls, no ACL", describeACLsReq(s.newest(29), binding{typ: kmsg.ACLResourceTypeAny, pattern: kmsg.ACLResourcePatternTypeAny,
		user: "bob", op: kmsg.ACLOperationAny, perm: kmsg.ACLPermissionTypeAny}))
	s.grant(
		allow(txnRes, s.topic("txn-"), prefixed, "bob", kmsg.ACLOperationWrite),
		deny(txnRes, s.topic("txn-denied"), literal, "bob", kmsg.ACLOperationWrite),
		allow(clusRes, "kafka-cluster", literal, "bob", kmsg.ACLOperationIdempotentWrite),
		allow(topicRes, writable, literal, "bob", kmsg.ACLOperationWrite),
	)
	s.do("idempotent", initPID(""))
	s.do("transactional, prefixed ALLOW", initPID(s.topic("txn-a")))
	if v := min(s.newest(24), 3); v >= 0 {
		add := kmsg.NewPtrAddPartitionsToTxnRequest()
		add.Version = v
		add.TransactionalID, add.ProducerID, add.ProducerEpoch = s.topic("txn-a"), 1, 0
		for _, tp := range []struct {
			topic string
			parts []int32
		}{{writable, []int32{0, 5}}, {unwritable, []int32{0}}, {s.topic("missing"), []int32{0}}} {
			t := kmsg.NewAddPartitionsToTxnRequestTopic()
			t.Topic, t.Partitions = tp.topic, tp.parts
			add.Topics = append(add.Topics, t)
		}
		s.do("add partitions, a topic without WRITE", add)
	}
	s.do("transactional, DENY", initPID(s.topic("txn-denied")))
	// Produce checks the transactional id only for a transactional batch
	// (Kafka's RequestUtils.hasTransactionalRecords).
	txnBatch := makeBatch(batchOpts{pid: 1000, epoch: 0, seq: 0}, "t")
	binary.BigEndian.PutUint16(txnBatch[21:], 0x10)
	txnBatch = fixCRC(txnBatch)
	for _, tc := range []struct {
		step  string
		txn   *string
		batch []byte
	}{
		{"transactional batch, DENY", kmsg.StringPtr(s.topic("txn-denied")), txnBatch},
		{"transactional batch, no transactional id", nil, txnBatch},
		{"plain batch, transactional id DENY", kmsg.StringPtr(s.topic("txn-denied")), makeBatch(plain, "p")},
	} {
		req := s.produceReq(min(s.newest(0), 12), writable, 0, tc.batch)
		req.TransactionID = tc.txn
		s.do(tc.step, req)
	}
	s.do("cluster, IDEMPOTENT_WRITE", cluster)
	s.grant(allow(clusRes, "kafka-cluster", literal, "bob", kmsg.ACLOperationDescribe))
	s.do("cluster, DESCRIBE", cluster)
	s.do("metadata, DESCRIBE", metadataOpsReq(min(s.newest(3), 10), s.topic("none")))
	s.doDescribeACLs("describe acls", describeACLsReq(s.newest(29), binding{typ: kmsg.ACLResourceTypeAny, pattern: kmsg.ACLResourcePatternTypeAny,
		user: "bob", op: kmsg.ACLOperationAny, perm: kmsg.ACLPermissionTypeAny}))
	s.do("create acls", createACLsReq(s.newest(30), allow(topicRes, "x", literal, "bob", kmsg.ACLOperationAll)))
	s.as("admin")
	s.revoke("bob")
}

func describeTopicPartitionsReq(limit int32, topics ...string) *kmsg.DescribeTopicPartitionsRequest {
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = limit
	for _, t := range topics {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = t
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// TestDescribeTopicPartitions: the API Kafka 4's AdminClient
// describeTopics uses, without an authorizer: named and unknown topics,
// paging by partition count and cursor, and the bad cursors.
func TestDescribeTopicPartitions(t *testing.T) {
	runScenarios(t, []scenario{{name: "pages", key: 75, short: true, run: describeTopicPartitions}})
}

func describeTopicPartitions(s *session, v int16) {
	a, b := s.topic("a"), s.topic("b")
	s.createTopic(a, 3, nil)
	s.createTopic(b, 2, nil)
	page := func(step string, req *kmsg.DescribeTopicPartitionsRequest) {
		req.Version = v
		s.do(step, req)
	}
	page("named", describeTopicPartitionsReq(100, a, b, s.topic("missing"), "bad/name"))
	page("first page", describeTopicPartitionsReq(2, a, b))
	next := describeTopicPartitionsReq(2, a, b)
	next.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: a, Partition: 2}
	page("second page", next)
	last := describeTopicPartitionsReq(3, a, b)
	last.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: b, Partition: 0}
	page("last page", last)
	stray := describeTopicPartitionsReq(3, a)
	stray.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: b, Partition: 0}
	page("cursor on a topic not named", stray)
	negative := describeTopicPartitionsReq(3, a, b)
	negative.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: a, Partition: -1}
	page("negative cursor partition", negative)
}

// authzDescribe: DescribeTopicPartitions, DescribeCluster and
// ConsumerGroupDescribe as a user with DESCRIBE on some topics and
// groups only, AddOffsetsToTxn without READ on the group.
func authzDescribe(s *session, _ int16) {
	seen, hidden, pfx := s.topic("seen"), s.topic("hidden"), s.topic("q-")
	s.as("admin")
	s.createTopic(seen, 2, nil)
	s.createTopic(hidden, 1, nil)
	s.createTopic(pfx+"x", 2, nil)
	s.waitCoordinator(s.topic("cg"))
	s.joinConsumerGroup(s.topic("cg-seen"), seen)
	s.joinConsumerGroup(s.topic("cg-hidden"), hidden)
	s.grant(
		allow(topicRes, seen, literal, "alice", kmsg.ACLOperationDescribe),
		allow(topicRes, pfx, prefixed, "alice", kmsg.ACLOperationAlter),
		allow(groupRes, s.topic("cg"), prefixed, "alice", kmsg.ACLOperationDescribe),
		allow(txnRes, s.topic("txn"), literal, "alice", kmsg.ACLOperationWrite),
	)
	s.as("alice")
	dtp := func(step string, req *kmsg.DescribeTopicPartitionsRequest) {
		req.Version = s.newest(75)
		s.do(step, req)
	}
	dtp("named", describeTopicPartitionsReq(100, seen, hidden, pfx+"x", s.topic("missing")))
	dtp("named, one partition a page", describeTopicPartitionsReq(1, seen, hidden, pfx+"x"))
	// Every topic alice may describe: a cursor past the other scenarios'
	// topics keeps the answer to this scenario's.
	every := describeTopicPartitionsReq(100)
	every.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: s.topic("")}
	dtp("every topic", every)
	cluster := kmsg.NewPtrDescribeClusterRequest()
	cluster.Version = s.newest(60)
	cluster.IncludeClusterAuthorizedOperations = true
	s.do("cluster", cluster)
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Version = s.newest(69)
	cgd.Groups = []string{s.topic("cg-seen"), s.topic("cg-hidden"), s.topic("cg-unknown"), s.topic("none-cg")}
	cgd.IncludeAuthorizedOperations = true
	s.do("consumer groups", cgd)
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Version = s.newest(68)
	hb.Group = s.topic("none-cg")
	hb.MemberEpoch = 0
	hb.RebalanceTimeoutMillis = 10000
	hb.SubscribedTopicNames = []string{seen}
	s.do("heartbeat to a group without ACL", hb)
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.Version = s.newest(25)
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = s.topic("txn"), 1, 0, s.topic("none-cg")
	s.do("add offsets to a transaction, group without ACL", ao)
}

// joinConsumerGroup makes one KIP-848 member of group subscribed to
// topic and waits until it is assigned a partition.
func (s *session) joinConsumerGroup(group, topic string) {
	s.waitCoordinator(group)
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Version = s.newest(68)
	hb.Group = group
	hb.MemberID = "m-" + group
	hb.RebalanceTimeoutMillis = 30000
	hb.SubscribedTopicNames = []string{topic}
	hb.ServerAssignor = kmsg.StringPtr("uniform")
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for range 300 {
		r := s.must("consumer group heartbeat", hb).(*kmsg.ConsumerGroupHeartbeatResponse)
		if r.ErrorCode != 0 {
			s.fail("consumer group heartbeat to %s: error %d", group, r.ErrorCode)
		}
		if r.MemberID != nil {
			hb.MemberID = *r.MemberID
		}
		hb.MemberEpoch = r.MemberEpoch
		if r.Assignment != nil && len(r.Assignment.Topics) > 0 {
			return
		}
		sleepPoll()
	}
	s.fail("consumer group %s: no assignment", group)
}

// doDescribeACLs is do for DescribeAcls, whose bindings of one resource
// come in no particular order: they are compared sorted.
func (s *session) doDescribeACLs(step string, req *kmsg.DescribeACLsRequest) {
	resp, err := s.send(req)
	step = fmt.Sprintf("%s (%s v%d)", step, kmsg.NameForKey(req.Key()), req.GetVersion())
	if err != nil {
		s.record(step, transportOutcome(err))
		return
	}
	r := resp.(*kmsg.DescribeACLsResponse)
	for i := range r.Resources {
		acls := r.Resources[i].ACLs
		sort.Slice(acls, func(a, b int) bool {
			x, y := acls[a], acls[b]
			return fmt.Sprint(x.Principal, x.Host, x.Operation, x.PermissionType) < fmt.Sprint(y.Principal, y.Host, y.Operation, y.PermissionType)
		})
	}
	s.record(step, normalize(r))
}

// authzDenials: the remaining APIs of the table, each sent once by a user
// holding only READ on a topic and a group and DESCRIBE on a transactional
// id, so each answer shows what that user may and may not do.
func authzDenials(s *session, _ int16) {
	topic, group, txn := s.topic("t"), s.topic("g"), s.topic("txn")
	s.as("admin")
	s.createTopic(topic, 1, nil)
	s.waitCoordinator(group)
	s.waitTxnCoordinator(txn)
	s.grant(
		allow(topicRes, topic, literal, "alice", kmsg.ACLOperationRead),
		allow(groupRes, group, literal, "alice", kmsg.ACLOperationRead),
		allow(txnRes, txn, literal, "alice", kmsg.ACLOperationDescribe),
	)
	s.as("alice")
	other := s.topic("other-group")

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version, sync.Group, sync.Generation, sync.MemberID = s.newest(14), other, 1, "m"
	sync.ProtocolType, sync.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	s.do("sync, group without ACL", sync)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.Generation, hb.MemberID = s.newest(12), other, 1, "m"
	s.do("heartbeat, group without ACL", hb)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group, leave.MemberID = s.newest(13), other, "m"
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = "m"
	leave.Members = append(leave.Members, m)
	s.do("leave, group without ACL", leave)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Version, dg.Groups = s.newest(42), []string{group, other}
	s.do("delete groups without DELETE", dg)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Version, od.Group = s.newest(47), group
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odt.Partitions = append(odt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: 0})
	od.Topics = append(od.Topics, odt)
	s.do("offset delete without DELETE on the group", od)
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version = s.newest(16)
	s.do("list groups", lg)

	toc := kmsg.NewPtrTxnOffsetCommitRequest()
	toc.Version, toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch = min(s.newest(28), 4), txn, group, 1, 0
	toct := kmsg.NewTxnOffsetCommitRequestTopic()
	toct.Topic = topic
	toct.Partitions = append(toct.Partitions, kmsg.TxnOffsetCommitRequestTopicPartition{Partition: 0, Offset: 0, LeaderEpoch: -1})
	toc.Topics = append(toc.Topics, toct)
	s.do("txn offset commit without WRITE on the transactional id", toc)
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch = s.newest(26), txn, 1, 0
	s.do("end txn without WRITE", end)
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.Version, dt.TransactionalIDs = s.newest(65), []string{txn, s.topic("txn-other")}
	s.do("describe transactions", dt)

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version, cp.TimeoutMillis = s.newest(37), 30000
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = topic, 2
	cp.Topics = append(cp.Topics, cpt)
	s.do("create partitions without ALTER", cp)
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Version, dr.TimeoutMillis = s.newest(21), 30000
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = topic
	drt.Partitions = append(drt.Partitions, kmsg.DeleteRecordsRequestTopicPartition{Partition: 0, Offset: 0})
	dr.Topics = append(dr.Topics, drt)
	s.do("delete records without DELETE", dr)
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Version = s.newest(61)
	dpt := kmsg.NewDescribeProducersRequestTopic()
	dpt.Topic, dpt.Partitions = topic, []int32{0}
	dp.Topics = append(dp.Topics, dpt)
	s.do("describe producers with READ", dp)

	el := kmsg.NewPtrElectLeadersRequest()
	el.Version, el.TimeoutMillis = s.newest(43), 30000
	elt := kmsg.NewElectLeadersRequestTopic()
	elt.Topic, elt.Partitions = topic, []int32{0}
	el.Topics = append(el.Topics, elt)
	s.do("elect leaders without ALTER on the cluster", el)
	lr := kmsg.NewPtrListPartitionReassignmentsRequest()
	lr.Version, lr.TimeoutMillis = s.newest(46), 30000
	s.do("list reassignments without DESCRIBE on the cluster", lr)
	ld := kmsg.NewPtrDescribeLogDirsRequest()
	ld.Version = s.newest(35)
	s.do("describe log dirs without DESCRIBE on the cluster", ld)
	us := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	us.Version = s.newest(50)
	usr := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
	usr.Name = "alice"
	us.Users = append(us.Users, usr)
	s.do("describe user scram credentials without DESCRIBE on the cluster", us)
	da := kmsg.NewPtrDeleteACLsRequest()
	da.Version = s.newest(31)
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	da.Filters = append(da.Filters, f)
	s.do("delete acls without ALTER on the cluster", da)
}
