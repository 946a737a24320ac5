package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
)

// FuzzLeaderResponse feeds a follower the leader's answer to its Fetch:
// whatever the bytes after the size and correlation id, roundTrip returns
// a response or an error wrapping errProtocol, and a response it accepts
// re-encodes to bytes that decode again.
func FuzzLeaderResponse(f *testing.F) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = fetchVersion
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 5, 5, 0
	rp.RecordBatches = []byte("batch bytes")
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	fuzzseed.Add(f, append([]byte{0}, resp.AppendTo(nil)...)) // empty header tags, body
	fuzzseed.Add(f, []byte{0})
	fuzzseed.Add(f, []byte{1, 0, 1, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<20 {
			return
		}
		client, server := net.Pipe()
		defer client.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer server.Close()
			var size [4]byte
			if _, err := io.ReadFull(server, size[:]); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, server, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
				return
			}
			out := binary.BigEndian.AppendUint32(nil, uint32(len(body)+4))
			out = binary.BigEndian.AppendUint32(out, 1)
			server.Write(append(out, body...))
		}()
		c := &leaderConn{nc: client, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))}
		req := kmsg.NewPtrFetchRequest()
		req.Version = fetchVersion
		got, err := c.fetch(req, 10*time.Second)
		client.Close()
		<-done
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("fetch: %v does not wrap errProtocol", err)
			}
			return
		}
		again := got.AppendTo(nil)
		back := kmsg.NewPtrFetchResponse()
		back.Version = fetchVersion
		if err := back.ReadFrom(again); err != nil {
			t.Fatalf("accepted response does not re-decode: %v", err)
		}
		if third := back.AppendTo(nil); !bytes.Equal(third, again) {
			t.Fatal("accepted response does not re-encode stably")
		}
	})
}
