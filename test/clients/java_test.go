package clients_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestJavaClient builds test/java (the Apache Kafka Java client: Admin,
// idempotent acks=all producer in every codec, assign() consumer) and runs it
// against the broker. The jar is cached by a hash of the project's sources.
func TestJavaClient(t *testing.T) {
	jar := javaCheckJar(t)
	b := testkit.StartBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", "-jar", jar, b.Addr(), testkit.TopicName(t, ""), "200")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("java client output:\n%s", out.String())
	if err != nil {
		t.Fatalf("java client check failed: %v", err)
	}
	if !strings.Contains(out.String(), "javacheck: all checks passed") {
		t.Fatalf("java client exited 0 without its success line")
	}
}

func javaCheckJar(t *testing.T) string {
	return testkit.MavenJar(t, "test/java", "javacheck.buildDir", "strom-javacheck.jar")
}
