package testkit

import (
	"bufio"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// echoServer echoes every line back until the listener is closed.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() { _, _ = io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// roundTrip writes a line through addr and reads it back within timeout.
func roundTrip(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

func TestProxyCutAndHeal(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := roundTrip(p.Addr(), 5*time.Second); err != nil {
		t.Fatalf("through a healthy proxy: %v", err)
	}

	// A connection open across the cut is dropped.
	open, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := open.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(open).ReadString('\n'); err != nil {
		t.Fatalf("read before the cut: %v", err)
	}
	p.Cut()
	_ = open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := open.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection open at the cut still delivers data")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a connection open at the cut was not closed: %v", err)
	}

	// A new connection is accepted but black-holed: no answer.
	if err := roundTrip(p.Addr(), 300*time.Millisecond); err == nil {
		t.Fatalf("a round trip through a cut proxy succeeded")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("a cut proxy should black-hole (time out), got %v", err)
	}

	p.Heal()
	if err := roundTrip(p.Addr(), 5*time.Second); err != nil {
		t.Fatalf("through a healed proxy: %v", err)
	}
}

// TestGatedProxySource checks that a gated proxy names the process a
// connection comes from (here, this test process) and blocks and releases
// it as the gate changes.
func TestGatedProxySource(t *testing.T) {
	var mu sync.Mutex
	block := false
	var seen []int32
	source := func(remote, local net.Addr) int32 {
		inode := socketInode(remote, local)
		src := int32(0)
		if inode != "" && pidHoldsSocket(os.Getpid(), inode) {
			src = 7
		}
		mu.Lock()
		seen = append(seen, src)
		mu.Unlock()
		return src
	}
	blocked := func(src int32) bool {
		mu.Lock()
		defer mu.Unlock()
		return block && src == 7
	}
	p, err := NewGatedProxy(echoServer(t), source, blocked)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := roundTrip(p.Addr(), 5*time.Second); err != nil {
		t.Fatalf("through an open gate: %v", err)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != 7 {
		t.Fatalf("sources named %v, want [7] (this process)", seen)
	}
	block = true
	mu.Unlock()
	p.Refresh()
	if err := roundTrip(p.Addr(), 300*time.Millisecond); err == nil {
		t.Fatalf("a round trip from a blocked source succeeded")
	}
	mu.Lock()
	block = false
	mu.Unlock()
	p.Refresh()
	if err := roundTrip(p.Addr(), 5*time.Second); err != nil {
		t.Fatalf("after the gate reopened: %v", err)
	}
}
