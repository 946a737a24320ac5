package server_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/broker"
	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/record"
)

// startBroker runs a single-node broker for the test, logging only to w.
func startBroker(tb testing.TB, w *panicWatch) string {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Admin.Address = "" // several in one process
	cfg.DataDir = tb.TempDir()
	b, err := broker.New(cfg, slog.New(w))
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return b.Addr().String()
}

// TestFuzzSeedsAnswered checks the seed corpus is what it claims: valid
// requests, each answered with one decodable response.
func TestFuzzSeedsAnswered(t *testing.T) {
	watch := &panicWatch{}
	addr := startBroker(t, watch)
	for i, seed := range fuzzSeeds(t) {
		if n := exchange(t, addr, seed); n != 1 {
			t.Errorf("seed %d (%s): %d responses, want 1", i, kmsg.NameForKey(int16(binary.BigEndian.Uint16(seed))), n)
		}
	}
	if p := watch.take(); p != "" {
		t.Fatal(p)
	}
}

// hangAfter is how long one fuzz input may take before it counts as a hang.
const hangAfter = 30 * time.Second

// FuzzRequest feeds arbitrary request frames to a running broker over a
// loopback connection. Whatever the frame, the broker must not panic (a
// recovered handler panic counts), every response it writes must decode
// as the API and version asked for, and a fresh connection must still get
// an ApiVersions answer afterwards.
//
// The input is one frame without its size prefix: request header and body.
func FuzzRequest(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	watch := &panicWatch{}
	addr := startBroker(f, watch)

	f.Fuzz(func(t *testing.T, frame []byte) {
		// The fuzzing engine has no hang detection of its own: a worker
		// stuck on one input just stops. Crash it instead, so the engine
		// saves the input. Generous: this guards against hangs, it does
		// not measure speed.
		watchdog := time.AfterFunc(hangAfter, func() {
			panic(fmt.Sprintf("frame %x: no progress in %v", frame, hangAfter))
		})
		defer watchdog.Stop()
		exchange(t, addr, frame)
		if p := watch.take(); p != "" {
			t.Fatalf("handler panic on frame %x: %s", frame, p)
		}
		checkServing(t, addr)
	})
}

// exchange writes frame, half-closes, and checks every complete response
// that comes back before the server closes or the read deadline passes (a
// long-polling fetch may legitimately outlast it). It returns how many
// responses it checked.
func exchange(t *testing.T, addr string, frame []byte) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	out := binary.BigEndian.AppendUint32(nil, uint32(len(frame)))
	out = append(out, frame...)
	if _, err := conn.Write(out); err != nil {
		return 0 // the server may close on a bad frame before reading it all
	}
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	got, _ := io.ReadAll(conn)

	if len(frame) < 8 {
		if len(got) != 0 {
			t.Fatalf("answer %x to a frame too short for a header", got)
		}
		return 0
	}
	key := int16(binary.BigEndian.Uint16(frame[0:]))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	corr := int32(binary.BigEndian.Uint32(frame[4:]))
	n := 0
	for len(got) >= 4 {
		size := int(binary.BigEndian.Uint32(got))
		if size > len(got)-4 {
			break // cut off by the deadline
		}
		if err := checkResponse(key, version, corr, got[4:4+size]); err != nil {
			t.Fatalf("frame %x: %v", frame, err)
		}
		got = got[4+size:]
		n++
	}
	return n
}

// checkResponse decodes one response to the request key/version.
func checkResponse(key, version int16, corr int32, body []byte) error {
	rd := kbin.Reader{Src: body}
	if got := rd.Int32(); got != corr {
		return fmt.Errorf("response correlation id %d, want %d", got, corr)
	}
	resp := kmsg.ResponseForKey(key)
	if resp == nil {
		return fmt.Errorf("answer to unknown key %d", key)
	}
	if vr, ok := handler.Lookup(kmsg.Key(key)); key == kmsg.ApiVersions.Int16() && ok && version > vr.Max {
		version = 0 // KIP-511: the unsupported-version answer is v0
	}
	resp.SetVersion(version)
	if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		kmsg.SkipTags(&rd)
	}
	if err := rd.Complete(); err != nil {
		return fmt.Errorf("short response header: %v", err)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		return fmt.Errorf("undecodable %s v%d response: %v", kmsg.NameForKey(key), version, err)
	}
	return nil
}

// checkServing asks a fresh connection for ApiVersions.
func checkServing(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("broker no longer accepts connections: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "fuzz", "1"
	if _, err := conn.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		t.Fatalf("broker no longer serving: write ApiVersions: %v", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatalf("broker no longer serving: read ApiVersions: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatalf("broker no longer serving: read ApiVersions: %v", err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("broker no longer serving: ApiVersions error %d, %d keys, decode %v", resp.ErrorCode, len(resp.ApiKeys), err)
	}
}

// panicWatch is a slog handler that keeps the first handler panic the
// server logs (it recovers them, so they would go unnoticed otherwise).
type panicWatch struct {
	mu    sync.Mutex
	first string
}

func (w *panicWatch) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (w *panicWatch) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "handler panic" {
		return nil
	}
	s := r.Message
	r.Attrs(func(a slog.Attr) bool {
		s += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		return true
	})
	w.mu.Lock()
	if w.first == "" {
		w.first = s
	}
	w.mu.Unlock()
	fmt.Fprintln(os.Stderr, s)
	return nil
}

func (w *panicWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *panicWatch) WithGroup(string) slog.Handler      { return w }

func (w *panicWatch) take() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.first
	w.first = ""
	return s
}

// fuzzSeeds are valid frames: every served API at its lowest and highest
// version with an empty body, plus requests with content for the APIs
// that touch data.
func fuzzSeeds(f testing.TB) [][]byte {
	var reqs []kmsg.Request
	for _, vr := range handler.Supported() {
		for _, v := range []int16{vr.Min, vr.Max} {
			r := vr.Key.Request()
			r.SetVersion(v)
			if p, ok := r.(*kmsg.ProduceRequest); ok {
				p.Acks = 1 // acks=0 is answered by nothing
			}
			reqs = append(reqs, r)
		}
	}
	batch, err := record.AppendBatch(nil, record.BatchOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: 1},
		[]record.Record{{Key: []byte("k"), Value: []byte("v")}, {Value: []byte("w")}})
	if err != nil {
		f.Fatal(err)
	}
	topic := "fuzz"
	with := func(v int16, r kmsg.Request) kmsg.Request { r.SetVersion(v); return r }

	for _, v := range []int16{3, 9, 13} {
		p := kmsg.NewPtrProduceRequest()
		p.Acks, p.TimeoutMillis = 1, 1000
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = topic
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = batch
		pt.Partitions = append(pt.Partitions, pp)
		p.Topics = append(p.Topics, pt)
		reqs = append(reqs, with(v, p))
	}
	for _, v := range []int16{4, 12} {
		fr := kmsg.NewPtrFetchRequest()
		fr.MaxWaitMillis, fr.MaxBytes = 0, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		fr.Topics = append(fr.Topics, ft)
		reqs = append(reqs, with(v, fr))
	}
	for _, v := range []int16{1, 12} {
		m := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = &topic
		m.Topics = append(m.Topics, mt)
		m.AllowAutoTopicCreation = true
		reqs = append(reqs, with(v, m))
	}
	for _, v := range []int16{0, 7} {
		c := kmsg.NewPtrCreateTopicsRequest()
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "fuzz-created", 2, 1
		cc := kmsg.NewCreateTopicsRequestTopicConfig()
		cc.Name, cc.Value = "retention.ms", kmsg.StringPtr("1000")
		ct.Configs = append(ct.Configs, cc)
		c.Topics = append(c.Topics, ct)
		reqs = append(reqs, with(v, c))
	}
	for _, v := range []int16{1, 10} {
		l := kmsg.NewPtrListOffsetsRequest()
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = topic
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = -2
		lt.Partitions = append(lt.Partitions, lp)
		l.Topics = append(l.Topics, lt)
		reqs = append(reqs, with(v, l))
	}
	for _, v := range []int16{0, 4} {
		d := kmsg.NewPtrDescribeConfigsRequest()
		d.IncludeSynonyms, d.IncludeDocumentation = true, true
		for _, res := range []struct {
			t kmsg.ConfigResourceType
			n string
		}{{kmsg.ConfigResourceTypeTopic, topic}, {kmsg.ConfigResourceTypeBroker, "1"}, {kmsg.ConfigResourceTypeBroker, ""}} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = res.t, res.n
			d.Resources = append(d.Resources, rr)
		}
		reqs = append(reqs, with(v, d))
	}
	for _, v := range []int16{0, 1} {
		ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Op, c.Name, c.Value = kmsg.IncrementalAlterConfigOpAppend, "cleanup.policy", kmsg.StringPtr("compact")
		rr.Configs = append(rr.Configs, c)
		ia.Resources = append(ia.Resources, rr)
		reqs = append(reqs, with(v, ia))
	}
	{
		a := kmsg.NewPtrAlterConfigsRequest()
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, ""
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "log.retention.ms", kmsg.StringPtr("600000")
		rr.Configs = append(rr.Configs, c)
		a.Resources = append(a.Resources, rr)
		reqs = append(reqs, with(2, a))
	}
	{
		cp := kmsg.NewPtrCreatePartitionsRequest()
		ct := kmsg.NewCreatePartitionsRequestTopic()
		ct.Topic, ct.Count = topic, 3
		cp.Topics = append(cp.Topics, ct)
		reqs = append(reqs, with(3, cp))

		dr := kmsg.NewPtrDeleteRecordsRequest()
		dt := kmsg.NewDeleteRecordsRequestTopic()
		dt.Topic = topic
		dp := kmsg.NewDeleteRecordsRequestTopicPartition()
		dp.Offset = -1
		dt.Partitions = append(dt.Partitions, dp)
		dr.Topics = append(dr.Topics, dt)
		reqs = append(reqs, with(2, dr))

		oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
		ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
		ot.Topic = topic
		op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		ot.Partitions = append(ot.Partitions, op)
		oe.Topics = append(oe.Topics, ot)
		reqs = append(reqs, with(4, oe))

		dl := kmsg.NewPtrDescribeLogDirsRequest()
		reqs = append(reqs, with(4, dl))
		reqs = append(reqs, with(2, kmsg.NewPtrDescribeClusterRequest()))
	}

	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	out := make([][]byte, 0, len(reqs))
	for i, r := range reqs {
		frame := formatter.AppendRequest(nil, r, int32(i))
		out = append(out, frame[4:])
	}
	if len(out) == 0 {
		f.Fatal(errors.New("no seeds"))
	}
	return out
}
