package quota_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// TestKafkaConfigsQuotas: Kafka's own kafka-configs (kafka.admin.ConfigCommand
// from the Maven jars) sets and describes quotas of a user, a client id
// and the <default> user, and removes one; kadm sees the same. Full run
// only (a JVM per command).
func TestKafkaConfigsQuotas(t *testing.T) {
	if !full() {
		t.Skip("STROM_QUOTA=full (make quota-test)")
	}
	java := testkit.NeedTool(t, "java")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	libDir, err := kafkaref.EnsureJars(ctx, "", "", "")
	if errors.Is(err, kafkaref.ErrUnavailable) {
		testkit.MissingTool(t, "kafka-ref-jars", err.Error())
	} else if err != nil {
		t.Fatal(err)
	}
	b := testkit.StartBroker(t)
	configs := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, java, append([]string{"-cp", filepath.Join(libDir, "*"), "kafka.admin.ConfigCommand", "--bootstrap-server", b.Addr()}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-configs %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	configs("--entity-type", "users", "--entity-name", "alice", "--alter", "--add-config", "producer_byte_rate=1048576")
	configs("--entity-type", "clients", "--entity-name", "app", "--alter", "--add-config", "consumer_byte_rate=2048,request_percentage=25")
	configs("--entity-type", "users", "--entity-default", "--alter", "--add-config", "producer_byte_rate=1000")
	configs("--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients", "--entity-name", "app", "--alter", "--add-config", "controller_mutation_rate=5")

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--entity-type", "users", "--entity-name", "alice", "--describe"}, []string{"Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0"}},
		{[]string{"--entity-type", "clients", "--entity-name", "app", "--describe"}, []string{"Quota configs for client-id 'app' are", "consumer_byte_rate=2048.0", "request_percentage=25.0"}},
		{[]string{"--entity-type", "users", "--entity-default", "--describe"}, []string{"Quota configs for the default user-principal are producer_byte_rate=1000.0"}},
		{[]string{"--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients", "--entity-name", "app", "--describe"}, []string{"Quota configs for user-principal 'alice', client-id 'app' are controller_mutation_rate=5.0"}},
		{[]string{"--entity-type", "users", "--describe"}, []string{"Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0", "Quota configs for the default user-principal are producer_byte_rate=1000.0"}},
	} {
		out := configs(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("kafka-configs %v:\n%s\nwant %q", tc.args, out, w)
			}
		}
	}
	// kadm reads what kafka-configs wrote.
	adm := admin(t, b.Addr())
	qs, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: str("alice"), MatchType: kmsg.QuotasMatchTypeExact}})
	if err != nil || len(qs) != 1 || len(qs[0].Values) != 1 || qs[0].Values[0].Value != 1048576 {
		t.Fatalf("kadm describe alice: %v %+v", err, qs)
	}
	configs("--entity-type", "users", "--entity-name", "alice", "--alter", "--delete-config", "producer_byte_rate")
	if out := configs("--entity-type", "users", "--entity-name", "alice", "--describe"); strings.Contains(out, "producer_byte_rate") {
		t.Errorf("after --delete-config:\n%s", out)
	}
}
