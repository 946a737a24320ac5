package limits_test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestFloodAndSlowFrames: one address holding many idle connections and
// another sending slow partial frames (a size announcing 100 MiB, then a
// byte a second) do not stop a franz-go client on a third from producing
// and consuming, nor a new connection from being answered, with no limits
// configured. The default run opens 500 and 50; STROM_LIMITS=full opens
// 10,000 and 1,000 against a broker process and checks what an idle
// connection costs the broker in heap and resident memory.
func TestFloodAndSlowFrames(t *testing.T) {
	t.Parallel()
	idle, slow := 500, 50
	addr, admin, pid := "", "", 0
	if heavy() {
		idle, slow = 10000, 1000
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		// Each side of the test (this process, the broker's) holds one
		// descriptor per connection; keep 500 for everything else.
		if avail := int(lim.Cur) - 500; idle+slow > avail {
			idle = max(avail-slow, 100)
			t.Logf("open-file limit %d: %d idle connections instead of 10,000", lim.Cur, idle)
		}
		p := testkit.StartProcess(t, testkit.ProcessOptions{Args: []string{"--log-level", "warn"}})
		addr, admin, pid = p.Addr(), p.AdminAddr(), p.PID()
	} else {
		b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) { c.LogLevel = "info" }))
		addr, admin = b.Addr(), b.AdminAddr()
	}
	// One client first, so the topic and the broker's lazily built state
	// exist before the baseline.
	roundTrip(t, addr, "flood-warm", 10)
	before, heapBefore := rssKiB(t, pid), metric(t, admin, "go_memstats_heap_inuse_bytes")

	conns := make([]net.Conn, idle)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < idle; i += 16 {
				nc, err := dialFrom("127.0.0.2", addr)
				if err == nil {
					err = apiVersions(nc, 60*time.Second)
				}
				if err != nil {
					errs <- fmt.Errorf("idle connection %d: %w", i, err)
					return
				}
				nc.SetDeadline(time.Time{})
				conns[i] = nc
			}
		}()
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
	})
	for err := range errs {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var slowWG sync.WaitGroup
	t.Cleanup(func() { close(stop); slowWG.Wait() })
	for range slow {
		nc := mustDialFrom(t, "127.0.0.3", addr)
		slowWG.Add(1)
		go func() {
			defer slowWG.Done()
			slowloris(nc, 100<<20, time.Second, stop)
		}()
	}
	eventually(t, "every connection accepted", func() error {
		if got := metric(t, admin, "strom_connections", `listener="kafka"`); got < float64(idle+slow) {
			return fmt.Errorf("strom_connections = %v, want >= %d", got, idle+slow)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // exposure, not a wait for a condition: the slow frames send their sizes and a byte or two
	// The broker's heap in use per connection: a slow frame must cost
	// about what it has sent, not the 100 MiB it announced.
	heapPer := (metric(t, admin, "go_memstats_heap_inuse_bytes") - heapBefore) / float64(idle+slow)
	t.Logf("broker heap in use: %.1f KiB per connection", heapPer/1024)
	if heapPer > 64<<10 {
		t.Fatalf("%.1f KiB of heap in use per connection, want under 64 KiB", heapPer/1024)
	}
	if pid != 0 {
		after := rssKiB(t, pid)
		per := float64(after-before) * 1024 / float64(idle+slow)
		t.Logf("broker resident memory: %d KiB before, %d KiB with %d idle connections and %d slow frames: %.1f KiB per connection",
			before, after, idle, slow, per/1024)
		if per > 64<<10 {
			t.Fatalf("%.1f KiB of resident memory per idle connection, want under 64 KiB", per/1024)
		}
	}
	roundTrip(t, addr, "flood", 1000)
	nc := mustDialFrom(t, "127.0.0.4", addr)
	if err := apiVersions(nc, 60*time.Second); err != nil {
		t.Fatalf("a new client during the flood: %v", err)
	}
	for i := 0; i < idle; i += max(idle/20, 1) {
		if err := apiVersions(conns[i], 60*time.Second); err != nil {
			t.Fatalf("idle connection %d no longer served: %v", i, err)
		}
	}
}

// rssKiB is the resident memory of process pid (0: none, returns 0).
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
