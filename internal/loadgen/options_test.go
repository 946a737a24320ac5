package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOptionsDefaults(t *testing.T) {
	o, err := (&Options{Topic: "t"}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Bootstrap) != 1 || o.Bootstrap[0] != "127.0.0.1:9092" || o.RecordSize != 100 || o.Acks != "all" ||
		o.Compression != "none" || o.Duration != 10*time.Second || o.IdleTimeout != 5*time.Second ||
		o.Partitions != -1 || o.ReplicationFactor != -1 || o.MaxBuffered != 10000 || o.ProgressInterval != time.Second {
		t.Fatalf("defaults = %+v", o)
	}
	o, err = (&Options{Topic: "t", NumRecords: 5}).withDefaults()
	if err != nil || o.Duration != 0 {
		t.Fatalf("NumRecords set: duration %v, err %v; want no default duration", o.Duration, err)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "topic"},
		{Options{Topic: "t", RecordSize: -1}, "record size"},
		{Options{Topic: "t", NumRecords: -1}, "num records"},
		{Options{Topic: "t", Acks: "2"}, "acks"},
		{Options{Topic: "t", Compression: "brotli"}, "compression"},
	} {
		_, err := tc.o.withDefaults()
		if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error = %v, want ErrBadOptions mentioning %q", tc.o, err, tc.want)
		}
		// Produce and Consume refuse before touching the network.
		if _, err := Produce(context.Background(), tc.o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Produce(%+v) = %v, want ErrBadOptions", tc.o, err)
		}
		if _, err := Consume(context.Background(), tc.o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Consume(%+v) = %v, want ErrBadOptions", tc.o, err)
		}
	}
}

func TestAcksAndCompressionNames(t *testing.T) {
	for _, a := range []string{"0", "1", "all", "-1", "ALL"} {
		if _, err := AcksOpt(a); err != nil {
			t.Errorf("AcksOpt(%q) = %v", a, err)
		}
	}
	for _, c := range []string{"none", "gzip", "snappy", "lz4", "zstd", "ZSTD", ""} {
		if _, err := CompressionOpt(c); err != nil {
			t.Errorf("CompressionOpt(%q) = %v", c, err)
		}
	}
}

func TestPayload(t *testing.T) {
	p := Payload(1000, 7)
	if len(p) != 1000 {
		t.Fatalf("len %d", len(p))
	}
	for _, b := range p {
		if b < 'A' || b > 'Z' {
			t.Fatalf("byte %q outside A-Z", b)
		}
	}
	if string(p) != string(Payload(1000, 7)) || string(p) == string(Payload(1000, 8)) {
		t.Fatal("payload not determined by its seed")
	}
}

func TestPace(t *testing.T) {
	start := time.Now()
	if err := pace(context.Background(), start, start, 1e9, -1); err != nil {
		t.Fatalf("unlimited rate waited: %v", err)
	}
	// Record 0 is due at start: no wait even at a tiny rate.
	if err := pace(context.Background(), start, start, 0, 0.001); err != nil {
		t.Fatal(err)
	}
	// Far ahead of schedule: only cancellation ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pace(ctx, start, start, 10, 0.001); !errors.Is(err, context.Canceled) {
		t.Fatalf("pace ahead of schedule with a cancelled context = %v", err)
	}
}

func TestResultRatesAndSummary(t *testing.T) {
	h := NewHistogram()
	for i := int64(1); i <= 100; i++ {
		h.Record(i * int64(time.Millisecond))
	}
	r := Result{Records: 1000, Bytes: 2 << 20, Elapsed: 2 * time.Second, Latency: h, LatencyKind: "ack", Errors: 3}
	if r.MsgPerSec() != 500 || r.MBPerSec() != 1 {
		t.Fatalf("rates %v msg/s %v MB/s", r.MsgPerSec(), r.MBPerSec())
	}
	s := r.Summary()
	for _, want := range []string{"1000 records", "500.0 msg/s", "1.00 MB/s", "3 errors", "ack latency", "p50 50.", "p99 99.", "max 100ms"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q lacks %q", s, want)
		}
	}
	if (Result{}).MsgPerSec() != 0 || (Result{}).MBPerSec() != 0 || strings.Contains((Result{}).Summary(), "latency") {
		t.Error("empty result reports rates or latency")
	}
}
