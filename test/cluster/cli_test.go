package cluster_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
// line, checks that every node lists 3 brokers, interrupts it, and checks
// that it exits cleanly and no node process is left.
func TestClusterUp(t *testing.T) {
	bin := testkit.StromBinary(t)
	cmd := exec.Command(bin, "cluster", "up", "--nodes", "3", "--base-port", "0", "--data-dir", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{ch: make(chan struct{}, 1)}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
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
