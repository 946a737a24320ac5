package security_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestClusterSASLSSL: three nodes, each its own process with a PLAINTEXT
// listener (the one the cluster shape names) and a SASL_SSL listener.
// Every node registers both in the metadata, so Metadata through any
// node's SASL_SSL port names every broker's SASL_SSL address; a user
// created through one node logs in through another (credentials are in
// the replicated metadata). Full run only (three processes).
func TestClusterSASLSSL(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	p := newPKI(t)
	pwFile := filepath.Join(p.dir, "admin.password")
	if err := os.WriteFile(pwFile, []byte(adminPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	client := map[int32]string{}
	for id := int32(1); id <= 3; id++ {
		client[id] = freeAddr(t)
	}
	testkit.StartCluster(t, 3,
		testkit.WithNodeTOML(fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n\n[[sasl.users]]\nname = \"admin\"\npassword_file = %q\n", p.certFile, p.keyFile, pwFile)),
		testkit.WithPerNodeTOML(func(id int32, kafka string) string {
			return fmt.Sprintf("[[listeners]]\nname = \"INTERNAL\"\naddress = %q\nprotocol = \"PLAINTEXT\"\n\n[[listeners]]\nname = \"CLIENT\"\naddress = %q\nprotocol = \"SASL_SSL\"\n", kafka, client[id])
		}))
	login := func(id int32, user, pass string) *kgo.Client {
		return franzClient(t, client[id], &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}, scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := login(1, "admin", adminPassword)
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 3 {
		t.Fatalf("metadata names %d brokers", len(resp.Brokers))
	}
	for _, b := range resp.Brokers {
		if got := b.Host + ":" + strconv.Itoa(int(b.Port)); got != client[b.NodeID] {
			t.Fatalf("broker %d advertised as %s on CLIENT, want %s", b.NodeID, got, client[b.NodeID])
		}
	}
	admin := kadm.NewClient(cl)
	topic := testkit.TopicName(t, "")
	if _, err := admin.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("replicated")}).FirstErr(); err != nil {
		t.Fatalf("produce through SASL_SSL: %v", err)
	}
	if _, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Password: "alice-secret"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := login(3, "alice", "alice-secret").Ping(pctx)
		pcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice through node 3: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
