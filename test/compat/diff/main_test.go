package diff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/strom-broker/strom/internal/broker"
	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// fullByTag is set by the file built with -tags compat.
var fullByTag bool

// fullSuite reports whether every scenario runs at every common version;
// otherwise only the scenarios marked short run, at the newest common
// version.
func fullSuite() bool { return fullByTag || os.Getenv("STROM_COMPAT") == "full" }

// pair is one Apache Kafka and one Strom broker, started once per test
// binary on first use and shared by every test.
type pair struct {
	kafka    *kafkaref.Broker
	strom    *broker.Broker
	stromDir string
	stromLog string

	kafkaAddr, stromAddr string
	// versions each side advertises, from ApiVersions.
	kafkaVersions, stromVersions map[int16][2]int16
}

var (
	pairOnce sync.Once
	shared   *pair
	pairErr  error
	pairSkip string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	if authzShared != nil {
		authzShared.stop()
	}
	if code == 0 {
		if err := goleak.Find(testkit.LeakIgnores()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// brokers returns the shared pair, starting it on first use, and skips the
// test when Apache Kafka cannot run here.
func brokers(t *testing.T) *pair {
	t.Helper()
	if testing.Short() {
		t.Skip("compat: Apache Kafka is not started in -short mode")
	}
	if os.Getenv("STROM_SKIP_KAFKAREF") != "" {
		t.Skip("compat: STROM_SKIP_KAFKAREF is set")
	}
	testkit.NeedTool(t, "java")
	pairOnce.Do(func() { shared, pairErr = startPair() })
	if errors.Is(pairErr, kafkaref.ErrUnavailable) {
		pairSkip = pairErr.Error()
	}
	if pairSkip != "" {
		testkit.MissingTool(t, "kafka-ref-jars", pairSkip)
	}
	if pairErr != nil {
		t.Fatalf("start brokers: %v", pairErr)
	}
	return shared
}

func startPair() (*pair, error) {
	p := &pair{}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Strom first: it is quick, and Kafka's JVM then starts on a machine
	// that is otherwise idle.
	dir, err := os.MkdirTemp("", "strom-compat-")
	if err != nil {
		return nil, err
	}
	p.stromDir = dir
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.LogLevel = "debug"
	// Kafka's reference broker runs with group.initial.rebalance.delay.ms=0.
	cfg.GroupInitialRebalanceDelay = 0
	if err := p.startStrom(cfg, dir); err != nil {
		p.stop()
		return nil, err
	}
	p.stromAddr = p.strom.Addr().String()

	k, err := kafkaref.StartProcess(ctx, kafkaref.Options{HeapMB: 512})
	if err != nil {
		p.stop()
		return nil, err
	}
	p.kafka = k
	p.kafkaAddr = k.Addr()

	if p.kafkaVersions, err = advertised(p.kafkaAddr); err != nil {
		p.stop()
		return nil, fmt.Errorf("kafka ApiVersions: %w", err)
	}
	if p.stromVersions, err = advertised(p.stromAddr); err != nil {
		p.stop()
		return nil, fmt.Errorf("strom ApiVersions: %w", err)
	}
	return p, nil
}

// startStrom starts the pair's Strom broker with cfg, logging at debug
// level to strom.log in dir.
func (p *pair) startStrom(cfg config.Config, dir string) error {
	p.stromLog = filepath.Join(dir, "strom.log")
	logf, err := os.Create(p.stromLog)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := broker.New(cfg, logger)
	if err != nil {
		return fmt.Errorf("strom: %w", err)
	}
	if err := b.Start(context.Background()); err != nil {
		return fmt.Errorf("strom start: %w", err)
	}
	p.strom = b
	return nil
}

func (p *pair) stop() {
	if p.kafka != nil {
		p.kafka.Stop()
	}
	if p.strom != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = p.strom.Shutdown(ctx)
		cancel()
	}
	if p.stromDir != "" && os.Getenv("STROM_COMPAT_KEEP") == "" {
		os.RemoveAll(p.stromDir)
	}
}

func advertised(addr string) (map[int16][2]int16, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "strom-compat", "1"
	resp, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.ApiVersionsResponse)
	if r.ErrorCode != 0 {
		return nil, fmt.Errorf("error code %d", r.ErrorCode)
	}
	out := map[int16][2]int16{}
	for _, k := range r.ApiKeys {
		out[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return out, nil
}

// versions are the versions of key that both brokers advertise and kmsg
// can encode, oldest first: every one in the full suite, the newest only
// otherwise.
func (p *pair) versions(key int16) []int16 {
	k, okK := p.kafkaVersions[key]
	s, okS := p.stromVersions[key]
	if !okK || !okS {
		return nil
	}
	lo, hi := max(k[0], s[0]), min(k[1], s[1], kmsg.RequestForKey(key).MaxVersion())
	if lo > hi {
		return nil
	}
	if !fullSuite() {
		return []int16{hi}
	}
	var out []int16
	for v := lo; v <= hi; v++ {
		out = append(out, v)
	}
	return out
}
