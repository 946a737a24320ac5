// Package limits_test checks the connection limits (max_connections,
// max_connections_per_ip and its overrides, a listener's
// max_connections), the failed-authentication delay and the idle timeout
// with real clients (franz-go) and raw sockets: a flood of connections or
// slow partial frames from one address must not stop a client from
// another address being served.
//
// Loopback addresses stand for different hosts: Linux routes all of
// 127.0.0.0/8 to lo, so a socket bound to 127.0.0.2 reaches a broker on
// 127.0.0.1 as a client with its own address. The default run keeps a
// quick subset; STROM_LIMITS=full (make limits-test) opens 10,000
// connections and 1,000 slow frames against a broker process.
package limits_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// heavy reports whether the full-size versions run (make limits-test).
func heavy() bool { return os.Getenv("STROM_LIMITS") == "full" }

// dialFrom connects to addr from the local address src (a loopback
// address standing for another host).
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 30 * time.Second}
	return d.Dial("tcp", addr)
}

func mustDialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	nc, err := dialFrom(src, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// sendRequest writes one request frame.
func sendRequest(nc net.Conn, req kmsg.Request, corr int32) error {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("limits-test"))
	nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := nc.Write(f.AppendRequest(nil, req, corr))
	return err
}

// readResponse reads one response frame into resp (a non-flexible
// header: ApiVersions and the SASL requests used here) within d.
func readResponse(nc net.Conn, resp kmsg.Response, d time.Duration) error {
	nc.SetReadDeadline(time.Now().Add(d))
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		return err
	}
	if len(body) < 4 {
		return fmt.Errorf("short response of %d bytes", len(body))
	}
	return resp.ReadFrom(body[4:])
}

// apiVersions is one ApiVersions v0 round trip: proof the connection is
// served.
func apiVersions(nc net.Conn, d time.Duration) error {
	if err := sendRequest(nc, kmsg.NewPtrApiVersionsRequest(), 1); err != nil {
		return err
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := readResponse(nc, resp, d); err != nil {
		return err
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		return fmt.Errorf("ApiVersions: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	return nil
}

// closedByPeer waits up to d for the broker to close nc; it returns an
// error if the connection is still open or delivered data.
func closedByPeer(nc net.Conn, d time.Duration) error {
	nc.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := nc.Read(b[:])
	switch {
	case n > 0:
		return fmt.Errorf("got data, want a closed connection")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), isReset(err):
		return nil
	case err == nil:
		return fmt.Errorf("read returned nothing and no error")
	}
	return fmt.Errorf("connection not closed: %w", err)
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// roundTrip produces n records with franz-go (from 127.0.0.1) and reads
// them back.
func roundTrip(t testing.TB, addr, topic string, n int, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", got, n, topic, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != strconv.Itoa(got) {
				t.Fatalf("record %d of %s: value %q", got, topic, r.Value)
			}
			got++
		})
	}
}

// metric reads the sum of the samples of series name whose labels include
// every label="value" in want, from the admin listener's /metrics.
func metric(t testing.TB, admin, name string, want ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
