package quota_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestUserQuotaWithSASL: a user quota (/config/users/alice) holds the
// clients that authenticated as alice, whatever their client id, and
// not bob's with the same client id.
func TestUserQuotaWithSASL(t *testing.T) {
	t.Parallel()
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
		c.SASL.Users = []config.SASLUser{
			{Name: "alice", PasswordFile: pw, Mechanisms: []string{"PLAIN"}},
			{Name: "bob", PasswordFile: pw, Mechanisms: []string{"PLAIN"}},
		}
	}))
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
	as := func(user string) kgo.Opt { return kgo.SASL(plain.Auth{User: user, Pass: "secret"}.AsMechanism()) }
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
