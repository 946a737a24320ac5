package testkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProcessOptions configures a strom process started by StartProcess.
type ProcessOptions struct {
	// Args are extra arguments after `serve --listen ... --data-dir ...`.
	Args []string
	// Env is added to the test binary's environment.
	Env []string
	// DataDir defaults to a fresh t.TempDir().
	DataDir string
	// ReadyTimeout bounds how long a start may take; default 60s.
	ReadyTimeout time.Duration
}

// Process is a strom binary running as a child process on a loopback port.
// Its stdout and stderr go to the test log when the test fails. The test's
// cleanup kills it if it is still running.
type Process struct {
	opts    ProcessOptions
	bin     string
	addr    string
	admin   string // admin HTTP listener
	logs    *logBuffer
	starts  int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error         // valid after exited is closed
}

// StartProcess builds the strom binary (once per test binary run), starts
// `strom serve` on a free loopback port with its own data directory, and
// returns once the broker answers ApiVersions.
func StartProcess(t testing.TB, opts ProcessOptions) *Process {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	p := &Process{opts: opts, bin: StromBinary(t), addr: freeAddr(t), admin: freeAddr(t), logs: newLogBuffer()}
	dumpOnFailure(t, "strom process", p.logs)
	t.Cleanup(func() {
		if p.running() {
			p.signal(syscall.SIGKILL)
			<-p.exited
		}
	})
	p.start(t)
	return p
}

// Addr is the host:port the process listens on; it stays the same across
// restarts.
func (p *Process) Addr() string { return p.addr }

// AdminAddr is the host:port of the process's admin HTTP listener.
func (p *Process) AdminAddr() string { return p.admin }

// DataDir is the process's data directory.
func (p *Process) DataDir() string { return p.opts.DataDir }

// Logs returns the process's output captured so far: stdout and stderr of
// every start in order, with testkit's start and stop markers between them.
// Only the last 4 MiB are kept. Tests poll it for a log line rather than
// assume when the broker writes one.
func (p *Process) Logs() string { return p.logs.String() }

// PID is the current process id, or 0 when it is not running.
func (p *Process) PID() int {
	if !p.running() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if !p.running() {
		t.Fatalf("strom process: Kill on a process that is not running")
	}
	p.signal(syscall.SIGKILL)
	<-p.exited
	fmt.Fprintf(p.logs, "==== testkit: process killed with SIGKILL ====\n")
}

// Stop sends SIGTERM and waits up to 30 seconds for a clean exit. It fails
// the test if the process does not exit in time or exits with an error.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if !p.running() {
		t.Fatalf("strom process: Stop on a process that is not running")
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.exited
		t.Fatalf("strom process did not exit within 30s of SIGTERM; killed")
	}
	fmt.Fprintf(p.logs, "==== testkit: process stopped with SIGTERM: %v ====\n", p.waitErr)
	if p.waitErr != nil {
		t.Fatalf("strom process exited uncleanly after SIGTERM: %v", p.waitErr)
	}
}

// Restart starts the process again on the same address and data directory.
// It must not be running (call Kill or Stop first).
func (p *Process) Restart(t testing.TB) {
	t.Helper()
	if p.running() {
		t.Fatalf("strom process: Restart while still running; Kill or Stop it first")
	}
	p.start(t)
}

func (p *Process) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *Process) signal(sig syscall.Signal) {
	// The process may exit between running() and here; ESRCH is fine.
	_ = p.cmd.Process.Signal(sig)
}

func (p *Process) start(t testing.TB) {
	t.Helper()
	p.starts++
	args := append([]string{"serve", "--listen", p.addr, "--admin-listen", p.admin, "--data-dir", p.opts.DataDir}, p.opts.Args...)
	cmd := exec.Command(p.bin, args...)
	cmd.Env = append(os.Environ(), p.opts.Env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("strom stdout pipe: %v", err)
	}
	cmd.Stderr = p.logs
	fmt.Fprintf(p.logs, "==== testkit: start #%d: %s %s ====\n", p.starts, p.bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start strom: %v", err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	listening := make(chan struct{})
	// Wait only after stdout is drained: exec requires all reads from the
	// pipe to finish before Wait.
	go func() {
		var once sync.Once
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.logs, line)
			if strings.Contains(line, "listening") {
				once.Do(func() { close(listening) })
			}
		}
		_, _ = io.Copy(p.logs, stdout)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(listening); err != nil {
		p.signal(syscall.SIGKILL)
		<-p.exited
		t.Fatalf("strom process on %s not ready: %v", p.addr, err)
	}
}

// waitReady returns once the process printed its listening line or answers
// ApiVersions, whichever comes first, and then requires an ApiVersions answer.
func (p *Process) waitReady(listening <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.ReadyTimeout)
	defer cancel()
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("process exited before it was ready: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no listening line and no ApiVersions answer within %v", p.opts.ReadyTimeout)
		case <-listening:
			listening = nil // a closed channel would spin; poll from now on
		default:
		}
		if err := apiVersions(ctx, p.addr); err == nil {
			return nil
		}
		select {
		case <-p.exited:
		case <-ctx.Done():
		case <-listening:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// apiVersions makes one ApiVersions round trip on a fresh connection.
func apiVersions(ctx context.Context, addr string) error {
	conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	conn.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "strom-testkit"
	req.ClientSoftwareVersion = "1"
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return err
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("ApiVersions error code %d", resp.ErrorCode)
	}
	if len(resp.ApiKeys) == 0 {
		return errors.New("ApiVersions lists no APIs")
	}
	return nil
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	p, err := reservePort()
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// StromBinary returns the path of a strom binary built from this module with
// CGO_ENABLED=0. It is built once per test binary run; Main removes it.
func StromBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			build.err = err
			return
		}
		build.dir, err = os.MkdirTemp("", "strom-testkit-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(build.dir, "strom")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/strom")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/strom: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatalf("build strom: %v", build.err)
	}
	return build.bin
}

func cleanupBinaries() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// ModuleRoot finds the directory holding this module's go.mod, walking up
// from the working directory (go test runs in the package directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/strom-broker/strom\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod of github.com/strom-broker/strom not found above the working directory")
		}
		dir = parent
	}
}
