package handler

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"

	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
)

// testLog is a partition holding three batches, for record sets to send.
func testLog(t testing.TB) *partition.Partition {
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

func readRange(t testing.TB, l *partition.Partition, from int64, max int32) partition.Records {
	t.Helper()
	rr, _, err := l.Read(ids.Offset(from), max, partition.BoundLogEnd, true)
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
	build func(v int16, l *partition.Partition) *FetchResponse
}

func fetchCases(t testing.TB) []fetchCase {
	rack := "rack-a"
	return []fetchCase{
		{"no topics, top-level error", func(v int16, _ *partition.Partition) *FetchResponse {
			r := kmsg.NewPtrFetchResponse()
			r.Version, r.ErrorCode, r.SessionID, r.ThrottleMillis = v, 71, 0, 5
			return &FetchResponse{FetchResponse: r}
		}},
		{"mixed partitions", func(v int16, l *partition.Partition) *FetchResponse {
			r := kmsg.NewPtrFetchResponse()
			r.Version, r.SessionID = v, 12345
			var ranges []partition.Records
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
				ranges = append(ranges, partition.Records{})
				// An error with null aborted transactions.
				p = kmsg.NewFetchResponseTopicPartition()
				p.Partition = 3
				p.ErrorCode = 6
				p.RecordBatches = []byte{}
				rt.Partitions = append(rt.Partitions, p)
				ranges = append(ranges, partition.Records{})
				// Records held in memory, a preferred replica.
				p = kmsg.NewFetchResponseTopicPartition()
				p.Partition = 4
				p.RecordBatches = []byte("in-memory records")
				p.PreferredReadReplica = 2
				rt.Partitions = append(rt.Partitions, p)
				ranges = append(ranges, partition.Records{})
				r.Topics = append(r.Topics, rt)
			}
			// No entry for the last partition: Ranges may be short.
			return &FetchResponse{FetchResponse: r, Ranges: ranges[:len(ranges)-1]}
		}},
		{"tagged fields", func(v int16, l *partition.Partition) *FetchResponse {
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
			return &FetchResponse{FetchResponse: r, Ranges: []partition.Records{readRange(t, l, 0, 1<<20)}}
		}},
		{"null records", func(v int16, _ *partition.Partition) *FetchResponse {
			r := kmsg.NewPtrFetchResponse()
			r.Version = v
			rt := kmsg.NewFetchResponseTopic()
			p := kmsg.NewFetchResponseTopicPartition()
			p.RecordBatches = nil
			rt.Partitions = append(rt.Partitions, p)
			r.Topics = append(r.Topics, rt)
			return &FetchResponse{FetchResponse: r}
		}},
	}
}

// kmsgFrame is the frame kmsg gives for r with its ranges read into memory.
func kmsgFrame(t testing.TB, corr int32, flexible bool, r *FetchResponse) []byte {
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

				var f Frame
				framing := r.AppendFrame([]byte("prefix"), 77, flexible, &f)
				framing = framing[len("prefix"):]
				var got []byte
				prev := 0
				for _, h := range f.Holes {
					got = append(got, framing[prev:h.At-len("prefix")]...)
					var err error
					if got, err = h.Records.AppendTo(got); err != nil {
						t.Fatal(err)
					}
					prev = h.At - len("prefix")
				}
				got = append(got, framing[prev:]...)
				if size := int(binary.BigEndian.Uint32(framing)) + 4; len(got) != size {
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

// FuzzFetchFrame holds the encoder to kmsg's bytes for any response kmsg
// decodes (record sets in memory: the holes are covered above).
func FuzzFetchFrame(f *testing.F) {
	l := testLog(f)
	for v := int16(4); v <= 16; v++ {
		for i, tc := range fetchCases(f) {
			r := tc.build(v, l)
			if i == 0 && (v == 4 || v == 12 || v == 16) {
				// A few of them are the committed corpus too.
				fuzzseed.Add(f, v, r.AppendTo(nil))
			} else {
				f.Add(v, r.AppendTo(nil))
			}
			r.Release()
		}
	}
	f.Fuzz(func(t *testing.T, v int16, body []byte) {
		if v < 4 || v > 16 {
			return
		}
		dec := kmsg.NewPtrFetchResponse()
		dec.Version = v
		if err := dec.ReadFrom(body); err != nil {
			return
		}
		r := &FetchResponse{FetchResponse: dec}
		want := kmsgFrame(t, 5, v >= 12, r)
		var fr Frame
		got := r.AppendFrame(nil, 5, v >= 12, &fr)
		if len(fr.Holes) != 0 || !bytes.Equal(got, want) {
			t.Fatalf("frame differs from kmsg's\n got %x\nwant %x", got, want)
		}
	})
}
