package broker

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/handler"
)

// TestTxnPartition matches Kafka's partitionFor: Java's String.hashCode,
// Utils.abs (MIN_VALUE to 0), modulo the partition count.
func TestTxnPartition(t *testing.T) {
	for _, tc := range []struct {
		id   string
		n    int
		want int
	}{
		{"hello", 50, 99162322 % 50},
		{"polygenelubricants", 50, 0}, // hashCode is Integer.MIN_VALUE
		{"Aa", 7, 2112 % 7},
		{"\u00e9t\u00e9", 50, (233*31*31 + 116*31 + 233) % 50},
		{"\U0001F600", 50, (55357*31 + 56832) % 50}, // one rune, two UTF-16 units
	} {
		if got := txnPartition(tc.id, tc.n); got != tc.want {
			t.Errorf("txnPartition(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
}

// TestTxnVerifierFailurePaths: Kafka's answers when verification cannot
// happen. No coordinator: COORDINATOR_NOT_AVAILABLE; one that cannot be
// reached: NETWORK_EXCEPTION. A coordinator of this build answers (here
// for a topic it does not know); its ApiVersions answer must list
// AddPartitionsToTxn v4+, or the check was silently skipped (the request
// once named no client software and got INVALID_REQUEST without keys).
func TestTxnVerifierFailurePaths(t *testing.T) {
	cfg := config.Default()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	b, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	parts := []handler.TxnPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}}
	for _, tc := range []struct {
		name string
		addr string
		ok   bool
		want int16 // for every partition; -1: an empty answer
	}{
		{"no coordinator", "", false, kerr.CoordinatorNotAvailable.Code},
		{"coordinator of this build", b.Addr().String(), true, kerr.UnknownTopicOrPartition.Code},
		{"unreachable coordinator", dead, true, kerr.NetworkException.Code},
	} {
		v := newTxnVerifier(func(string) (string, bool) { return tc.addr, tc.ok }, logger)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		got := v.VerifyTxn(ctx, "tx", 1, 0, parts, false)
		cancel()
		v.close()
		if tc.want < 0 {
			if len(got) != 0 {
				t.Errorf("%s: %v, want no errors", tc.name, got)
			}
			continue
		}
		for _, p := range parts {
			if got[p] != tc.want {
				t.Errorf("%s: %v: %d, want %d", tc.name, p, got[p], tc.want)
			}
		}
	}
}
