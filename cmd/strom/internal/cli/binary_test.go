package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// strom runs the built binary with a clean environment: HOME is an empty
// directory (so no profile of the machine's user is read) and no STROM_*
// variable is inherited.
type strom struct {
	t    *testing.T
	bin  string
	home string
	env  []string
}

func newStrom(t *testing.T) *strom {
	return &strom{t: t, bin: testkit.StromBinary(t), home: t.TempDir()}
}

type result struct {
	out, err string
	code     int
}

func (s *strom) run(stdin string, args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH")}
	cmd.Env = append(cmd.Env, s.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		s.t.Fatalf("strom %s: still running after 60s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out.String(), errOut.String())
	}
	r := result{out: out.String(), err: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("strom %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// ok runs and fails the test on a non-zero exit.
func (s *strom) ok(stdin string, args ...string) string {
	s.t.Helper()
	r := s.run(stdin, args...)
	if r.code != 0 {
		s.t.Fatalf("strom %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// fails runs, wants exit code want and one line on stderr containing msg.
func (s *strom) fails(want int, msg string, args ...string) {
	s.t.Helper()
	r := s.run("", args...)
	if r.code != want || !strings.Contains(r.err, msg) {
		s.t.Fatalf("strom %s: exit %d, stderr %q; want exit %d and %q", strings.Join(args, " "), r.code, r.err, want, msg)
	}
	if lines := strings.Count(strings.TrimSpace(r.err), "\n"); lines != 0 {
		s.t.Fatalf("strom %s: error is %d lines, want one:\n%s", strings.Join(args, " "), lines+1, r.err)
	}
}

// TestBinaryClientCommands drives the built binary against a broker that
// does not create topics on first use.
func TestBinaryClientCommands(t *testing.T) {
	b := testkit.StartProcess(t, testkit.ProcessOptions{Args: []string{"--auto-create-topics=false"}})
	s := newStrom(t)
	bs := "-b=" + b.Addr()
	topic := testkit.TopicName(t, "cli")
	s.ok("", "topic", "create", topic, "--partitions", "2", "--config", "max.message.bytes=3000000", bs)

	// Keys after -K:, headers, one partition, and a line longer than
	// any line buffer: 2 MB, under the topic's max.message.bytes.
	long := strings.Repeat("x", 2_000_000)
	s.ok("k1:hello\nk2:"+long+"\nnokey\n", "produce", bs, "-t", topic, "-K:", "-H", "a=1", "-H", "b=2", "-p", "1")

	out := s.ok("", "consume", bs, "-t", topic, "-p", "1", "-o", "beginning", "-e", "--format", `%t|%p|%o|%k|%S|%h\n`)
	want := topic + "|1|0|k1|5|a=1,b=2\n" + topic + "|1|1|k2|2000000|a=1,b=2\n" + topic + "|1|2||5|a=1,b=2\n"
	if out != want {
		t.Fatalf("consume -e --format template:\n%.300s\nwant:\n%s", out, want)
	}
	// -e over every partition (partition 0 is empty) with fewer records
	// than --max-messages.
	if out := s.ok("", "consume", bs, "-t", topic, "-o", "beginning", "-e", "--max-messages", "10", "--format", `%o\n`); out != "0\n1\n2\n" {
		t.Fatalf("consume -e --max-messages 10: %q", out)
	}
	out = s.ok("", "consume", "--bootstrap-server", b.Addr(), "-t", topic, "-o", "-1", "-e", "--format", "json")
	var rec jsonRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Offset != 2 || rec.Partition != 1 || rec.Key != nil ||
		rec.Value == nil || *rec.Value != "nokey" || rec.Headers["b"] != "2" {
		t.Fatalf("consume -o -1 --format json: %q (%v)", out, err)
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	if out := s.ok("", "consume", bs, "-t", topic, "-o", "s@"+itoa(future), "-e"); out != "" {
		t.Fatalf("consume -o s@future -e printed %q", out)
	}
	if out := s.ok("", "consume", bs, "-t", topic, "-o", "1", "-o", "e@"+itoa(future), "-p", "1", "--format", `%o\n`); out != "1\n2\n" {
		t.Fatalf("consume -o 1 -o e@future: %q", out)
	}

	// A transaction's commit marker is the last offset: -e still ends.
	txTopic := topic + "-tx"
	testkit.CreateTopic(t, b.Addr(), txTopic, 1, nil)
	tx := testkit.NewClient(t, b.Addr(), kgo.TransactionalID(txTopic), kgo.DefaultProduceTopic(txTopic))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"t1", "t2"} {
		if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if out := s.ok("", "consume", bs, "-t", txTopic, "-o", "beginning", "-e"); out != "t1\nt2\n" {
		t.Fatalf("consume -e over a committed transaction: %q", out)
	}

	// A group reads from the beginning, commits, and -e with the stored
	// offsets then has nothing left.
	group := topic + "-g"
	if out := s.ok("", "consume", bs, "-t", topic, "-g", group, "-o", "beginning", "-e", "--format", `%o\n`); out != "0\n1\n2\n" {
		t.Fatalf("group consume: %q", out)
	}
	if out := s.ok("", "consume", bs, "-t", topic, "-g", group, "-e"); out != "" {
		t.Fatalf("group consume from stored offsets printed %q", out)
	}
	out = s.ok("", "group", "describe", group, bs, "--format", "json")
	var gd []groupDescription
	if err := json.Unmarshal([]byte(out), &gd); err != nil || len(gd) != 1 || len(gd[0].Offsets) != 2 ||
		gd[0].Offsets[1].Committed == nil || *gd[0].Offsets[1].Committed != 3 {
		t.Fatalf("group describe --format json: %s (%v)", out, err)
	}

	out = s.ok("", "topic", "list", bs, "--format", "json")
	var topics []topicSummary
	if err := json.Unmarshal([]byte(out), &topics); err != nil || len(topics) != 2 || topics[0].Name != topic || topics[0].Partitions != 2 ||
		len(topics[0].ID) != 22 || strings.ContainsAny(topics[0].ID, "+/=") {
		t.Fatalf("topic list --format json: %s (%v)", out, err)
	}
	if out := s.ok("", "topic", "describe", topic, bs, "--format", "yaml"); !strings.Contains(out, "max.message.bytes: \"3000000\"") {
		t.Fatalf("topic describe --format yaml:\n%s", out)
	}

	// Unknown names fail at once, in Kafka's words.
	s.fails(1, "topic nope: This server does not host this topic-partition", "consume", bs, "-t", "nope")
	s.fails(1, "topic nope: This server does not host this topic-partition", "topic", "describe", "nope", bs)
	s.fails(1, "group nope: The group id does not exist", "group", "describe", "nope", bs)
	s.fails(1, "create it with: strom topic create nope", "produce", bs, "-t", "nope")
	s.fails(2, `unknown command "lsit" for "strom topic"; did you mean list?`, "topic", "lsit", bs)
	s.fails(2, `unknown command "consum" for "strom"; did you mean consume?`, "consum")
	s.fails(2, "--format", "consume", bs, "-t", topic, "--format", "%q")
	s.fails(1, "cannot reach a broker at 127.0.0.1:1 (connection refused)", "group", "list", "-b", "127.0.0.1:1")

	// The address from STROM_BOOTSTRAP, then from the profile file.
	s.env = []string{"STROM_BOOTSTRAP=" + b.Addr()}
	if out := s.ok("", "topic", "list"); out != topic+"\n"+txTopic+"\n" {
		t.Fatalf("topic list with STROM_BOOTSTRAP: %q", out)
	}
	s.env = nil
	s.fails(1, "cannot reach a broker at 127.0.0.1:9092", "topic", "list", "-b", "127.0.0.1:9092")
	prof := filepath.Join(s.home, ".config", "strom", "config.toml")
	if err := os.MkdirAll(filepath.Dir(prof), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prof, []byte("bootstrap = \""+b.Addr()+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := s.ok("", "topic", "list"); out != topic+"\n"+txTopic+"\n" {
		t.Fatalf("topic list with a profile file: %q", out)
	}
	other := filepath.Join(t.TempDir(), "p.toml")
	if err := os.WriteFile(other, []byte("bootstrap = \"127.0.0.1:1\"\n[sasl]\nmechanism = \"GSSAPI\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.fails(1, "sasl.mechanism", "topic", "list", "--profile", other)

	// bench: a JSON summary; the records it reads were written before it
	// started, so they carry no end-to-end latency.
	benchTopic := topic + "-bench"
	var sum benchSummary
	out = s.ok("", "bench", "produce", bs, "--topic", benchTopic, "--num-records", "50", "--format", "json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Records != 50 || sum.LatKind == "" {
		t.Fatalf("bench produce --format json: %q (%v)", out, err)
	}
	sum = benchSummary{}
	out = s.ok("", "bench", "consume", bs, "--topic", benchTopic, "--num-records", "50", "--format", "json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Records != 50 || sum.LatKind != "" {
		t.Fatalf("bench consume --format json: %q (%v)", out, err)
	}
	s.fails(2, "record-size", "bench", "produce", bs, "--record-size", "-1")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestBinaryCompletionAndDocs checks the generated shell completion and
// man pages.
func TestBinaryCompletionAndDocs(t *testing.T) {
	s := newStrom(t)
	for shell, want := range map[string]string{"bash": "__start_strom", "zsh": "#compdef strom", "fish": "complete -c strom"} {
		if out := s.ok("", "completion", shell); !strings.Contains(out, want) {
			t.Fatalf("completion %s lacks %q:\n%.300s", shell, want, out)
		}
	}
	dir := t.TempDir()
	s.ok("", "docs", "man", dir)
	page, err := os.ReadFile(filepath.Join(dir, "strom-consume.1"))
	if err != nil || !bytes.Contains(page, []byte("kcat")) {
		t.Fatalf("man page strom-consume.1: %v\n%.300s", err, page)
	}
}

// TestBinaryUserAndACL: strom user and strom acl against a broker with
// authorization on (open while no ACL names a resource), as kafka-configs
// --entity-type users and kafka-acls are used.
func TestBinaryUserAndACL(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "strom.toml")
	if err := os.WriteFile(conf, []byte("[authorization]\nenabled = true\nallow_everyone_if_no_acl_found = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := testkit.StartProcess(t, testkit.ProcessOptions{Args: []string{"--config", conf}})
	s := newStrom(t)
	bs := "-b=" + b.Addr()

	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("alice-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok("", "user", "set", "alice", "--password-file", pw, bs)
	s.ok("", "user", "set", "alice", "--password", "other", "--mechanism", "SCRAM-SHA-256", "--iterations", "8192", bs)
	out := s.ok("", "user", "list", bs, "--format", "json")
	var creds []struct {
		User, Mechanism string
		Iterations      int32
	}
	if err := json.Unmarshal([]byte(out), &creds); err != nil {
		t.Fatalf("user list --format json: %v\n%s", err, out)
	}
	got := fmt.Sprint(creds)
	if got != "[{alice SCRAM-SHA-256 8192} {alice SCRAM-SHA-512 4096}]" {
		t.Fatalf("user list = %s", got)
	}
	s.ok("", "user", "delete", "alice", "--mechanism", "SCRAM-SHA-256", bs)
	if out := s.ok("", "user", "list", bs); strings.Contains(out, "SCRAM-SHA-256") || !strings.Contains(out, "alice") {
		t.Fatalf("user list after deleting one mechanism:\n%s", out)
	}
	s.fails(2, "want SCRAM-SHA-256 or SCRAM-SHA-512", "user", "set", "bob", "--password", "x", "--mechanism", "MD5", bs)

	s.ok("", "acl", "add", "--principal", "User:alice", "--operation", "READ", "--operation", "describe", "--topic", "orders", "--prefixed", bs)
	s.ok("", "acl", "add", "--principal", "User:bob", "--operation", "WRITE", "--topic", "orders", "--deny", bs)
	out = s.ok("", "acl", "list", bs)
	for _, want := range []string{"User:alice", "PREFIXED", "READ", "DESCRIBE", "User:bob", "DENY", "WRITE"} {
		if !strings.Contains(out, want) {
			t.Fatalf("acl list lacks %s:\n%s", want, out)
		}
	}
	if out := s.ok("", "acl", "remove", "--principal", "User:alice", "--operation", "READ", "--operation", "DESCRIBE", "--topic", "orders", "--prefixed", bs); !strings.Contains(out, "removed 2 ACLs") {
		t.Fatalf("acl remove: %s", out)
	}
	if out := s.ok("", "acl", "list", bs, "--format", "json"); strings.Contains(out, "User:alice") || !strings.Contains(out, "User:bob") {
		t.Fatalf("acl list after remove:\n%s", out)
	}
	s.fails(2, "name one resource", "acl", "add", "--principal", "User:x", "--operation", "READ", bs)
	s.fails(2, "is not a Kafka ACL operation", "acl", "add", "--principal", "User:x", "--operation", "FLY", "--topic", "t", bs)
}
