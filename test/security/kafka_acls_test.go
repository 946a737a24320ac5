package security_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// TestKafkaAcls: Kafka's own kafka-acls (org.apache.kafka.tools.AclCommand,
// kafka.admin.AclCommand before Kafka 4.0, from the Maven jars), signed
// in as the super user, adds a producer ACL for a user, lists it and
// removes it; the user can produce only while it exists. Full run only
// (a JVM per command).
func TestKafkaAcls(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	java := testkit.NeedTool(t, "java")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp, err := kafkaref.EnsureToolJars(ctx, "")
	if errors.Is(err, kafkaref.ErrUnavailable) {
		testkit.MissingTool(t, "kafka-ref-jars", err.Error())
	} else if err != nil {
		t.Fatal(err)
	}
	sb := startSecureBroker(t, "none", withAuthorizer)
	props := filepath.Join(t.TempDir(), "admin.properties")
	if err := os.WriteFile(props, []byte("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="`+adminPassword+`";`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	acls := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, java, append([]string{"-cp", cp, "org.apache.kafka.tools.AclCommand",
			"--bootstrap-server", sb.saslPlain, "--command-config", props}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-acls %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	topic := testkit.TopicName(t, "")
	if _, err := kadm.NewClient(plainClient(t, sb, "admin")).CreateTopics(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	bea := plainClient(t, sb, "bea", kgo.DisableIdempotentWrite())
	if err := produce(bea, topic, "x"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce before kafka-acls: %v", err)
	}
	acls("--add", "--allow-principal", "User:bea", "--producer", "--topic", topic)
	if out := acls("--list", "--topic", topic); !strings.Contains(out, "User:bea") || !strings.Contains(out, "WRITE") {
		t.Fatalf("kafka-acls --list:\n%s", out)
	}
	if err := produce(bea, topic, "x"); err != nil {
		t.Fatalf("produce after kafka-acls --add: %v", err)
	}
	acls("--remove", "--force", "--allow-principal", "User:bea", "--producer", "--topic", topic)
	if out := acls("--list", "--topic", topic); strings.Contains(out, "User:bea") {
		t.Fatalf("kafka-acls --list after --remove:\n%s", out)
	}
	if err := produce(bea, topic, "x"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce after kafka-acls --remove: %v", err)
	}
}
