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
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/metrics"
)

// Server accepts Kafka connections.
type Server struct {
	cfg    config.Config
	env    *handler.Env
	logger *slog.Logger

	ln      net.Listener
	ctx     context.Context // cancelled on Shutdown: ends long polls
	cancel  context.CancelFunc
	wg      sync.WaitGroup // accept loop and connections
	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	metrics *metrics.ListenerRequests // nil: none recorded
}

// New returns a server that will serve env's handlers.
func New(cfg config.Config, env *handler.Env, logger *slog.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, env: env, logger: logger, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}}
}

// Listen binds the listener.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	return nil
}

// SetMetrics sets where requests and connections are counted; it must be
// called before Serve.
func (s *Server) SetMetrics(m *metrics.ListenerRequests) { s.metrics = m }

// SetEnv sets the handler environment; it must be called before Serve.
func (s *Server) SetEnv(env *handler.Env) { s.env = env }

// Close releases the listener of a server that never served.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	return s.ln.Close()
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Shutdown; it returns at once, running
// the accept loop on its own goroutine.
func (s *Server) Serve() {
	s.wg.Add(1)
	go s.acceptLoop()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
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
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
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
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.cancel()
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
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
