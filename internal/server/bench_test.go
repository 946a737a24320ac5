package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/broker"
	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/record"
)

// The benchmarks drive an in-process broker over loopback with raw,
// pre-encoded requests, so the client side costs little: a writer
// goroutine keeps benchWindow requests in flight, a reader discards the
// responses after their size prefix. fsync is off (flush_messages as in
// Kafka's default), so the numbers measure the broker's CPU path rather
// than the disk; allocs/op counts the whole process, client included.

const (
	benchRecords    = 100
	benchRecordSize = 100
	benchWindow     = 8
)

// benchBroker starts a single-node broker with fsync off and one topic
// "bench" of one partition.
func benchBroker(b *testing.B) string {
	b.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Address = "" // several in one process
	cfg.DataDir = b.TempDir()
	cfg.LogLevel = "error"
	cfg.Log.FlushMessages = 1<<63 - 1
	br, err := broker.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := br.Shutdown(ctx); err != nil {
			b.Errorf("shutdown: %v", err)
		}
	})
	return br.Addr().String()
}

// benchConn is a raw client connection.
type benchConn struct {
	nc   net.Conn
	br   *bufio.Reader
	corr int32
	fmt  *kmsg.RequestFormatter
}

func dialBench(b *testing.B, addr string) *benchConn {
	b.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return &benchConn{nc: nc, br: bufio.NewReaderSize(nc, 1<<20), fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench"))}
}

// encode frames req (size prefix included).
func (c *benchConn) encode(req kmsg.Request) []byte {
	c.corr++
	return c.fmt.AppendRequest(nil, req, c.corr)
}

// roundTrip sends req and decodes its response; for set-up only.
func (c *benchConn) roundTrip(b *testing.B, req kmsg.Request) kmsg.Response {
	b.Helper()
	if _, err := c.nc.Write(c.encode(req)); err != nil {
		b.Fatal(err)
	}
	frame, err := c.readFrame(nil)
	if err != nil {
		b.Fatal(err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body := frame[4:]
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		b.Fatalf("decode %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// readFrame reads one response frame (without its size prefix) into buf.
func (c *benchConn) readFrame(buf []byte) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(c.br, buf)
	return buf, err
}

// pipeline sends n frames from next, keeping benchWindow in flight, and
// reads n responses; it returns the total response bytes.
func (c *benchConn) pipeline(b *testing.B, n int, next func(i int) []byte) int64 {
	b.Helper()
	credits := make(chan struct{}, benchWindow)
	for range benchWindow {
		credits <- struct{}{}
	}
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			<-credits
			if _, err := c.nc.Write(next(i)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var total int64
	var buf []byte
	for range n {
		var err error
		if buf, err = c.readFrame(buf); err != nil {
			b.Fatal(err)
		}
		total += int64(len(buf))
		credits <- struct{}{}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return total
}

func benchBatch(b *testing.B) []byte {
	b.Helper()
	recs := make([]record.Record, benchRecords)
	value := make([]byte, benchRecordSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Value: value}
	}
	batch, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}

func produceReq(batch []byte, acks int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = 30000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "bench"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = batch
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

// setupTopic creates "bench" and waits until it takes writes.
func setupTopic(b *testing.B, c *benchConn) {
	b.Helper()
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 5
	ct.TimeoutMillis = 10000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = "bench", 1, 1
	ct.Topics = append(ct.Topics, t)
	if r := c.roundTrip(b, ct).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		b.Fatalf("create topic: error %d", r.Topics[0].ErrorCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.roundTrip(b, produceReq(benchBatch(b), 1)).(*kmsg.ProduceResponse)
		if r.Topics[0].Partitions[0].ErrorCode == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("topic not writable: error %d", r.Topics[0].Partitions[0].ErrorCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkProduce sends produce requests of one 100-record batch of
// 100-byte records; MB/s counts record values.
func BenchmarkProduce(b *testing.B) {
	for _, acks := range []int16{1, -1} {
		b.Run(fmt.Sprintf("acks=%d", acks), func(b *testing.B) {
			addr := benchBroker(b)
			c := dialBench(b, addr)
			setupTopic(b, c)
			frame := c.encode(produceReq(benchBatch(b), acks))
			b.SetBytes(benchRecords * benchRecordSize)
			b.ReportAllocs()
			b.ResetTimer()
			c.pipeline(b, b.N, func(int) []byte { return frame })
		})
	}
}

// BenchmarkFetch reads 1 MiB fetch responses from a 32 MiB log; MB/s
// counts response bytes.
func BenchmarkFetch(b *testing.B) {
	addr := benchBroker(b)
	c := dialBench(b, addr)
	setupTopic(b, c)
	batch := benchBatch(b)
	const logBytes = 32 << 20
	frame := c.encode(produceReq(batch, 1))
	n := logBytes / len(batch)
	c.pipeline(b, n, func(int) []byte { return frame })
	total := int64(n+1) * benchRecords // set-up wrote one batch too

	fetch := func(offset int64) *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		t := kmsg.NewFetchRequestTopic()
		t.Topic = "bench"
		p := kmsg.NewFetchRequestTopicPartition()
		p.FetchOffset = offset
		p.PartitionMaxBytes = 1 << 20
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		return req
	}
	// Offsets step by what one response holds, wrapping before the end so
	// every response is full.
	perResp := int64(1<<20/len(batch)) * benchRecords
	var frames [][]byte
	for off := int64(0); off+perResp < total; off += perResp {
		frames = append(frames, c.encode(fetch(off)))
	}
	first := c.roundTrip(b, fetch(0)).(*kmsg.FetchResponse)
	if got := len(first.Topics[0].Partitions[0].RecordBatches); got < 1<<19 {
		b.Fatalf("first response holds %d record bytes", got)
	}
	b.SetBytes(int64(len(first.Topics[0].Partitions[0].RecordBatches)))
	b.ReportAllocs()
	b.ResetTimer()
	c.pipeline(b, b.N, func(i int) []byte { return frames[i%len(frames)] })
}
