package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func start(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Address = "127.0.0.1:0"
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Ready == nil {
		cfg.Ready = func() error { return nil }
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return "http://" + s.Addr().String()
}

func fetch(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadyzGivesTheReason(t *testing.T) {
	var reason error = errors.New("waiting for the metadata quorum")
	base := start(t, Config{Ready: func() error { return reason }})
	req, _ := http.NewRequest(http.MethodGet, base+"/readyz", nil)
	if code, body := fetch(t, req); code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for the metadata quorum") {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	reason = nil
	if code, _ := fetch(t, req); code != http.StatusOK {
		t.Fatalf("/readyz = %d once ready", code)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/healthz", nil)
	if code, _ := fetch(t, req); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/debug/pprof/", nil)
	if code, _ := fetch(t, req); code != http.StatusOK {
		t.Fatalf("/debug/pprof/ = %d", code)
	}
}

func TestMetricsBasicAuth(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := start(t, Config{MetricsUsername: "prom", MetricsPasswordFile: pw})
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if code, _ := fetch(t, req); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials = %d, want 401", code)
	}
	req.SetBasicAuth("prom", "wrong")
	if code, _ := fetch(t, req); code != http.StatusUnauthorized {
		t.Fatalf("/metrics with a wrong password = %d, want 401", code)
	}
	req.SetBasicAuth("prom", "s3cret")
	if code, _ := fetch(t, req); code != http.StatusOK {
		t.Fatalf("/metrics with the password = %d, want 200", code)
	}
	// Probes never need credentials.
	req, _ = http.NewRequest(http.MethodGet, base+"/readyz", nil)
	if code, _ := fetch(t, req); code != http.StatusOK {
		t.Fatalf("/readyz = %d without credentials", code)
	}
}

// TestProtectedProfiles: with ProtectProfiles the profiles answer what the
// guard says, except to the metrics credentials, which pass; the probes
// and /metrics are not guarded by it.
func TestProtectedProfiles(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deny := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "login required", http.StatusUnauthorized)
		})
	}
	base := start(t, Config{MetricsUsername: "prom", MetricsPasswordFile: pw, ProtectProfiles: deny})
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		if code, _ := fetch(t, req); code != http.StatusUnauthorized {
			t.Fatalf("%s without credentials = %d, want 401", p, code)
		}
		req.SetBasicAuth("prom", "wrong")
		if code, _ := fetch(t, req); code != http.StatusUnauthorized {
			t.Fatalf("%s with a wrong password = %d, want 401", p, code)
		}
		req.SetBasicAuth("prom", "s3cret")
		if code, _ := fetch(t, req); code != http.StatusOK {
			t.Fatalf("%s with the metrics credentials = %d, want 200", p, code)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		if code, _ := fetch(t, req); code != http.StatusOK {
			t.Fatalf("%s = %d", p, code)
		}
	}
}
