package crash_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/testkit"
)

// freeLoopback returns a loopback address whose port was free a moment ago.
func freeLoopback(t *testing.T) string {
	t.Helper()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// TestSecondBrokerOnDataDirRefused starts a broker, then a second `strom
// serve` on the same data directory: the second must exit at once with one
// line naming the directory and the first one's pid, and leave the first
// broker's files alone (it used to recover the live broker's segments and
// write into them).
func TestSecondBrokerOnDataDirRefused(t *testing.T) {
	first := testkit.StartProcess(t, testkit.ProcessOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testkit.StromBinary(t), "serve", "--data-dir", first.DataDir(), "--listen", freeLoopback(t), "--admin-listen", "127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the second broker did not exit: %s", out)
	}
	if err == nil {
		t.Fatalf("a second broker started on a data directory in use:\n%s", out)
	}
	msg := string(out)
	if !strings.Contains(msg, first.DataDir()) || !strings.Contains(msg, "pid "+strconv.Itoa(first.PID())) {
		t.Errorf("refusal does not name the directory %s and the holder's pid %d:\n%s", first.DataDir(), first.PID(), msg)
	}
	if _, err := os.Stat(filepath.Join(first.DataDir(), ".clean-shutdown")); err == nil {
		t.Errorf("the refused broker left a clean-shutdown marker in the data directory")
	}
	// The first broker still owns its directory: a clean stop and a
	// restart of it work.
	first.Stop(t)
	first.Restart(t)
}

// TestSignalEndsQuorumWait starts one node of a three-node cluster alone,
// so it waits for a metadata quorum that cannot form, and sends it SIGTERM:
// the wait must end with the signal, not after minutes.
func TestSignalEndsQuorumWait(t *testing.T) {
	dir := t.TempDir()
	var peers strings.Builder
	addrs := map[int][3]string{}
	for id := 1; id <= 3; id++ {
		a := [3]string{freeLoopback(t), freeLoopback(t), freeLoopback(t)}
		addrs[id] = a
		fmt.Fprintf(&peers, "[[peers]]\nid = %d\nkafka = %q\nwal = %q\nraft = %q\n\n", id, a[0], a[1], a[2])
	}
	self := addrs[1]
	conf := fmt.Sprintf("node_id = 1\ndata_dir = %q\n\n[node.addresses]\nkafka = %q\nwal = %q\nraft = %q\n\n%s",
		filepath.Join(dir, "data"), self[0], self[1], self[2], peers.String())
	path := filepath.Join(dir, "strom.toml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cmd := exec.Command(testkit.StromBinary(t), "serve", "--config", path, "--admin-listen", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// Wait until the node is waiting for its quorum (its raft port is bound).
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "waiting for the metadata quorum") {
		if time.Now().After(deadline) {
			t.Fatalf("the node did not start waiting for its quorum:\n%s", logs.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("the node exited before the signal (%v):\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("SIGTERM did not end the wait for the metadata quorum within 15s:\n%s", logs.String())
	}
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
