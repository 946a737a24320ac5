package cluster_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// syncBuffer is an io.Writer safe for concurrent use that keeps everything.
type syncBuffer struct {
	ch chan struct{}
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.ch <- struct{}{}
	defer func() { <-s.ch }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.ch <- struct{}{}
	defer func() { <-s.ch }()
	return s.b.String()
}

// TestClusterUp runs `strom cluster up --nodes 3`, waits for its bootstrap
// line, checks that every node lists 3 brokers, that a topic created
// without settings gets replication factor 3 and min.insync.replicas 2, and
// that the example client command it prints works; then it interrupts it,
// and checks that it exits cleanly and no node process is left.
func TestClusterUp(t *testing.T) {
	bin := testkit.StromBinary(t)
	cmd := exec.Command(bin, "cluster", "up", "--nodes", "3", "--base-port", "0", "--data-dir", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{ch: make(chan struct{}, 1)}
	cmd.Stderr = stderr
	// Its own process group, as a shell gives a foreground job, so that
	// the SIGINT below reaches it the way Ctrl-C in a terminal does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start strom cluster up: %v", err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var children []int
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("strom cluster up stderr:\n%s", stderr.String())
		}
		_ = cmd.Process.Kill()
		for range lines {
		}
		<-exited
		for _, pid := range children {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	var bootstrap string
	deadline := time.After(90 * time.Second)
	for bootstrap == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("strom cluster up exited before printing its bootstrap line")
			}
			t.Logf("stdout: %s", l)
			if b, found := strings.CutPrefix(l, "bootstrap: "); found {
				bootstrap = b
			}
		case <-deadline:
			t.Fatalf("no bootstrap line within 90s")
		}
	}
	addrs := strings.Split(bootstrap, ",")
	if len(addrs) != 3 {
		t.Fatalf("bootstrap line lists %d addresses, want 3: %q", len(addrs), bootstrap)
	}
	children = childPIDs(t, cmd.Process.Pid)
	if len(children) != 3 {
		t.Errorf("strom cluster up has %d child processes %v, want 3", len(children), children)
	}
	for _, a := range addrs {
		resp, err := testkit.RequestTo(context.Background(), a, metadataRequest())
		if err != nil {
			t.Fatalf("metadata from %s: %v", a, err)
		}
		if got := brokerList(metadataResponse(resp)); strings.Count(got, "=") != 3 {
			t.Errorf("node %s lists brokers %s, want 3", a, got)
		}
	}

	// The example it prints, and the replication of a new topic.
	var try string
	for try == "" {
		select {
		case l := <-lines:
			t.Logf("stdout: %s", l)
			if rest, found := strings.CutPrefix(l, "try: "); found {
				try = rest
			}
		case <-deadline:
			t.Fatalf("no example command within 90s")
		}
	}
	if !strings.Contains(try, "consume -b "+bootstrap+" -t demo -o beginning -e") {
		t.Errorf("example command %q lacks the consume command with the bootstrap list", try)
	}
	runCLI := func(stdin string, args ...string) string {
		c := exec.Command(bin, append(args, "-b", bootstrap)...)
		c.Stdin = strings.NewReader(stdin)
		c.Env = []string{"HOME=" + t.TempDir()}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("strom %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	runCLI("", "topic", "create", "demo")
	if out := runCLI("", "topic", "describe", "demo", "--format", "json"); !strings.Contains(out, `"replication_factor": 3`) {
		t.Errorf("a new topic of a 3-node cluster up is not on 3 replicas:\n%s", out)
	}
	runCLI("one\ntwo\n", "produce", "-t", "demo")
	if out := runCLI("", "consume", "-t", "demo", "-o", "beginning", "-e"); out != "one\ntwo\n" {
		t.Errorf("example consume printed %q", out)
	}
	cfgs, err := testkit.RequestTo(context.Background(), addrs[0], describeTopicConfig("demo"))
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	if got := configValue(cfgs, "min.insync.replicas"); got != "2" {
		t.Errorf("min.insync.replicas of a new topic = %q, want 2", got)
	}

	// Ctrl-C: SIGINT to the whole foreground process group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	for range lines {
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("strom cluster up exited with %v after SIGINT, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("strom cluster up still running 60s after SIGINT")
	}
	// A clean stop of the whole cluster says nothing alarming: each node
	// got one signal and shut down cleanly, with no ERROR line.
	if out := stderr.String(); strings.Contains(out, "level=ERROR") || strings.Contains(out, "did not stop cleanly") {
		t.Errorf("a clean stop of the cluster logged errors:\n%s", out)
	}
	for _, pid := range children {
		if alive(pid) {
			t.Errorf("node process %d still running after strom cluster up exited", pid)
		}
	}
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid(child) == pid {
			out = append(out, child)
		}
	}
	return out
}

// ppid is the parent of pid from /proc/PID/stat, or -1.
func ppid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return -1
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return n
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, ok := testkit.ProcessState(pid)
	return ok && st != 'Z'
}

// clusterUp is a running `strom cluster up`.
type clusterUp struct {
	cmd       *exec.Cmd
	stderr    *syncBuffer
	bootstrap string
	exited    chan error
}

// startClusterUp runs `strom cluster up args...` and waits for its
// bootstrap line; the test's cleanup kills it if it still runs.
func startClusterUp(t *testing.T, args ...string) *clusterUp {
	t.Helper()
	cu := &clusterUp{stderr: &syncBuffer{ch: make(chan struct{}, 1)}, exited: make(chan error, 1)}
	cu.cmd = exec.Command(testkit.StromBinary(t), append([]string{"cluster", "up"}, args...)...)
	stdout, err := cu.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cu.cmd.Stderr = cu.stderr
	cu.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cu.cmd.Start(); err != nil {
		t.Fatalf("start strom cluster up: %v", err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		cu.exited <- cu.cmd.Wait()
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("strom cluster up %v stderr:\n%s", args, cu.stderr.String())
		}
		_ = cu.cmd.Process.Kill()
		for range lines {
		}
	})
	deadline := time.After(90 * time.Second)
	for cu.bootstrap == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("strom cluster up %v exited before printing its bootstrap line", args)
			}
			if b, found := strings.CutPrefix(l, "bootstrap: "); found {
				cu.bootstrap = b
			}
		case <-deadline:
			t.Fatalf("strom cluster up %v: no bootstrap line within 90s", args)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return cu
}

// stop interrupts it and waits for a clean exit.
func (cu *clusterUp) stop(t *testing.T) {
	t.Helper()
	if err := cu.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	select {
	case err := <-cu.exited:
		if err != nil {
			t.Errorf("strom cluster up exited with %v after SIGINT, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("strom cluster up still running 60s after SIGINT")
	}
}

// refusedClusterUp runs `strom cluster up args...`, which must refuse
// before starting any node: a non-zero exit and one line of output, which
// it returns. The bound only keeps a broken build from hanging the test
// (before the refusal existed, a run dialled for a minute).
func refusedClusterUp(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testkit.StromBinary(t), append([]string{"cluster", "up"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	s := strings.TrimSpace(string(out))
	var exit *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("strom cluster up %v: %v (context %v), output:\n%s\nwant a refusal before any node starts", args, err, ctx.Err(), s)
	}
	t.Logf("strom cluster up %v: %s", args, s)
	if strings.Contains(s, "\n") || strings.Contains(s, "[node") {
		t.Errorf("strom cluster up %v refused with:\n%s\nwant one line, no node output", args, s)
	}
	return s
}

// TestClusterUpOtherPorts re-runs `strom cluster up` on a directory made
// with chosen ports (two nodes, to keep it short): with other ports it is refused at once naming the
// recorded ones; with --base-port 0 it resumes the same cluster on them;
// while that runs, another cluster up on the directory is refused naming
// the holder's pid.
func TestClusterUpOtherPorts(t *testing.T) {
	dir := t.TempDir()
	first := startClusterUp(t, "--nodes", "2", "--base-port", "0", "--data-dir", dir)
	first.stop(t)
	node1 := strings.Split(first.bootstrap, ",")[0]

	msg := refusedClusterUp(t, "--nodes", "2", "--base-port", "23092", "--data-dir", dir)
	for _, want := range []string{dir + " was made with 2 nodes", "node1 kafka " + node1, "--base-port 0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q lacks %q", msg, want)
		}
	}

	again := startClusterUp(t, "--nodes", "2", "--base-port", "0", "--data-dir", dir)
	if again.bootstrap != first.bootstrap {
		t.Errorf("re-run with --base-port 0: bootstrap %s, want the recorded %s", again.bootstrap, first.bootstrap)
	}
	msg = refusedClusterUp(t, "--nodes", "2", "--base-port", "0", "--data-dir", dir)
	if want := dir + " is locked by pid " + strconv.Itoa(again.cmd.Process.Pid); !strings.Contains(msg, want) {
		t.Errorf("cluster up on a directory another one runs in: %q, want it to say %q", msg, want)
	}
	again.stop(t)
}

// TestClusterUpNodeDirInUse runs `strom cluster up` on a directory whose
// node data directory a `strom serve` holds: refused in one line naming
// that directory and the serve's pid.
func TestClusterUpNodeDirInUse(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "node1", "data")
	p := testkit.StartProcess(t, testkit.ProcessOptions{DataDir: data})
	msg := refusedClusterUp(t, "--nodes", "1", "--base-port", "0", "--data-dir", dir)
	if want := data + " is locked by pid " + strconv.Itoa(p.PID()); !strings.Contains(msg, want) {
		t.Errorf("cluster up on a node directory in use: %q, want it to say %q", msg, want)
	}
}

func describeTopicConfig(topic string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = topic
	req.Resources = append(req.Resources, r)
	return req
}

// configValue is the value of key in a DescribeConfigs response, or a
// description of what went wrong.
func configValue(resp kmsg.Response, key string) string {
	for _, r := range resp.(*kmsg.DescribeConfigsResponse).Resources {
		if r.ErrorCode != 0 {
			return "error code " + strconv.Itoa(int(r.ErrorCode))
		}
		for _, c := range r.Configs {
			if c.Name == key && c.Value != nil {
				return *c.Value
			}
		}
	}
	return "<missing>"
}
