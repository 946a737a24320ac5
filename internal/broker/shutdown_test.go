package broker_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/broker"
	"github.com/strom-broker/strom/internal/config"
)

// TestShutdownStepsShareTheDeadline: a request that outlives the shutdown
// (a 120 s CPU profile on the admin listener) holds that listener's drain
// until its context ends. Shutdown gives each waiting step only a share of
// the time left, so it still returns before its deadline, with every
// partition closed cleanly; with one context shared by every step the
// drain used all of it and Shutdown returned after the deadline, which
// `strom serve` turns into an exit without the clean-shutdown markers.
func TestShutdownStepsShareTheDeadline(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "error"
	br, err := broker.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	shut := false
	t.Cleanup(func() {
		if !shut {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			br.Shutdown(ctx)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr().String()), kgo.DefaultProduceTopic("drain"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "drain"); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	base := "http://" + br.AdminAddr()
	go func() {
		resp, err := http.Get(base + "/debug/pprof/profile?seconds=120")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	// Wait until the profile is being taken.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "pprof.Profile") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the profile request never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}

	sctx, scancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer scancel()
	end, _ := sctx.Deadline()
	shut = true
	err = br.Shutdown(sctx)
	if now := time.Now(); now.After(end) {
		t.Fatalf("Shutdown returned %v after its deadline (err %v): the stalled admin drain took all of it", now.Sub(end), err)
	}
	if _, serr := os.Stat(filepath.Join(cfg.DataDir, "drain-0", ".clean-shutdown")); serr != nil {
		t.Fatalf("drain-0 was not closed cleanly: %v (Shutdown: %v)", serr, err)
	}
}
