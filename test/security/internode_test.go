package security_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/testkit"
)

// nodeCA is a CA that signs node certificates only.
type nodeCA struct {
	dir    string
	caFile string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
}

func newNodeCA(t *testing.T, name string) *nodeCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	dir := t.TempDir()
	return &nodeCA{dir: dir, caFile: writePEM(t, dir, "node-ca.pem", "CERTIFICATE", der), cert: cert, key: key}
}

func (ca *nodeCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue writes a node certificate (server and client use) for CN=name
// and returns its files and its principal.
func (ca *nodeCA) issue(t *testing.T, name string, serial int64) (certFile, keyFile, principal string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"strom"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return writePEM(t, ca.dir, name+".pem", "CERTIFICATE", der), writePEM(t, ca.dir, name+"-key.pem", "EC PRIVATE KEY", kder),
		"User:" + tmpl.Subject.String()
}

// tlsCluster is a 3-node cluster with TLS everywhere: each node's only
// Kafka listener is SASL_SSL (SCRAM, the bootstrap user admin), its
// replication and Raft links use mutual TLS with a node certificate from
// a node CA, and authorization is on with no ACL at all: the admin and
// the three node principals are super users, nobody is granted
// User:ANONYMOUS.
type tlsCluster struct {
	*testkit.Cluster
	pki       *pki
	ca        *nodeCA
	nodeFiles map[int32][2]string // node id -> certificate, key
	clientTLS *tls.Config
}

func startTLSCluster(t *testing.T) *tlsCluster { return startTLSClusterWith(t, false) }

// startTLSClusterWith starts the cluster of startTLSCluster; with
// interBroker, each node also has an SSL listener INTERNAL (client
// certificates requested, checked against the node CA) named as
// inter_broker_listener, and one CA signs every certificate.
func startTLSClusterWith(t *testing.T, interBroker bool) *tlsCluster {
	t.Helper()
	p := newPKI(t)
	ca := newNodeCA(t, "strom node CA")
	pwFile := filepath.Join(p.dir, "admin.password")
	if err := os.WriteFile(pwFile, []byte(adminPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := &tlsCluster{pki: p, ca: ca, nodeFiles: map[int32][2]string{},
		clientTLS: &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}}
	serverCert, serverKey, top, extra := p.certFile, p.keyFile, "", ""
	internal := map[int32]string{}
	if interBroker {
		serverCert, serverKey, _ = ca.issue(t, "broker", 9)
		tc.clientTLS.RootCAs = ca.pool()
		top = "inter_broker_listener = \"INTERNAL\"\n"
		extra = fmt.Sprintf("client_ca_file = %q\nclient_auth = \"requested\"\n", ca.caFile)
		for id := int32(1); id <= 3; id++ {
			internal[id] = freeAddr(t)
		}
	}
	supers := []string{`"User:admin"`}
	for id := int32(1); id <= 3; id++ {
		cert, key, principal := ca.issue(t, fmt.Sprintf("node%d", id), int64(10+id))
		tc.nodeFiles[id] = [2]string{cert, key}
		supers = append(supers, fmt.Sprintf("%q", principal))
	}
	tc.Cluster = testkit.StartCluster(t, 3,
		testkit.WithClientOpts(kgo.DialTLSConfig(tc.clientTLS.Clone()), kgo.SASL(scram.Auth{User: "admin", Pass: adminPassword}.AsSha512Mechanism())),
		testkit.WithNodeTOML(fmt.Sprintf("%s[authorization]\nenabled = true\nsuper_users = [%s]\n\n[[sasl.users]]\nname = \"admin\"\npassword_file = %q\n",
			top, strings.Join(supers, ", "), pwFile)),
		testkit.WithPerNodeTOML(func(id int32, kafka string) string {
			f := tc.nodeFiles[id]
			s := fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\nnode_cert_file = %q\nnode_key_file = %q\nca_file = %q\n%s\n"+
				"[[listeners]]\nname = \"CLIENT\"\naddress = %q\nprotocol = \"SASL_SSL\"\n",
				serverCert, serverKey, f[0], f[1], ca.caFile, extra, kafka)
			if interBroker {
				s += fmt.Sprintf("\n[[listeners]]\nname = \"INTERNAL\"\naddress = %q\nprotocol = \"SSL\"\n", internal[id])
			}
			return s
		}))
	return tc
}

// client is a SCRAM-SHA-512 client of every node's SASL_SSL listener.
func (tc *tlsCluster) client(t *testing.T, user, pass string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append(opts, kgo.SeedBrokers(strings.Split(tc.Bootstrap(), ",")...), kgo.DialTLSConfig(tc.clientTLS.Clone()),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceConsume writes n records with acks=all to topic and reads them
// back in a consumer group.
func produceConsume(t *testing.T, tc *tlsCluster, topic, group string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr := tc.client(t, "admin", adminPassword, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%s-%d", group, i))})
	}
	if err := pr.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce acks=all: %v", err)
	}
	co := tc.client(t, "admin", adminPassword, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < n {
		fs := co.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records in group %s: %v", len(seen), n, group, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s[%d]: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if strings.HasPrefix(string(r.Value), group+"-") {
				seen[string(r.Value)] = true
			}
		})
	}
	if err := co.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// waitReplicated waits until every node reports every partition of topic
// in its log directory with the same size, above zero: the followers
// copied the leaders' logs, each fetch authorized as its node's
// certificate principal.
func waitReplicated(t *testing.T, tc *tlsCluster, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(tc.client(t, "admin", adminPassword))
	set := kadm.TopicsSet{topic: {}}
	for p := range partitions {
		set[topic][p] = struct{}{}
	}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		last = ""
		sizes := map[int32]map[int32]int64{} // partition -> node -> size
		for _, nd := range tc.Nodes() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			dirs, err := adm.DescribeBrokerLogDirs(ctx, nd.ID(), set)
			cancel()
			if err != nil {
				last = fmt.Sprintf("node %d: %v", nd.ID(), err)
				break
			}
			dirs.EachPartition(func(d kadm.DescribedLogDirPartition) {
				if sizes[d.Partition] == nil {
					sizes[d.Partition] = map[int32]int64{}
				}
				sizes[d.Partition][nd.ID()] = d.Size
			})
		}
		for p := range partitions {
			s := sizes[p]
			if len(s) != 3 {
				last += fmt.Sprintf("partition %d on %d nodes; ", p, len(s))
				continue
			}
			for id, size := range s {
				if size == 0 || size != s[1] {
					last += fmt.Sprintf("partition %d sizes %v (node %d); ", p, s, id)
					break
				}
			}
		}
		if last == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not replicated to every node: %s", topic, last)
}

// TestClusterTLSEverywhere: three nodes, each its own process, TLS on
// every port — SASL_SSL for clients, mutual TLS with node certificates
// between nodes — and authorization on without any grant to
// User:ANONYMOUS. A franz-go producer writes with acks=all at RF=3, a
// group reads it back, every follower holds the data; plaintext bytes to
// the replication and Raft ports are refused at the handshake; a create,
// delete or ACL change a user may not make is refused by the node it was
// sent to, never forwarded to the metadata leader.
func TestClusterTLSEverywhere(t *testing.T) {
	tc := startTLSCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(tc.client(t, "admin", adminPassword))
	topic := testkit.TopicName(t, "")
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceConsume(t, tc, topic, "g1", 300)
	waitReplicated(t, tc, topic, 3)

	t.Run("transactions", func(t *testing.T) {
		// The coordinator's WriteTxnMarkers and the partition leaders'
		// KIP-890 verification go node to node over mutual TLS, each
		// authorized as CLUSTER_ACTION of the sender's node principal.
		tx := tc.client(t, "admin", adminPassword, kgo.TransactionalID("tls-txn"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for i := range 30 {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("txn-%d", i))})
		}
		if err := tx.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("transactional produce: %v", err)
		}
		if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit: %v", err)
		}
		rc := tc.client(t, "admin", adminPassword, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		seen := map[string]bool{}
		for len(seen) < len(recs) {
			fs := rc.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("read_committed saw %d of %d committed records: %v", len(seen), len(recs), err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if strings.HasPrefix(string(r.Value), "txn-") {
					seen[string(r.Value)] = true
				}
			})
		}
	})

	t.Run("plaintext refused", func(t *testing.T) {
		for _, nd := range tc.Nodes() {
			// A Kafka ApiVersions v0 request in clear to the replication
			// listener: before node TLS it was answered.
			if got := rawExchange(t, nd.ReplicationAddr(), apiVersionsFrame()); len(got) > 0 && got[0] != 0x15 {
				t.Fatalf("node %d replication port answered plaintext ApiVersions: % x", nd.ID(), got[:min(len(got), 16)])
			}
			// The controller's RPC side of the raft port in clear.
			if got := rawExchange(t, nd.RaftAddr(), []byte("CPOST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")); bytes.Contains(got, []byte("HTTP/")) {
				t.Fatalf("node %d raft port answered plaintext HTTP: %q", nd.ID(), got)
			}
		}
		waitLog(t, tc.Node(1), "refused a raft-port connection: TLS handshake failed")
	})

	t.Run("authorized before forwarding", func(t *testing.T) {
		if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Password: "alice-secret"}}); err != nil {
			t.Fatal(err)
		}
		leader := tc.ControllerID(t)
		via := int32(1)
		if leader == via {
			via = 2
		}
		// alice's credential reaches node via through the metadata log.
		var alice *kgo.Client
		deadline := time.Now().Add(20 * time.Second)
		for {
			alice = tc.nodeClient(t, via, "alice", "alice-secret")
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			err := alice.Ping(pctx)
			pcancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alice through node %d: %v", via, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		newTopic := testkit.TopicName(t, "alice")
		create := kmsg.NewPtrCreateTopicsRequest()
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = newTopic, 1, 3
		create.Topics = append(create.Topics, ct)
		create.TimeoutMillis = 10000
		cr, err := create.RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if code := cr.Topics[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("alice's CreateTopics through node %d (leader %d): %v, want TOPIC_AUTHORIZATION_FAILED", via, leader, kerr.ErrorForCode(code))
		}
		del := kmsg.NewPtrDeleteTopicsRequest()
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr(topic)
		del.Topics = append(del.Topics, dt)
		del.TopicNames = []string{topic}
		del.TimeoutMillis = 10000
		dr, err := del.RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if code := dr.Topics[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("alice's DeleteTopics through node %d: %v, want TOPIC_AUTHORIZATION_FAILED", via, kerr.ErrorForCode(code))
		}
		acl := kmsg.NewPtrCreateACLsRequest()
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "*", kmsg.ACLResourcePatternTypeLiteral
		c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", kmsg.ACLOperationAll, kmsg.ACLPermissionTypeAllow
		acl.Creations = append(acl.Creations, c)
		ar, err := acl.RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if code := ar.Results[0].ErrorCode; code != kerr.ClusterAuthorizationFailed.Code {
			t.Fatalf("alice's CreateAcls through node %d: %v, want CLUSTER_AUTHORIZATION_FAILED", via, kerr.ErrorForCode(code))
		}
		// Nothing reached the metadata log: the admin sees the old
		// topic, no new one and no ACL.
		tds, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !tds.Has(topic) || tds.Has(newTopic) {
			t.Fatalf("topics after alice's refused requests: %v", tds.Names())
		}
		acls, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow("User:alice").AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range acls {
			if a.Err != nil {
				t.Fatal(a.Err)
			}
			if len(a.Described) > 0 {
				t.Fatalf("an ACL alice was refused exists: %+v", a.Described)
			}
		}
	})
}

// nodeClient is a client of node id's SASL_SSL listener only.
func (tc *tlsCluster) nodeClient(t *testing.T, id int32, user, pass string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.Node(id).KafkaAddr()), kgo.DialTLSConfig(tc.clientTLS.Clone()),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// apiVersionsFrame is an ApiVersions v0 request, framed.
func apiVersionsFrame() []byte {
	body := []byte{0, 18, 0, 0, 0, 0, 0, 7, 0, 4, 'r', 'a', 'w', '!'} // key 18 v0, correlation 7, client id "raw!"
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(frame, body...)
}

// rawExchange writes b on a fresh TCP connection and returns what comes
// back before the peer closes it (or 5 s pass).
func rawExchange(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(b); err != nil {
		return nil // closed at once: refused
	}
	got, _ := io.ReadAll(nc)
	return got
}

// waitLog waits until nd's output holds s.
func waitLog(t *testing.T, nd *testkit.ClusterNode, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(nd.Logs(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("node %d never logged %q", nd.ID(), s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterTLSUntrustedNode: node 3 restarted with a node certificate
// from a CA the others do not trust cannot rejoin — its raft RPCs and
// the others' are refused at the handshake and logged on both sides,
// it never serves, a topic created meanwhile gets no replica on it —
// while the other two keep serving acks=all writes and groups. Restarted
// with its own certificate it rejoins and catches up. Full run only.
func TestClusterTLSUntrustedNode(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	tc := startTLSCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := kadm.NewClient(tc.client(t, "admin", adminPassword))
	topic := testkit.TopicName(t, "")
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceConsume(t, tc, topic, "before", 100)
	waitReplicated(t, tc, topic, 3)

	nd3 := tc.Node(3)
	nd3.Stop(t)
	files := tc.nodeFiles[3]
	var saved [2][]byte
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		saved[i] = b
	}
	rogue := newNodeCA(t, "rogue CA")
	rc, rk, _ := rogue.issue(t, "node3", 99)
	for i, src := range []string{rc, rk} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(files[i], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	nd3.Start(t)
	// Both sides log the refusal: the others refuse node 3's client
	// certificate on their raft ports, node 3 sees its peers refuse it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		others := strings.Contains(tc.Node(1).Logs()+tc.Node(2).Logs(), "refused a raft-port connection: TLS handshake failed")
		own := strings.Contains(nd3.Logs(), "certificate")
		if others && own {
			t.Logf("node 1/2: %s", firstLine(tc.Node(1).Logs()+tc.Node(2).Logs(), "refused a raft-port connection"))
			t.Logf("node 3: %s", firstLine(nd3.Logs(), "certificate"))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handshake failures not logged (nodes 1, 2: %v; node 3: %v)", others, own)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The other two serve on: acks=all writes to the RF=3 topic (its ISR
	// without node 3) and a new group.
	produceConsume(t, tc, topic, "during", 100)
	// Node 3 never caught up, so its Kafka listener was never bound.
	if nc, err := net.DialTimeout("tcp", nd3.KafkaAddr(), 2*time.Second); err == nil {
		nc.Close()
		t.Fatal("node 3 serves clients with an untrusted node certificate")
	}
	fresh := testkit.TopicName(t, "fresh")
	if _, err := adm.CreateTopic(ctx, 6, 2, nil, fresh); err != nil {
		t.Fatal(err)
	}
	tds, err := adm.ListTopics(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tds[fresh].Partitions {
		for _, r := range p.Replicas {
			if r == 3 {
				t.Fatalf("%s[%d] placed a replica on node 3 (replicas %v)", fresh, p.Partition, p.Replicas)
			}
		}
	}
	md, err := tc.Metadata(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range md.Brokers {
		if b.NodeID == 3 {
			t.Fatal("node 3 is listed as a live broker")
		}
	}

	// Its own certificate back: node 3 rejoins and catches up.
	if nd3.Running() {
		nd3.Kill(t)
	}
	for i, f := range files {
		if err := os.WriteFile(f, saved[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	nd3.Restart(t)
	produceConsume(t, tc, topic, "after", 100)
	waitReplicated(t, tc, topic, 3)
}

// firstLine is the first line of logs holding s.
func firstLine(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// TestClusterInterBrokerListener: with inter_broker_listener naming an
// SSL listener, followers fetch from the leaders' INTERNAL listener as
// their node certificates' principals (authorization on, no ANONYMOUS
// grant), and nothing reaches the replication listener. Full run only.
func TestClusterInterBrokerListener(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	tc := startTLSClusterWith(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(tc.client(t, "admin", adminPassword))
	topic := testkit.TopicName(t, "")
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceConsume(t, tc, topic, "g1", 100)
	waitReplicated(t, tc, topic, 3)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc.clientTLS.Clone()}, Timeout: 10 * time.Second}
	for _, nd := range tc.Nodes() {
		resp, err := hc.Get("https://" + nd.AdminAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "strom_requests_total{") && strings.Contains(l, `listener="replication"`) && !strings.HasSuffix(l, " 0") {
				t.Fatalf("node %d: requests reached the replication listener: %s", nd.ID(), l)
			}
		}
	}
}
