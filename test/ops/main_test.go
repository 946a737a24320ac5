// Package ops_test checks what an operator sees of real Strom processes:
// /metrics, /healthz and /readyz of the admin listener, the metric contract
// of the shipped Grafana dashboard and Prometheus alerts, and the log
// format, while real clients produce and consume.
package ops_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// metrics is one scrape of /metrics.
type metrics map[string]*dto.MetricFamily

func scrape(t testing.TB, admin string) metrics {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", admin, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics of %s: %v", admin, err)
	}
	return fams
}

// value sums the samples of name whose labels include want (counters,
// gauges and untyped); ok is false when there is none.
func (m metrics) value(name string, want map[string]string) (float64, bool) {
	fam := m[name]
	if fam == nil {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, s := range fam.Metric {
		have := map[string]string{}
		for _, l := range s.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		case s.Histogram != nil:
			sum += float64(s.Histogram.GetSampleCount())
		}
	}
	return sum, found
}

// eventually polls check until it returns nil or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
}

// get returns the status and body of an admin endpoint.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func want(name string, got, expected float64) error {
	if got != expected {
		return fmt.Errorf("%s = %v, want %v", name, got, expected)
	}
	return nil
}
