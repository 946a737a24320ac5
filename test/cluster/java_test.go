package cluster_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestJavaRoundTrip runs test/cluster/java (the Apache Kafka Java client:
// Admin creates an RF=3 topic, an idempotent acks=all producer, an assign()
// consumer that checks offsets and values) bootstrapped through a node that
// is not the controller.
func TestJavaRoundTrip(t *testing.T) {
	jar := javaClusterJar(t)
	c := testkit.StartCluster(t, nodes)
	boot := nonController(t, c).KafkaAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", "-jar", jar, boot, testkit.TopicName(t, ""), "3000")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("java client output:\n%s", out.String())
	if err != nil {
		t.Fatalf("java cluster check failed: %v", err)
	}
	if !strings.Contains(out.String(), "javaclustercheck: all checks passed") {
		t.Fatalf("java cluster check exited 0 without its success line")
	}
}

// javaClusterJar builds the check with Maven, cached by a hash of its
// sources, and skips the test when no JDK or Maven is installed.
func javaClusterJar(t *testing.T) string {
	return testkit.MavenJar(t, "test/cluster/java", "javacheck.buildDir", "strom-javaclustercheck.jar")
}
