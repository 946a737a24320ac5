package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

func runGroupCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	root := NewRoot(Deps{})
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("strom %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestGroupCommands(t *testing.T) {
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) { c.GroupInitialRebalanceDelay = 0 }))
	topic := testkit.TopicName(t, "grp")
	testkit.CreateTopic(t, b.Addr(), topic, 2, nil)
	prod := testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner())
	testkit.ProduceSync(t, prod, testkit.MakeRecords(topic, "g", 20, 2))

	// A real group member reads everything and commits.
	cons := testkit.NewClient(t, b.Addr(), kgo.ConsumerGroup("cli-group"), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got := 0; got < 20; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cons.Close()

	bs := "--bootstrap=" + b.Addr()
	if out := runGroupCLI(t, "group", "list", bs); !strings.Contains(out, "cli-group") || !strings.Contains(out, "Empty") {
		t.Fatalf("group list:\n%s", out)
	}
	out := runGroupCLI(t, "group", "describe", bs, "cli-group")
	for _, want := range []string{"state Empty", topic + "  0          10         10       0", topic + "  1          10         10       0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("group describe lacks %q:\n%s", want, out)
		}
	}
	plan := runGroupCLI(t, "group", "reset-offsets", bs, "cli-group", "--topic", topic, "--to-earliest")
	if !strings.Contains(plan, "dry run") {
		t.Fatalf("reset without --execute must be a dry run:\n%s", plan)
	}
	runGroupCLI(t, "group", "reset-offsets", bs, "cli-group", "--topic", topic, "--to-earliest", "--execute")
	out = runGroupCLI(t, "group", "describe", bs, "cli-group")
	if !strings.Contains(out, topic+"  0          0          10       10") {
		t.Fatalf("offsets not reset:\n%s", out)
	}
	runGroupCLI(t, "group", "delete", bs, "cli-group")
	if out := runGroupCLI(t, "group", "list", bs); strings.Contains(out, "cli-group") {
		t.Fatalf("group still listed after delete:\n%s", out)
	}
}
