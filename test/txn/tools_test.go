package txn_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// fullTxn reports whether the long transaction tests run (STROM_TXN=full,
// `make txn-full`).
func fullTxn(t *testing.T) {
	t.Helper()
	if os.Getenv("STROM_TXN") != "full" {
		t.Skip("STROM_TXN=full only (make txn-full)")
	}
}

// TestTransactionsCommand runs Kafka 4.1's kafka-transactions
// (org.apache.kafka.tools.TransactionsCommand, from the Maven jars)
// against Strom: list, describe and describe-producers see an ongoing
// transaction of a coordinated producer; find-hanging reports the open
// transaction of a producer the coordinator does not know (written with
// KIP-890 verification off, as a late write from before it would be) and
// not the coordinated one; abort ends the hanging one with an ABORT marker
// so that the last stable offset can pass it.
func TestTransactionsCommand(t *testing.T) {
	fullTxn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp, err := kafkaref.EnsureToolJars(ctx, "")
	if err != nil {
		t.Fatalf("Kafka's tool jars: %v", err)
	}
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.TransactionStatePartitions = 3
		c.TransactionPartitionVerification = false
	}))
	tool := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "java", append([]string{"-Xmx256m", "-cp", cp,
			"org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server", b.Addr()}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kafka-transactions %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		t.Logf("kafka-transactions %s:\n%s", strings.Join(args, " "), stdout.String())
		return stdout.String()
	}
	row := func(out string, cols ...string) bool {
		re := regexp.MustCompile(`(?m)^\s*` + strings.Join(cols, `\s+`) + `(\s|$)`)
		return re.MatchString(out)
	}

	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	const id = "tools-ongoing"
	p := testkit.NewClient(t, b.Addr(), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("coordinated")}).FirstErr(); err != nil { // offset 0
		t.Fatal(err)
	}
	raw := testkit.NewRawClient(t, b.Addr())
	hanging := testkit.InitTxnProducer(t, raw, "unknown-to-the-coordinator")
	if code, off := hanging.Produce(t, raw, topic, 0, false, "hanging"); code != 0 || off != 1 {
		t.Fatalf("hanging produce: code %d, offset %d", code, off)
	}
	d := waitState(t, p, id, func(d kadm.DescribedTransaction) bool { return d.State == "Ongoing" })
	pid := fmt.Sprint(d.ProducerID)

	if out := tool("list"); !row(out, id, "1", pid, "Ongoing") {
		t.Errorf("list: no row for %s", id)
	}
	if out := tool("describe", "--transactional-id", id); !row(out, "1", id, pid, fmt.Sprint(d.ProducerEpoch), "Ongoing") ||
		!strings.Contains(out, topic+"-0") {
		t.Errorf("describe: no Ongoing row for %s with %s-0", id, topic)
	}
	out := tool("describe-producers", "--topic", topic, "--partition", "0")
	if !row(out, pid, `\d+`, `-?\d+`, "0", `\d+`, "0") || !row(out, fmt.Sprint(hanging.PID), "0", "-1", "0", `\d+`, "1") {
		t.Errorf("describe-producers: want the coordinated producer's transaction at 0 and the hanging one at 1")
	}
	out = tool("find-hanging", "--topic", topic, "--max-transaction-timeout", "0")
	if !row(out, topic, "0", fmt.Sprint(hanging.PID), "0", "-1", "1") || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("find-hanging: want exactly the hanging transaction at offset 1")
	}
	tool("abort", "--topic", topic, "--partition", "0", "--start-offset", "1")
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// Offsets 0 coordinated, 1 hanging, 2 its ABORT, 3 the COMMIT.
	deadline := time.Now().Add(20 * time.Second)
	for testkit.ListLatest(t, raw, topic, 0, 1) != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("LSO %d, want 4 once both transactions ended", testkit.ListLatest(t, raw, topic, 0, 1))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := readCommitted(t, b.Addr(), topic, 1); len(got) != 1 || got[0] != "coordinated" {
		t.Errorf("read_committed: %q", got)
	}
	if out := tool("find-hanging", "--topic", topic, "--max-transaction-timeout", "0"); row(out, topic, "0") {
		t.Errorf("find-hanging after the abort still reports a transaction")
	}
}
