// Package testkit runs Strom brokers for tests, in-process (StartBroker) or as
// real OS processes of the strom binary (StartProcess), and gives tests
// franz-go helpers to produce and consume records and to check what a
// partition holds against what a producer was told was acknowledged.
//
// Every broker, process and client a helper starts is stopped by t.Cleanup,
// so tests only say what they check. Helpers are safe for concurrent use only
// where their comment says so.
package testkit

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// Main runs a package's tests, removes the binaries built by StartProcess, and
// then fails the run if goroutines leaked. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
func Main(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	cleanupBinaries()
	if code == 0 {
		opts = append(opts, LeakIgnores()...)
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// LeakIgnores are goroutines that client libraries start once per process and
// never stop; they are not leaks of the code under test.
func LeakIgnores() []goleak.Option {
	return []goleak.Option{
		// sarama's metrics registry (rcrowley/go-metrics) starts a global
		// meter arbiter on first use.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		// glog-style flush daemons and the like belong here as found; each
		// entry must name a goroutine a library starts once per process.
	}
}

// logBuffer collects log output from a broker or process. It keeps at most
// maxBytes, dropping the oldest output, and is dumped to the test log when the
// test fails. It is safe for concurrent use and may outlive its test.
type logBuffer struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	maxBytes int
	dropped  int
}

func newLogBuffer() *logBuffer { return &logBuffer{maxBytes: 4 << 20} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if over := l.buf.Len() - l.maxBytes; over > 0 {
		l.buf.Next(over)
		l.dropped += over
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	if l.dropped > 0 {
		s = fmt.Sprintf("[%d earlier bytes dropped]\n", l.dropped) + s
	}
	return s
}

// dumpOnFailure registers a cleanup that writes the buffer to the test log if
// the test failed, or always when STROM_TEST_VERBOSE is set.
func dumpOnFailure(t testing.TB, what string, l *logBuffer) {
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("STROM_TEST_VERBOSE") != "" {
			out := strings.TrimRight(l.String(), "\n")
			t.Logf("---- %s output ----\n%s\n---- end of %s output ----", what, out, what)
		}
	})
}
