package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/storage"
)

// testLog is a log holding three batches, for ranges to send.
func testLog(t *testing.T) *storage.Log {
	t.Helper()
	l, err := storage.Open(t.TempDir(), storage.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for i := range 3 {
		b, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
			[]record.Record{{Value: []byte(fmt.Sprintf("value %d", i))}, {OffsetDelta: 1, Key: []byte("k"), Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b, 3); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func readRange(t *testing.T, l *storage.Log, from int64, max int32) storage.ReadResult {
	t.Helper()
	rr, err := l.Read(from, max, l.LogEndOffset(), true)
	if err != nil || rr.Size() == 0 {
		t.Fatalf("read at %d: %d bytes, %v", from, rr.Size(), err)
	}
	return rr
}

// fetchCase is a response and where its record sets come from.
type fetchCase struct {
	name string
	// build returns the response and, per partition in order, a range
	// (reads of the log) or nil.
	build func(v int16, l *storage.Log) *handler.FetchResponse
}

func fetchCases(t *testing.T) []fetchCase {
	rack := "rack-a"
	return []fetchCase{
		{"no topics, top-level error", func(v int16, _ *storage.Log) *handler.FetchResponse {
			r := kmsg.NewPtrFetchResponse()
			r.Version, r.ErrorCode, r.SessionID, r.ThrottleMillis = v, 71, 0, 5
			return &handler.FetchResponse{FetchResponse: r}
		}},
		{"mixed partitions", func(v int16, l *storage.Log) *handler.FetchResponse {
			r := kmsg.NewPtrFetchResponse()
			r.Version, r.SessionID = v, 12345
			var ranges []storage.ReadResult
			for ti, name := range []string{"alpha", "beta-topic"} {
				rt := kmsg.NewFetchResponseTopic()
				rt.Topic = name
				rt.TopicID = [16]byte{byte(ti + 1), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
				// A range of one batch, then of all batches.
				for pi, max := range []int32{1, 1 << 20} {
					p := kmsg.NewFetchResponseTopicPartition()
					p.Partition = int32(pi)
					p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 6, 6, 0
					p.PreferredReadReplica = -1
					p.RecordBatches = []byte{}
					if pi == 1 {
						p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 2}, {ProducerID: 9, FirstOffset: 4}}
					}
					rt.Partitions = append(rt.Partitions, p)
					ranges = append(ranges, readRange(t, l, int64(2*ti), max))
				}
				// Empty records, read_committed.
				p := kmsg.NewFetchResponseTopicPartition()
				p.Partition = 2
				p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 6, 6, 0
				p.RecordBatches = []byte{}
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				rt.Partitions = append(rt.Partitions, p)
				ranges = append(ranges, storage.ReadResult{})
				// An error with null aborted transactions.
				p = kmsg.NewFetchResponseTopicPartition()
				p.Partition = 3
				p.ErrorCode = 6
				p.RecordBatches = []byte{}
				rt.Partitions = append(rt.Partitions, p)
				ranges = append(ranges, storage.ReadResult{})
				// Records held in memory, a preferred replica.
				p = kmsg.NewFetchResponseTopicPartition()
				p.Partition = 4
				p.RecordBatches = []byte("in-memory records")
				p.PreferredReadReplica = 2
				rt.Partitions = append(rt.Partitions, p)
				ranges = append(ranges, storage.ReadResult{})
				r.Topics = append(r.Topics, rt)
			}
			// No entry for the last partition: Ranges may be short.
			return &handler.FetchResponse{FetchResponse: r, Ranges: ranges[:len(ranges)-1]}
		}},
		{"tagged fields", func(v int16, l *storage.Log) *handler.FetchResponse {
			r := kmsg.NewPtrFetchResponse()
			r.Version = v
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = "t"
			p := kmsg.NewFetchResponseTopicPartition()
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 10, 10, 1
			p.RecordBatches = []byte{}
			p.DivergingEpoch.Epoch, p.DivergingEpoch.EndOffset = 3, 17
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = 2, 4
			p.SnapshotID.EndOffset, p.SnapshotID.Epoch = 100, 5
			rt.Partitions = append(rt.Partitions, p)
			p2 := kmsg.NewFetchResponseTopicPartition()
			p2.Partition = 1
			p2.RecordBatches = []byte{}
			p2.CurrentLeader.LeaderID = 3
			p2.UnknownTags.Set(9, []byte("x"))
			rt.Partitions = append(rt.Partitions, p2)
			rt.UnknownTags.Set(5, []byte("topic tag"))
			r.Topics = append(r.Topics, rt)
			r.Brokers = []kmsg.FetchResponseBroker{{NodeID: 1, Host: "h1", Port: 9092, Rack: &rack}, {NodeID: 2, Host: "h2", Port: 9093}}
			r.UnknownTags.Set(7, []byte("top"))
			return &handler.FetchResponse{FetchResponse: r, Ranges: []storage.ReadResult{readRange(t, l, 0, 1<<20)}}
		}},
		{"null records", func(v int16, _ *storage.Log) *handler.FetchResponse {
			r := kmsg.NewPtrFetchResponse()
			r.Version = v
			rt := kmsg.NewFetchResponseTopic()
			p := kmsg.NewFetchResponseTopicPartition()
			p.RecordBatches = nil
			rt.Partitions = append(rt.Partitions, p)
			r.Topics = append(r.Topics, rt)
			return &handler.FetchResponse{FetchResponse: r}
		}},
	}
}

// kmsgFrame is the frame kmsg gives for r with its ranges read into memory.
func kmsgFrame(t *testing.T, corr int32, flexible bool, r *handler.FetchResponse) []byte {
	t.Helper()
	plain := *r.FetchResponse
	plain.Topics = nil
	i := 0
	for _, rt := range r.Topics {
		rt.Partitions = append([]kmsg.FetchResponseTopicPartition(nil), rt.Partitions...)
		for pi := range rt.Partitions {
			if i < len(r.Ranges) && r.Ranges[i].Size() > 0 {
				b, err := r.Ranges[i].AppendTo(nil)
				if err != nil {
					t.Fatal(err)
				}
				rt.Partitions[pi].RecordBatches = b
			}
			i++
		}
		plain.Topics = append(plain.Topics, rt)
	}
	out := []byte{0, 0, 0, 0}
	out = binary.BigEndian.AppendUint32(out, uint32(corr))
	if flexible {
		out = append(out, 0)
	}
	out = plain.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// TestFetchFrameMatchesKmsg holds the hand-written encoder to kmsg's bytes
// for every served version.
func TestFetchFrameMatchesKmsg(t *testing.T) {
	l := testLog(t)
	for v := int16(4); v <= 16; v++ {
		for _, tc := range fetchCases(t) {
			t.Run(fmt.Sprintf("v%d/%s", v, tc.name), func(t *testing.T) {
				r := tc.build(v, l)
				defer r.Release()
				flexible := v >= 12
				want := kmsgFrame(t, 77, flexible, r)

				var e fetchEncoder
				framing, size := e.appendFrame([]byte("prefix"), 77, flexible, r)
				framing = framing[len("prefix"):]
				var got []byte
				prev := 0
				for _, h := range e.holes {
					got = append(got, framing[prev:h.at-len("prefix")]...)
					var err error
					if got, err = h.rr.AppendTo(got); err != nil {
						t.Fatal(err)
					}
					prev = h.at - len("prefix")
				}
				got = append(got, framing[prev:]...)
				if int64(len(got)) != size {
					t.Errorf("size %d, frame has %d bytes", size, len(got))
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("frame differs from kmsg's\n got %x\nwant %x", got, want)
				}
				// The in-memory fallback gives the same body.
				fb := r.AppendTo(nil)
				if hdr := 8 + btoi(flexible); !bytes.Equal(fb, want[hdr:]) {
					t.Fatalf("AppendTo differs from kmsg's\n got %x\nwant %x", fb, want[hdr:])
				}
				// kmsg decodes it.
				dec := kmsg.NewPtrFetchResponse()
				dec.Version = v
				if err := dec.ReadFrom(got[8+btoi(flexible):]); err != nil {
					t.Fatalf("kmsg cannot decode the frame: %v", err)
				}
			})
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRespWriterSendsRanges writes pipelined responses, fetches among
// them, through a TCP connection (sendfile) and a pipe (copy), and checks
// the stream and that every range was released.
func TestRespWriterSendsRanges(t *testing.T) {
	l := testLog(t)
	for _, kind := range []string{"tcp", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			var client, server net.Conn
			if kind == "pipe" {
				client, server = net.Pipe()
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
			var fetches []*handler.FetchResponse
			w := newRespWriter(server)
			errc := make(chan error, 1)
			var wantAll [][]byte
			for i, v := range []int16{11, 12, 16} {
				for _, tc := range fetchCases(t) {
					r := tc.build(v, l)
					wantAll = append(wantAll, kmsgFrame(t, int32(i), v >= 12, r))
					fetches = append(fetches, r)
				}
			}
			for _, f := range wantAll {
				want = append(want, f...)
			}
			meta := kmsg.NewPtrMetadataResponse()
			meta.Version = 1
			metaFrame := append([]byte{0, 0, 0, 0, 0, 0, 0, 9}, meta.AppendTo(nil)...)
			binary.BigEndian.PutUint32(metaFrame, uint32(len(metaFrame)-4))
			want = append(want, metaFrame...)
			go func() {
				for i, r := range fetches {
					if err := w.write(int32(i/len(fetchCases(t))), r.Version >= 12, r); err != nil {
						errc <- err
						return
					}
				}
				if err := w.write(9, false, meta); err != nil {
					errc <- err
					return
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
			for _, r := range fetches {
				for i := range r.Ranges {
					if r.Ranges[i].File() != nil {
						t.Fatalf("range %d not released", i)
					}
				}
			}
		})
	}
}

// TestRespWriterReleasesOnDeadConn checks ranges are released when the
// peer is gone.
func TestRespWriterReleasesOnDeadConn(t *testing.T) {
	l := testLog(t)
	client, server := net.Pipe()
	client.Close()
	w := newRespWriter(server)
	r := fetchCases(t)[1].build(12, l)
	if err := w.write(1, true, r); err == nil {
		t.Fatal("write to a closed pipe succeeded")
	}
	for i := range r.Ranges {
		if r.Ranges[i].File() != nil {
			t.Fatalf("range %d not released", i)
		}
	}
	release(nil)
}
