package quota_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// saslBroker starts a broker with a PLAINTEXT listener (b.Addr()) and a
// SASL_PLAINTEXT one (returned) where users log in with "secret".
func saslBroker(t *testing.T, users []string, more func(*config.Config)) (*testkit.Broker, string) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	saslAddr := fmt.Sprintf("127.0.0.1:%d", port)
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.Listeners = []config.Listener{
			{Name: "INTERNAL", Address: c.Listen, Protocol: "PLAINTEXT"},
			{Name: "USERS", Address: saslAddr, Protocol: "SASL_PLAINTEXT", SASLMechanisms: []string{"PLAIN"}},
		}
		for _, u := range users {
			c.SASL.Users = append(c.SASL.Users, config.SASLUser{Name: u, PasswordFile: pw, Mechanisms: []string{"PLAIN"}})
		}
		if more != nil {
			more(c)
		}
	}))
	return b, saslAddr
}

func as(user string) kgo.Opt { return kgo.SASL(plain.Auth{User: user, Pass: "secret"}.AsMechanism()) }

// TestQuotaAPIsAuthorization: DescribeClientQuotas needs DESCRIBE_CONFIGS
// on the cluster, AlterClientQuotas ALTER_CONFIGS (Kafka's checks), each
// refused with CLUSTER_AUTHORIZATION_FAILED.
func TestQuotaAPIsAuthorization(t *testing.T) {
	t.Parallel()
	_, addr := saslBroker(t, []string{"admin", "bob"}, func(c *config.Config) {
		c.Authorization = config.Authorization{Enabled: true, SuperUsers: []string{"User:admin"}}
	})
	ctx := ctxFor(t, time.Minute)
	root := kadm.NewClient(newClient(t, addr, as("admin")))
	bob := kadm.NewClient(newClient(t, addr, as("bob")))
	alter := []kadm.AlterClientQuotaEntry{{Entity: ent("user", "carol"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1000)}}}
	if _, err := bob.DescribeClientQuotas(ctx, false, nil); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("bob describes: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
	}
	if res, err := bob.AlterClientQuotas(ctx, alter); err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("bob alters: %v %+v, want CLUSTER_AUTHORIZATION_FAILED", err, res)
	}
	if res, err := root.CreateACLs(ctx, kadm.NewACLs().Clusters().Allow("User:bob").Operations(kadm.OpDescribeConfigs).ResourcePatternType(kadm.ACLPatternLiteral)); err != nil || res[0].Err != nil {
		t.Fatalf("grant: %v %+v", err, res)
	}
	if res, err := root.AlterClientQuotas(ctx, alter); err != nil || res[0].Err != nil {
		t.Fatalf("admin alters: %v %+v", err, res)
	}
	qs, err := bob.DescribeClientQuotas(ctx, false, nil)
	if err != nil || len(qs) != 1 {
		t.Errorf("bob describes with DESCRIBE_CONFIGS: %v %+v", err, qs)
	}
	if res, err := bob.AlterClientQuotas(ctx, alter); err != nil || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("bob alters with DESCRIBE_CONFIGS only: %v %+v", err, res)
	}
}

// TestUserQuotaWithSASL: a user quota (/config/users/alice) holds the
// clients that authenticated as alice, whatever their client id, and
// not bob's with the same client id.
func TestUserQuotaWithSASL(t *testing.T) {
	t.Parallel()
	b, saslAddr := saslBroker(t, []string{"alice", "bob"}, nil)
	ctx := ctxFor(t, time.Minute)
	adm := admin(t, b.Addr())
	topic := testkit.TopicName(t, "")
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: ent("user", "alice"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 100<<10)}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, res)
	}
	alice := startProducer(t, saslAddr, "same", topic, as("alice"))
	bob := startProducer(t, saslAddr, "same", topic, as("bob"))
	end := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	wg.Add(2)
	go alice.run(ctx, end, 0, &wg)
	go bob.run(ctx, end, 4*time.Millisecond, &wg)
	wg.Wait()
	if alice.hook.n.Load() == 0 {
		t.Errorf("alice was never throttled (acked %d bytes)", alice.acked.Load())
	}
	if n := bob.hook.n.Load(); n != 0 {
		t.Errorf("bob, with alice's client id but no quota, was throttled %d times", n)
	}
}
