package security_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// TestKafkaConfigsScram: Kafka's own kafka-configs (kafka.admin.ConfigCommand
// from the Maven jars) adds a SCRAM user, who then logs in over SASL_SSL;
// --delete-config removes it. Full run only (a JVM per command).
// (Quotas through kafka-configs: test/quota.)
func TestKafkaConfigsScram(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
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
	sb := startSecureBroker(t, "none")
	configs := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, java, append([]string{"-cp", filepath.Join(libDir, "*"), "kafka.admin.ConfigCommand", "--bootstrap-server", sb.internal}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-configs %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	configs("--alter", "--add-config", "SCRAM-SHA-512=[password=alice-secret]", "--entity-type", "users", "--entity-name", "alice")
	admin := kadm.NewClient(franzClient(t, sb.internal, nil, nil))
	if d, err := admin.DescribeUserSCRAMs(ctx, "alice"); err != nil || d["alice"].Err != nil || len(d["alice"].CredInfos) != 1 || d["alice"].CredInfos[0].Iterations != 4096 {
		t.Fatalf("describe alice: %v %+v", err, d)
	}
	cl := franzClient(t, sb.client, sb.clientTLS(), scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism())
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if err := cl.Ping(pctx); err != nil {
		t.Fatalf("alice after kafka-configs: %v", err)
	}
	configs("--alter", "--delete-config", "SCRAM-SHA-512", "--entity-type", "users", "--entity-name", "alice")
	if d, err := admin.DescribeUserSCRAMs(ctx, "alice"); err != nil || !errors.Is(d["alice"].Err, kerr.ResourceNotFound) {
		t.Fatalf("alice after deletion: %v %+v", err, d)
	}
}
