// Package admin serves a node's admin HTTP listener: /metrics (Prometheus
// text and OpenMetrics), /healthz, /readyz and /debug/pprof/, over HTTPS
// when the node is given a TLS config (security configured).
package admin

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is what the listener needs from the node.
type Config struct {
	Address string
	// TLS, when set, makes the listener serve HTTPS.
	TLS *tls.Config
	// Registry is gathered for /metrics.
	Registry *prometheus.Registry
	// Ready returns nil when the node serves, or why not (shown by /readyz
	// with status 503).
	Ready func() error
	// MetricsUsername and MetricsPasswordFile guard /metrics with basic
	// authentication when both are set.
	MetricsUsername     string
	MetricsPasswordFile string
	// Console, when set, serves every other path (the web console).
	Console http.Handler
	// ProtectProfiles, when set, guards /debug/pprof/ (the console's
	// login); a request carrying the metrics basic-auth credentials
	// passes too.
	ProtectProfiles func(http.Handler) http.Handler
	Logger          *slog.Logger
}

// Server is a running admin listener.
type Server struct {
	ln   net.Listener
	addr net.Addr
	tls  bool
	srv  *http.Server
}

// Start binds cfg.Address and serves. A port in use is an error naming the
// address.
func Start(cfg Config) (*Server, error) {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	})
	var metricsPW string
	if cfg.MetricsUsername != "" {
		pw, err := os.ReadFile(cfg.MetricsPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("admin.metrics_password_file: %w", err)
		}
		metricsPW = strings.TrimSpace(string(pw))
		metrics = basicAuth(cfg.MetricsUsername, metricsPW, metrics)
	}
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := cfg.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	profiles := http.NewServeMux()
	profiles.HandleFunc("/debug/pprof/", pprof.Index)
	profiles.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	profiles.HandleFunc("/debug/pprof/profile", pprof.Profile)
	profiles.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	profiles.HandleFunc("/debug/pprof/trace", pprof.Trace)
	var prof http.Handler = profiles
	if cfg.ProtectProfiles != nil {
		guarded := cfg.ProtectProfiles(profiles)
		prof = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cfg.MetricsUsername != "" && credentialsMatch(r, cfg.MetricsUsername, metricsPW) {
				profiles.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		})
	}
	mux.Handle("/debug/pprof/", prof)
	if cfg.Console != nil {
		mux.Handle("/", cfg.Console)
	}

	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("admin listener %s: %w", cfg.Address, err)
	}
	addr := ln.Addr()
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{ln: ln, addr: addr, tls: cfg.TLS != nil, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("admin listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Addr is the bound address (the real port when configured with port 0).
func (s *Server) Addr() net.Addr { return s.addr }

// URL is the listener's base URL: https:// when it serves TLS.
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.addr.String() + "/"
	}
	return "http://" + s.addr.String() + "/"
}

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// credentialsMatch reports whether r carries basic credentials user:password.
func credentialsMatch(r *http.Request, user, password string) bool {
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(password)) == 1
}

func basicAuth(user, password string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !credentialsMatch(r, user, password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="strom metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
