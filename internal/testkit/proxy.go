package testkit

import (
	"io"
	"net"
	"sync"
)

// Proxy forwards TCP connections from a loopback port to one target address.
// Cut makes it behave like a network partition: open connections are closed
// and new ones are accepted but black-holed (never forwarded, never
// answered) until Heal, so the peer sees timeouts as it would on a real
// partition rather than quick refusals. It is safe for concurrent use.
//
// A gated proxy (NewGatedProxy) also names the source of each connection
// and asks, per source, whether its traffic may pass; Refresh re-applies
// that decision to every connection. That is how one node is cut off from
// the others on a listener every node dials.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // accept loop and every forwarding goroutine

	source  func(local, peer net.Addr) int32 // nil: every source is 0
	blocked func(src int32) bool             // nil: nothing is blocked

	mu struct {
		sync.Mutex
		cut    bool
		closed bool
		conns  map[net.Conn]int32 // forwarded connections, both ends, by source
		held   map[net.Conn]int32 // black-holed, by source
	}
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) { return NewGatedProxy(target, nil, nil) }

// NewGatedProxy is NewProxy with a gate: source names where each accepted
// connection comes from (given the connection's remote and local address)
// and blocked says whether that source is cut off. blocked is called with
// the proxy's lock held and must not call back into the proxy.
func NewGatedProxy(target string, source func(remote, local net.Addr) int32, blocked func(src int32) bool) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, source: source, blocked: blocked}
	p.mu.conns = map[net.Conn]int32{}
	p.mu.held = map[net.Conn]int32{}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address peers dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address connections are forwarded to.
func (p *Proxy) Target() string { return p.target }

// Cut drops every forwarded connection and black-holes new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.cut = true
	p.refreshLocked()
}

// Heal forwards new connections again and closes the black-holed ones, so
// their owners reconnect.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.cut = false
	p.refreshLocked()
}

// Refresh re-applies the gate: forwarded connections from a source that is
// now blocked are closed, black-holed ones from a source that may pass again
// are closed so that their owners reconnect.
func (p *Proxy) Refresh() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refreshLocked()
}

func (p *Proxy) refreshLocked() {
	for c, src := range p.mu.conns {
		if p.blockedLocked(src) {
			c.Close() // its forward goroutine untracks it
		}
	}
	for c, src := range p.mu.held {
		if !p.blockedLocked(src) {
			c.Close()
			delete(p.mu.held, c)
		}
	}
}

func (p *Proxy) blockedLocked(src int32) bool {
	return p.mu.cut || (p.blocked != nil && p.blocked(src))
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.mu.closed = true
	p.ln.Close()
	for c := range p.mu.conns {
		c.Close()
	}
	for c := range p.mu.held {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		// Naming the source reads /proc and may retry: off the accept
		// loop, so one slow lookup never holds back the connections
		// queued behind it.
		p.wg.Add(1)
		go p.admit(c)
	}
}

// admit names c's source and forwards it, or holds it while its source is
// blocked.
func (p *Proxy) admit(c net.Conn) {
	var src int32
	if p.source != nil {
		src = p.source(c.RemoteAddr(), c.LocalAddr())
	}
	p.mu.Lock()
	switch {
	case p.mu.closed:
		c.Close()
	case p.blockedLocked(src):
		p.mu.held[c] = src
	default:
		p.mu.Unlock()
		p.forward(c, src) // calls wg.Done
		return
	}
	p.mu.Unlock()
	p.wg.Done()
}

// track registers c unless the proxy was closed or src blocked meanwhile.
func (p *Proxy) track(c net.Conn, src int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed || p.blockedLocked(src) {
		return false
	}
	p.mu.conns[c] = src
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.mu.conns, c)
		c.Close()
	}
}

func (p *Proxy) forward(in net.Conn, src int32) {
	defer p.wg.Done()
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		in.Close()
		return
	}
	if !p.track(in, src) {
		in.Close()
		out.Close()
		return
	}
	if !p.track(out, src) {
		p.untrack(in, out)
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	// One direction ended: close both so the other copy returns too.
	p.untrack(in, out)
	<-done
}
