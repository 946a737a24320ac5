package txn

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// leaderEnd is the partition leader's end of a marker connection: it reads
// one Kafka request frame, decodes it as Kafka's request header and a
// WriteTxnMarkers body, and answers with resp's encoding.
func leaderEnd(t *testing.T, ln net.Listener, got chan<- *kmsg.WriteTxnMarkersRequest, answer func(*kmsg.WriteTxnMarkersRequest) *kmsg.WriteTxnMarkersResponse) {
	nc, err := ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	for {
		var size [4]byte
		if _, err := io.ReadFull(nc, size[:]); err != nil {
			return
		}
		frame := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(nc, frame); err != nil {
			return
		}
		r := kbin.Reader{Src: frame}
		key, version, corr := r.Int16(), r.Int16(), r.Int32()
		r.NullableString() // client id
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Version = version
		if key != int16(kmsg.WriteTxnMarkers) {
			t.Errorf("request key %d, want WriteTxnMarkers", key)
			return
		}
		if req.IsFlexible() {
			kmsg.SkipTags(&r)
		}
		if err := req.ReadFrom(r.Src); err != nil {
			t.Errorf("decode WriteTxnMarkers: %v", err)
			return
		}
		got <- req
		resp := answer(req)
		body := kbin.AppendInt32(nil, corr)
		body = append(body, 0) // flexible response header: no tags
		body = resp.AppendTo(body)
		out := kbin.AppendInt32(nil, int32(len(body)))
		if _, err := nc.Write(append(out, body...)); err != nil {
			return
		}
	}
}

// TestNetSenderWireFormat: the coordinator's markers leave as Kafka
// WriteTxnMarkers v1 requests over TCP to the leader's advertised address,
// and the leader's per-partition answers come back decoded.
func TestNetSenderWireFormat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *kmsg.WriteTxnMarkersRequest, 4)
	go leaderEnd(t, ln, got, func(req *kmsg.WriteTxnMarkersRequest) *kmsg.WriteTxnMarkersResponse {
		resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
		for _, m := range req.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, tt := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = tt.Topic
				for _, p := range tt.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition = p
					if p == 1 {
						rp.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		return resp
	})
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	im := &metadata.Image{Brokers: []metadata.Broker{{ID: 2, Host: host, Port: int32(p)}}}
	s := NewNetSender(func() *metadata.Image { return im }, "test")
	defer s.Close()

	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = markersVersion
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = 77, 3, true, 5
	mk.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{mk}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for round := 0; round < 2; round++ { // the connection is reused
		resp, err := s.Send(ctx, ids.NodeID(2), req)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent := <-got
		if sent.Version != 1 || len(sent.Markers) != 1 {
			t.Fatalf("sent %+v", sent)
		}
		m := sent.Markers[0]
		if m.ProducerID != 77 || m.ProducerEpoch != 3 || !m.Committed || m.CoordinatorEpoch != 5 || m.Topics[0].Topic != "t" || len(m.Topics[0].Partitions) != 2 {
			t.Fatalf("sent marker %+v", m)
		}
		ps := resp.Markers[0].Topics[0].Partitions
		if len(ps) != 2 || ps[0].ErrorCode != 0 || ps[1].ErrorCode != 6 {
			t.Fatalf("answer %+v", ps)
		}
	}
	if _, err := s.Send(ctx, ids.NodeID(9), req); err == nil {
		t.Fatal("Send to a node not in the image succeeded")
	}
}
