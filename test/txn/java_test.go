package txn_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestJavaTransactions runs test/java's TxnCheck (the Apache Kafka Java
// client, transactions v2): commit, abort, commit with
// sendOffsetsToTransaction, fencing by a second producer, and
// read_committed/read_uncommitted consumers that count what they read.
func TestJavaTransactions(t *testing.T) {
	jar := testkit.MavenJar(t, "test/java", "javacheck.buildDir", "strom-javacheck.jar")
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", "-cp", jar, "io.strom.test.TxnCheck", b.Addr(), testkit.TopicName(t, ""), "50")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("TxnCheck output:\n%s", out.String())
	if err != nil {
		t.Fatalf("TxnCheck failed: %v", err)
	}
	if !strings.Contains(out.String(), "txncheck: all checks passed") {
		t.Fatalf("TxnCheck exited 0 without its success line")
	}
}
