package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
)

// testPartition is a partition holding three batches, for record sets to
// send.
func testPartition(t *testing.T) *partition.Partition {
	t.Helper()
	p, err := partition.Open(filepath.Join(t.TempDir(), "t-0"), "t", metadata.NewTopicID(), 0, config.Default().Log.TopicConfig(), 3, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for i := range 3 {
		b, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]record.Record{{Value: []byte(fmt.Sprintf("value %d", i))}, {OffsetDelta: 1, Key: []byte("k"), Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Append(b, partition.FromClient); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// fetchResponse is a Fetch response of version v with record sets left in
// p's file (one batch, then all of them), an empty one and one in memory.
// The handler package holds its frame to kmsg's bytes.
func fetchResponse(t *testing.T, p *partition.Partition, v int16) *handler.FetchResponse {
	t.Helper()
	r := kmsg.NewPtrFetchResponse()
	r.Version, r.SessionID = v, 12345
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	var ranges []partition.Records
	for pi, max := range []int32{1, 1 << 20, 0, 0} {
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = int32(pi)
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 6, 6, 0
		rp.RecordBatches = []byte{}
		var rr partition.Records
		switch pi {
		case 0, 1:
			var err error
			if rr, _, err = p.Read(ids.Offset(2*pi), max, partition.BoundLogEnd, true); err != nil || rr.Size() == 0 {
				t.Fatalf("read: %d bytes, %v", rr.Size(), err)
			}
		case 3:
			rp.RecordBatches = []byte("in-memory records")
		}
		rt.Partitions = append(rt.Partitions, rp)
		ranges = append(ranges, rr)
	}
	r.Topics = append(r.Topics, rt)
	return &handler.FetchResponse{FetchResponse: r, Ranges: ranges}
}

// frame is the frame of resp encoded in memory (a Fetch response's
// record sets read from their files).
func frame(corr int32, flexible bool, resp kmsg.Response) []byte {
	out := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 0}, uint32(corr))
	if flexible {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func released(r *handler.FetchResponse) bool {
	for i := range r.Ranges {
		if r.Ranges[i].File() != nil {
			return false
		}
	}
	return true
}

// TestRespWriterSendsRanges writes pipelined responses, framed ones among
// them, through a TCP connection (sendfile) and a pipe (copy), and checks
// the stream and that every record set was released.
func TestRespWriterSendsRanges(t *testing.T) {
	p := testPartition(t)
	for _, kind := range []string{"tcp", "pipe", "tls"} {
		t.Run(kind, func(t *testing.T) {
			var client, server net.Conn
			if kind == "pipe" {
				client, server = net.Pipe()
			} else if kind == "tls" {
				// TLS over a pipe, the server's records batched as a
				// TLS listener's are.
				c, s := net.Pipe()
				cert, pool := selfSigned(t)
				ts := tls.Server(&batchConn{Conn: s}, &tls.Config{Certificates: []tls.Certificate{cert}})
				tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
				// Handshake first, as the listener does before any
				// response: a handshake inside a batch would wait for
				// an answer to records not yet sent.
				hs := make(chan error, 1)
				go func() { hs <- ts.Handshake() }()
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				if err := <-hs; err != nil {
					t.Fatal(err)
				}
				server, client = ts, tc
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				accepted := make(chan net.Conn, 1)
				go func() {
					c, _ := ln.Accept()
					accepted <- c
				}()
				if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
					t.Fatal(err)
				}
				server = <-accepted
			}
			defer client.Close()
			defer server.Close()

			var want []byte
			var resps []kmsg.Response
			for _, v := range []int16{11, 12, 16, 16} {
				r := fetchResponse(t, p, v)
				want = append(want, frame(int32(len(resps)), v >= 12, r)...)
				resps = append(resps, r)
			}
			meta := kmsg.NewPtrMetadataResponse()
			meta.Version = 1
			want = append(want, frame(int32(len(resps)), false, meta)...)
			resps = append(resps, meta)

			w := newRespWriter(server)
			if (w.batch != nil) != (kind == "tls") {
				t.Fatalf("%s: batching %v", kind, w.batch != nil)
			}
			errc := make(chan error, 1)
			go func() {
				for i, r := range resps {
					if err := w.write(int32(i), r.GetVersion() >= 12 && r.Key() == 1, r); err != nil {
						errc <- err
						return
					}
				}
				errc <- w.flush()
			}()
			got := make([]byte, len(want))
			client.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(client, got); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("stream differs\n got %x\nwant %x", got, want)
			}
			for i, r := range resps[:len(resps)-1] {
				if !released(r.(*handler.FetchResponse)) {
					t.Fatalf("response %d: record sets not released", i)
				}
			}
		})
	}
}

// TestRespWriterReleasesOnDeadConn checks record sets are released when the
// peer is gone.
func TestRespWriterReleasesOnDeadConn(t *testing.T) {
	p := testPartition(t)
	client, server := net.Pipe()
	client.Close()
	w := newRespWriter(server)
	r := fetchResponse(t, p, 12)
	if err := w.write(1, true, r); err == nil {
		t.Fatal("write to a closed pipe succeeded")
	}
	if !released(r) {
		t.Fatal("record sets not released")
	}
	release(nil)
}

// selfSigned is a certificate for localhost and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// countingConn counts the writes that reach it.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestBatchConnGathersRecords: 1 MiB written through TLS inside a batch
// reaches the socket in a few writes, not one per 16 KiB record, and the
// peer reads it whole; outside a batch every record is its own write.
func TestBatchConnGathersRecords(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := selfSigned(t)
	counted := &countingConn{Conn: <-accepted}
	bc := &batchConn{Conn: counted}
	server := tls.Server(bc, &tls.Config{Certificates: []tls.Certificate{cert}, DynamicRecordSizingDisabled: true})
	client := tls.Client(cc, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	defer server.Close()
	defer client.Close()

	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for _, batched := range []bool{true, false} {
		errc := make(chan error, 1)
		go func() {
			if err := server.Handshake(); err != nil {
				errc <- err
				return
			}
			before := counted.writes.Load()
			if batched {
				bc.begin()
			}
			_, err := server.Write(payload)
			if batched {
				if e := bc.end(); err == nil {
					err = e
				}
			}
			n := counted.writes.Load() - before
			switch {
			case err != nil:
			case batched && n > int64(len(payload)/batchMax+1):
				err = fmt.Errorf("1 MiB in a batch took %d writes", n)
			case !batched && n < int64(len(payload)/(16<<10)):
				err = fmt.Errorf("1 MiB outside a batch took only %d writes", n)
			}
			errc <- err
		}()
		got := make([]byte, len(payload))
		client.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(client, got); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("batched=%v: the peer read other bytes", batched)
		}
	}
}
