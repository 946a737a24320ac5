package testkit

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestLedgerConnReadsProduceResponses writes a Produce request and its
// response through a ledgerConn, split into small pieces, and checks the
// ledger learned which node acknowledged which base offset, skipping the
// failed partition and the other request.
func TestLedgerConnReadsProduceResponses(t *testing.T) {
	for _, version := range []int16{7, 9, 11} {
		l := &AckLedger{acks: map[ledgerKey][]ledgerAck{}}
		client, server := net.Pipe()
		lc := &ledgerConn{Conn: client, l: l, node: 2, versions: map[int32]int16{}}

		req := kmsg.NewPtrProduceRequest()
		req.Version = version
		frames := [][]byte{
			requestFrame(kmsg.NewPtrMetadataRequest(), 9, 6),
			requestFrame(req, version, 7),
		}
		go func() {
			for _, f := range frames {
				for len(f) > 0 { // a few bytes at a time
					n := min(3, len(f))
					if _, err := lc.Write(f[:n]); err != nil {
						return
					}
					f = f[n:]
				}
			}
		}()
		for range frames {
			var size [4]byte
			if _, err := io.ReadFull(server, size[:]); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(server, make([]byte, binary.BigEndian.Uint32(size[:]))); err != nil {
				t.Fatal(err)
			}
		}

		resp := kmsg.NewPtrProduceResponse()
		resp.Version = version
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = "t"
		ok := kmsg.NewProduceResponseTopicPartition()
		ok.Partition, ok.BaseOffset = 1, 40
		bad := kmsg.NewProduceResponseTopicPartition()
		bad.Partition, bad.BaseOffset, bad.ErrorCode = 0, -1, 6
		rt.Partitions = append(rt.Partitions, ok, bad)
		resp.Topics = append(resp.Topics, rt)
		out := responseFrame(resp, 7)
		// A Metadata answer first, with a correlation id never asked as Produce.
		out = append(responseFrame(kmsg.NewPtrMetadataResponse(), 6), out...)
		go func() { _, _ = server.Write(out) }()
		buf := make([]byte, 5)
		for read := 0; read < len(out); {
			n, err := lc.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			read += n
		}
		client.Close()
		server.Close()

		got := l.acks[ledgerKey{"t", 1}]
		if len(got) != 1 || got[0] != (ledgerAck{base: 40, node: 2}) {
			t.Errorf("v%d: ledger of t/1 = %v, want one ack of base 40 by node 2", version, got)
		}
		if n := len(l.acks[ledgerKey{"t", 0}]); n != 0 {
			t.Errorf("v%d: the failed partition has %d acks", version, n)
		}
	}
}

func requestFrame(r kmsg.Request, version int16, corr int32) []byte {
	r.SetVersion(version)
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	if r.IsFlexible() {
		b = append(b, 0)
	}
	b = r.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func responseFrame(r kmsg.Response, corr int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if r.IsFlexible() {
		b = append(b, 0)
	}
	b = r.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestAckLedgerCheck covers the two violations and the retry that is let
// pass.
func TestAckLedgerCheck(t *testing.T) {
	rec := func(p int32, off int64, epoch int32, v string) *kgo.Record {
		return &kgo.Record{Topic: "t", Partition: p, Offset: off, LeaderEpoch: epoch, Value: []byte(v)}
	}
	setup := func(acks map[int32][]ledgerAck, read []*kgo.Record) (*AckLedger, *Checker) {
		l := &AckLedger{acks: map[ledgerKey][]ledgerAck{}}
		for p, as := range acks {
			l.acks[ledgerKey{"t", p}] = as
		}
		chk := NewChecker()
		for _, r := range read {
			chk.Attempt(r)
			chk.Done(r, nil)
		}
		return l, chk
	}
	read := []*kgo.Record{rec(0, 0, 0, "a"), rec(0, 1, 0, "b"), rec(0, 2, 0, "c"), rec(0, 3, 1, "d")}

	// Epoch 0 by node 1, epoch 1 by node 2: fine.
	l, chk := setup(map[int32][]ledgerAck{0: {{0, 1}, {2, 1}, {3, 2}}}, read)
	if v := l.Check("t", read, chk); len(v) != 0 {
		t.Errorf("one node per epoch: got violations %v", v)
	}
	// Node 2 answers epoch 0's last batch (a retry it deduplicated).
	l, chk = setup(map[int32][]ledgerAck{0: {{0, 1}, {2, 2}, {3, 2}}}, read)
	if v := l.Check("t", read, chk); len(v) != 0 || len(l.Excused()) != 1 {
		t.Errorf("retry answered by the next leader: violations %v, excused %v", v, l.Excused())
	}
	// Node 2 acknowledged the first batch of epoch 0, node 1 the next.
	l, chk = setup(map[int32][]ledgerAck{0: {{0, 2}, {2, 1}, {3, 2}}}, read)
	if v := l.Check("t", read, chk); len(v) != 1 || !strings.Contains(v[0], "leader epoch 0") {
		t.Errorf("two nodes in epoch 0: violations %v", v)
	}
	// One base offset acknowledged by two nodes.
	l, chk = setup(map[int32][]ledgerAck{0: {{0, 1}, {2, 1}, {2, 3}, {3, 2}}}, read)
	if v := l.Check("t", read, chk); len(v) == 0 || !strings.Contains(strings.Join(v, "\n"), "offset 2 acknowledged 2 times") {
		t.Errorf("offset acknowledged twice: violations %v", v)
	}
}
