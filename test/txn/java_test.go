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
	runTxnCheck(t, jar, b.Addr())
}

// TestJavaTransactionsCluster is TestJavaTransactions against a 3-node
// cluster (topics at replication factor 3): the transaction coordinator,
// the group coordinator and the partition leaders are different nodes,
// so the implicit adds of transactions v2 cross the network.
func TestJavaTransactionsCluster(t *testing.T) {
	fullTxn(t)
	jar := testkit.MavenJar(t, "test/java", "javacheck.buildDir", "strom-javacheck.jar")
	c := testkit.StartCluster(t, 3)
	runTxnCheck(t, jar, c.Bootstrap())
}

// runTxnCheck runs TxnCheck against bootstrap and requires every check to
// pass, under transactions v2.
func runTxnCheck(t *testing.T, jar, bootstrap string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", "-cp", jar, "io.strom.test.TxnCheck", bootstrap, testkit.TopicName(t, ""), "50")
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
	// Strom finalizes transaction.version 2: the Java client 4.x must have
	// run transactions v2 (an epoch bump per commit and abort).
	if !strings.Contains(out.String(), "txncheck: transactions v2") {
		t.Fatalf("TxnCheck did not run transactions v2")
	}
}
