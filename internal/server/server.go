// Package server owns the Kafka listener: accepting connections, framing,
// request-header decoding, and writing responses in request order. It
// hands decoded requests to the handler package and knows nothing of what
// they mean.
//
// Each connection has a reader goroutine, which decodes a request and runs
// its handler's synchronous part in arrival order, and a writer goroutine,
// which writes responses strictly in request order as they complete. At
// most MaxInFlightPerConn requests are outstanding per connection; when
// that many are, the reader stops reading (backpressure).
//
// A server binds one or more named listeners (auth.Listener), each with
// its security protocol: TLS is negotiated first on SSL and SASL_SSL
// listeners, and on SASL listeners a connection authenticates (auth.go)
// before any request other than ApiVersions and SaslHandshake is read.
// Every request carries the connection's listener name and principal.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strom-broker/strom/internal/auth"
	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/metrics"
)

// Server accepts Kafka connections.
type Server struct {
	cfg    config.Config
	env    *handler.Env
	logger *slog.Logger

	specs   []auth.Listener
	lns     []*listener // bound, in the order of specs
	creds   auth.CredentialSource
	ctx     context.Context // cancelled on Shutdown: ends long polls
	cancel  context.CancelFunc
	wg      sync.WaitGroup // accept loop and connections
	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	metrics *metrics.ListenerRequests // nil: none recorded
	// limits counts connections against the node's connection limits
	// (limits.go); interBroker marks the replication listener's server
	// (the listener inter_broker_listener names is marked by its name).
	limits      *ConnLimits
	interBroker bool
	stopped     atomic.Bool // set by Shutdown; read by acceptors waiting for a slot
}

// listener is one bound listener.
type listener struct {
	spec  auth.Listener
	ln    net.Listener
	quota *listenerQuota
}

// New returns a server that will serve env's handlers on one PLAINTEXT
// listener on cfg.Listen.
func New(cfg config.Config, env *handler.Env, logger *slog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, env: env, logger: logger, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{},
		specs: []auth.Listener{{Name: "PLAINTEXT", Address: cfg.Listen, Protocol: auth.Plaintext}}}
}

// SetListeners replaces the listeners to bind; it must be called before
// Listen.
func (s *Server) SetListeners(specs []auth.Listener) { s.specs = specs }

// SetCredentials sets where SASL listeners read SCRAM credentials; it
// must be called before Serve when a listener uses SASL.
func (s *Server) SetCredentials(c auth.CredentialSource) { s.creds = c }

// Listen binds every listener.
func (s *Server) Listen() error {
	for _, spec := range s.specs {
		ln, err := net.Listen("tcp", spec.Address)
		if err != nil {
			s.Close()
			return fmt.Errorf("listen on %s (listener %s): %w", spec.Address, spec.Name, err)
		}
		s.lns = append(s.lns, &listener{spec: spec, ln: ln})
	}
	return nil
}

// BoundListener is a bound listener's name, spec and address.
type BoundListener struct {
	Spec auth.Listener
	Addr net.Addr
}

// Listeners returns the bound listeners in configuration order.
func (s *Server) Listeners() []BoundListener {
	out := make([]BoundListener, len(s.lns))
	for i, l := range s.lns {
		out[i] = BoundListener{Spec: l.spec, Addr: l.ln.Addr()}
	}
	return out
}

// SetMetrics sets where requests and connections are counted; it must be
// called before Serve.
func (s *Server) SetMetrics(m *metrics.ListenerRequests) { s.metrics = m }

// SetConnLimits sets the node's connection limits, shared by its
// servers; interBroker marks the replication listener, exempt from the
// broker-wide limit. It must be called before Serve; a server without
// limits makes its own from its config.
func (s *Server) SetConnLimits(l *ConnLimits, interBroker bool) {
	s.limits, s.interBroker = l, interBroker
}

// SetEnv sets the handler environment; it must be called before Serve.
func (s *Server) SetEnv(env *handler.Env) { s.env = env }

// Close releases the listener of a server that never served.
func (s *Server) Close() error {
	var first error
	for _, l := range s.lns {
		if err := l.ln.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.lns = nil
	auth.CloseListeners(s.specs)
	return first
}

// Addr is the first listener's bound address.
func (s *Server) Addr() net.Addr { return s.lns[0].ln.Addr() }

// Serve accepts connections until Shutdown; it returns at once, running
// an accept loop per listener on its own goroutine.
func (s *Server) Serve() {
	if s.limits == nil {
		l, err := NewConnLimits(s.ctx, s.cfg, s.logger)
		if err != nil {
			s.logger.Error("connection limits: serving without", "err", err)
			l, _ = NewConnLimits(s.ctx, config.Default(), s.logger)
		}
		s.limits = l
	}
	s.limits.addServer(s)
	for _, l := range s.lns {
		name := l.spec.Name
		if s.interBroker {
			name = "replication"
		}
		// Other nodes dial the replication listener, or the listener
		// inter_broker_listener names.
		interBroker := s.interBroker || (s.cfg.InterBrokerListener != "" && l.spec.Name == s.cfg.InterBrokerListener)
		l.quota = s.limits.listener(name, l.spec.MaxConnections, l.spec.MaxConnectionCreationRate, interBroker)
	}
	for _, l := range s.lns {
		s.wg.Add(1)
		go s.acceptLoop(l)
	}
}

func (s *Server) acceptLoop(l *listener) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		if !s.limits.waitSlot(l.quota, s.stopped.Load, s.metrics) || !s.limits.waitRate(l.quota, s.ctx.Done(), s.metrics) {
			return
		}
		nc, err := l.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			s.logger.Error("accept failed", "err", err)
			return
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		ip := remoteIP(nc)
		if !s.limits.acquire(l.quota, ip, nc.RemoteAddr().String(), s.stopped.Load, s.metrics) {
			nc.Close()
			continue
		}
		c := newConn(s, l, nc)
		c.lastActive.Store(time.Now().UnixNano())
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			s.limits.release(l.quota, ip)
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.metrics.ConnOpened()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.limits.release(l.quota, ip)
			s.metrics.ConnClosed()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, lets every connection finish the requests it
// has read (long polls end early), writes their responses, and closes the
// connections. It returns when all are closed or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopped.Store(true)
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	if s.limits != nil {
		s.limits.wake()
	}
	for _, l := range s.lns {
		l.ln.Close()
	}
	s.cancel()
	auth.CloseListeners(s.specs)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.raw.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
