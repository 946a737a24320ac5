//go:build cgo

package security_test

import (
	"context"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/testkit"
)

// matrixCluster is a 3-node cluster with TLS everywhere, as
// startTLSCluster's, where every node also has an SSL listener MTLS and
// [tls] client_auth = "required" with the client CA: every client of
// either listener presents a certificate; on MTLS the certificate is the
// principal, on CLIENT the SASL user is.
type matrixCluster struct {
	*tlsCluster
	mtls map[int32]string // node id -> MTLS listener address
	// clientPrincipal is the principal of the client certificate.
	clientPrincipal string
}

func startMatrixCluster(t *testing.T) *matrixCluster {
	t.Helper()
	p := newPKI(t)
	ca := newNodeCA(t, "strom node CA")
	pwFile := filepath.Join(p.dir, "admin.password")
	if err := os.WriteFile(pwFile, []byte(adminPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	mc := &matrixCluster{
		tlsCluster: &tlsCluster{pki: p, ca: ca, nodeFiles: map[int32][2]string{},
			clientTLS: &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{p.clientCert}}},
		mtls: map[int32]string{},
	}
	leaf, err := x509.ParseCertificate(p.clientCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	mc.clientPrincipal = "User:" + leaf.Subject.String()
	supers := []string{`"User:admin"`}
	for id := int32(1); id <= 3; id++ {
		cert, key, principal := ca.issue(t, fmt.Sprintf("node%d", id), int64(10+id))
		mc.nodeFiles[id] = [2]string{cert, key}
		supers = append(supers, fmt.Sprintf("%q", principal))
		mc.mtls[id] = freeAddr(t)
	}
	mc.Cluster = testkit.StartCluster(t, 3,
		testkit.WithClientOpts(kgo.DialTLSConfig(mc.clientTLS.Clone()), kgo.SASL(scram.Auth{User: "admin", Pass: adminPassword}.AsSha512Mechanism())),
		testkit.WithNodeTOML(fmt.Sprintf("[authorization]\nenabled = true\nsuper_users = [%s]\n\n[[sasl.users]]\nname = \"admin\"\npassword_file = %q\n",
			strings.Join(supers, ", "), pwFile)),
		testkit.WithPerNodeTOML(func(id int32, kafka string) string {
			f := mc.nodeFiles[id]
			return fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\nnode_cert_file = %q\nnode_key_file = %q\nca_file = %q\n"+
				"client_ca_file = %q\nclient_auth = \"required\"\n\n"+
				"[[listeners]]\nname = \"CLIENT\"\naddress = %q\nprotocol = \"SASL_SSL\"\n\n"+
				"[[listeners]]\nname = \"MTLS\"\naddress = %q\nprotocol = \"SSL\"\n",
				p.certFile, p.keyFile, f[0], f[1], ca.caFile, p.caFile, kafka, mc.mtls[id])
		}))
	return mc
}

// committed returns the offsets group committed for topic, summed over
// its partitions, as the admin sees them.
func (mc *matrixCluster) committed(t *testing.T, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(mc.client(t, "admin", adminPassword)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			sum += o.At
		}
	})
	return sum
}

// TestClusterClientMatrix: the clients Kafka users run, each through the
// secured listeners of a 3-node cluster (each node its own process) with
// mutual TLS between nodes and authorization on: confluent-kafka-go
// (librdkafka), the Java client, sarama and kcat over SASL_SSL with
// SCRAM-SHA-512, and franz-go with only a client certificate on an SSL
// listener with client_auth = "required", its principal granted by ACLs.
// Each makes an admin call (create a topic or describe configs), produces
// with acks=all to an RF=3 topic, consumes in a group and commits. Full
// run only.
func TestClusterClientMatrix(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	mc := startMatrixCluster(t)
	bootstrap := mc.Bootstrap()
	const n = 20

	t.Run("confluent SCRAM-SHA-512", func(t *testing.T) {
		topic, group := testkit.TopicName(t, ""), testkit.TopicName(t, "group")
		conf := func() *kafka.ConfigMap {
			return &kafka.ConfigMap{
				"bootstrap.servers":                     bootstrap,
				"security.protocol":                     "SASL_SSL",
				"sasl.mechanism":                        "SCRAM-SHA-512",
				"sasl.username":                         "admin",
				"sasl.password":                         adminPassword,
				"ssl.ca.location":                       mc.pki.caFile,
				"ssl.certificate.location":              mc.pki.clientCertFile,
				"ssl.key.location":                      mc.pki.clientKeyFile,
				"ssl.endpoint.identification.algorithm": "https",
			}
		}
		adm, err := kafka.NewAdminClient(conf())
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := adm.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 3, ReplicationFactor: 3}})
		if err != nil || res[0].Error.Code() != kafka.ErrNoError {
			t.Fatalf("create topic: %v %v", res, err)
		}
		pc := conf()
		pc.SetKey("acks", "all")
		pc.SetKey("message.timeout.ms", 30000)
		prod, err := kafka.NewProducer(pc)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		deliveries := make(chan kafka.Event, n)
		for i := range n {
			// The new topic's metadata may lag on the node asked; the
			// producer retries until the message timeout.
			if err := prod.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
				Value: []byte(strconv.Itoa(i))}, deliveries); err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			if m := (<-deliveries).(*kafka.Message); m.TopicPartition.Error != nil {
				t.Fatalf("delivery: %v", m.TopicPartition.Error)
			}
		}
		cc := conf()
		cc.SetKey("group.id", group)
		cc.SetKey("auto.offset.reset", "earliest")
		cc.SetKey("enable.auto.commit", false)
		cons, err := kafka.NewConsumer(cc)
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		if err := cons.Subscribe(topic, nil); err != nil {
			t.Fatal(err)
		}
		for seen := 0; seen < n; seen++ {
			if _, err := cons.ReadMessage(30 * time.Second); err != nil {
				t.Fatalf("group consume after %d records: %v", seen, err)
			}
		}
		if _, err := cons.Commit(); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if got := mc.committed(t, group, topic); got != n {
			t.Fatalf("committed %d, want %d", got, n)
		}
	})

	t.Run("java SCRAM-SHA-512", func(t *testing.T) {
		testkit.NeedTool(t, "java")
		dir := t.TempDir()
		// Kafka's PEM key store wants a PKCS#8 key followed by the chain.
		key, err := x509.MarshalPKCS8PrivateKey(mc.pki.clientCert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		ks := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
		ks = append(ks, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mc.pki.clientCert.Certificate[0]})...)
		ksFile := filepath.Join(dir, "client-keystore.pem")
		if err := os.WriteFile(ksFile, ks, 0o600); err != nil {
			t.Fatal(err)
		}
		props := strings.Join([]string{
			"bootstrap.servers=" + bootstrap,
			"security.protocol=SASL_SSL",
			"ssl.truststore.type=PEM",
			"ssl.truststore.location=" + mc.pki.caFile,
			"ssl.keystore.type=PEM",
			"ssl.keystore.location=" + ksFile,
			"ssl.endpoint.identification.algorithm=https",
			"sasl.mechanism=SCRAM-SHA-512",
			fmt.Sprintf(`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="%s";`, adminPassword),
			"request.timeout.ms=20000",
		}, "\n") + "\n"
		propsFile := filepath.Join(dir, "client.properties")
		if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
			t.Fatal(err)
		}
		// SaslCheck creates the topic, produces with acks=all, consumes
		// in the group, commits and reads the commit back.
		runSaslCheck(t, "saslcheck: ok", propsFile, testkit.TopicName(t, ""), testkit.TopicName(t, "group"), strconv.Itoa(n))
	})

	t.Run("sarama SCRAM-SHA-512", func(t *testing.T) {
		topic, group := testkit.TopicName(t, ""), testkit.TopicName(t, "group")
		cfg := func() *sarama.Config {
			cfg := sarama.NewConfig()
			cfg.ClientID = "strom-test-sarama"
			cfg.Version = sarama.V3_6_0_0
			cfg.Net.TLS.Enable = true
			cfg.Net.TLS.Config = mc.clientTLS.Clone()
			cfg.Net.SASL.Enable = true
			cfg.Net.SASL.Handshake = true
			cfg.Net.SASL.Version = sarama.SASLHandshakeV1
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			cfg.Net.SASL.User, cfg.Net.SASL.Password = "admin", adminPassword
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{gen: sha512.New} }
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Retry.Max = 10
			cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
			cfg.Consumer.Offsets.AutoCommit.Enable = false
			cfg.Consumer.Return.Errors = true
			return cfg
		}
		brokers := strings.Split(bootstrap, ",")
		adm, err := sarama.NewClusterAdmin(brokers, cfg())
		if err != nil {
			t.Fatalf("cluster admin: %v", err)
		}
		defer adm.Close()
		if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false); err != nil {
			t.Fatalf("create topic: %v", err)
		}
		// sarama asks any broker, which may not have applied the new
		// topic yet (as with Kafka's brokers): ask until it has.
		var entries []sarama.ConfigEntry
		deadline := time.Now().Add(30 * time.Second)
		for {
			entries, err = adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
			if err == nil && len(entries) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("describe configs: %v (%d entries)", err, len(entries))
			}
			time.Sleep(100 * time.Millisecond)
		}
		saramaRoundTrip(t, brokers, cfg, topic, group, n)
		if got := mc.committed(t, group, topic); got != n {
			t.Fatalf("committed %d, want %d", got, n)
		}
	})

	t.Run("kcat SCRAM-SHA-512", func(t *testing.T) {
		kcat := testkit.NeedTool(t, "kcat", "kafkacat")
		topic, group := testkit.TopicName(t, ""), testkit.TopicName(t, "group")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := kadm.NewClient(mc.client(t, "admin", adminPassword)).CreateTopic(ctx, 1, 3, nil, topic); err != nil {
			t.Fatal(err)
		}
		common := []string{"-b", bootstrap, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-512",
			"-X", "sasl.username=admin", "-X", "sasl.password=" + adminPassword, "-X", "ssl.ca.location=" + mc.pki.caFile,
			"-X", "ssl.certificate.location=" + mc.pki.clientCertFile, "-X", "ssl.key.location=" + mc.pki.clientKeyFile}
		var in strings.Builder
		for i := range n {
			fmt.Fprintf(&in, "k%d\n", i)
		}
		prod := exec.Command(kcat, append(common, "-P", "-t", topic, "-X", "acks=all")...)
		prod.Stdin = strings.NewReader(in.String())
		if out, err := prod.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
		// A balanced consumer in the group; librdkafka commits the
		// consumed offsets when kcat closes it after -c records.
		cons := exec.Command(kcat, append(common, "-C", "-G", group, "-X", "auto.offset.reset=earliest", "-c", strconv.Itoa(n), topic)...)
		out, err := cons.Output()
		if err != nil || string(out) != in.String() {
			t.Fatalf("kcat -C -G: %v %q", err, out)
		}
		if got := mc.committed(t, group, topic); got != n {
			t.Fatalf("committed %d, want %d", got, n)
		}
	})

	t.Run("franz-go mTLS", func(t *testing.T) {
		topic, group := testkit.TopicName(t, ""), testkit.TopicName(t, "group")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		// The certificate's principal may do everything on its topic and
		// read its group, nothing else.
		admin := kadm.NewClient(mc.client(t, "admin", adminPassword))
		acls := kadm.NewACLs().Allow(mc.clientPrincipal).AllowHosts().Topics(topic).Groups(group).
			Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral)
		res, err := admin.CreateACLs(ctx, acls)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create ACL %+v: %v", r, r.Err)
			}
		}
		var seeds []string
		for id := int32(1); id <= 3; id++ {
			seeds = append(seeds, mc.mtls[id])
		}
		cl := func(opts ...kgo.Opt) *kgo.Client {
			c, err := kgo.NewClient(append(opts, kgo.SeedBrokers(seeds...), kgo.DialTLSConfig(mc.clientTLS.Clone()))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return c
		}
		mt := kadm.NewClient(cl())
		// The ACLs reach every node through the metadata log.
		var cerr error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			var r kadm.CreateTopicResponse
			if r, cerr = mt.CreateTopic(ctx, 3, 3, nil, topic); cerr == nil && r.Err == nil {
				break
			} else if cerr == nil {
				cerr = r.Err
			}
		}
		if cerr != nil {
			t.Fatalf("create topic as %s: %v", mc.clientPrincipal, cerr)
		}
		rcs, err := mt.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if rc, err := rcs.On(topic, nil); err != nil || rc.Err != nil || len(rc.Configs) == 0 {
			t.Fatalf("describe configs as %s: %v %+v", mc.clientPrincipal, err, rc)
		}
		prod := cl(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce as %s: %v", mc.clientPrincipal, err)
		}
		cons := cl(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit())
		for seen := 0; seen < n; {
			fs := cons.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of %d: %v", seen, n, err)
			}
			fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s[%d]: %v", tp, p, err) })
			seen += fs.NumRecords()
		}
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit as %s: %v", mc.clientPrincipal, err)
		}
		if got := mc.committed(t, group, topic); got != n {
			t.Fatalf("committed %d, want %d", got, n)
		}
		// Another topic is not the certificate's.
		other := testkit.TopicName(t, "other")
		if r, err := mt.CreateTopic(ctx, 1, 3, nil, other); err == nil && r.Err == nil {
			t.Fatalf("%s created %s without a grant", mc.clientPrincipal, other)
		}
	})
}
