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

// kcat runs kcat (librdkafka 2.0 in Debian's package, a client of the
// protocol before KIP-890) with stdin, skipping when it is not installed.
func kcat(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// TestKcatInitTransactions: kcat -X transactional.id initializes its
// transactional producer (init_transactions) and commits an empty
// transaction.
func TestKcatInitTransactions(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	out, err := kcat(t, "", "-b", b.Addr(), "-P", "-t", topic, "-X", "transactional.id=kcat-init", "-d", "eos")
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	if !strings.Contains(out, "init_transactions return at rd_kafka_init_transactions") || !strings.Contains(out, "Acquired PID{Id:") {
		t.Fatalf("kcat did not initialize its transactional producer:\n%s", out)
	}
}

// TestKcatTransactionalProduce: kcat's transactional produce commits and a
// read_committed consumer reads the records. Needs the data plane.
func TestKcatTransactionalProduce(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	if out, err := kcat(t, "a\nb\nc\n", "-b", b.Addr(), "-P", "-t", topic, "-p", "0", "-X", "transactional.id=kcat-produce"); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	got := readCommitted(t, b.Addr(), topic, 3)
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("read_committed saw %q", got)
	}
}
