package txn_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestPipelinedTransactionalProduce sends a transaction's first batches
// to one partition as pipelined Produce requests on one connection (as
// franz-go and the Java client do, up to 5 in flight), without waiting
// for answers. The first needs the coordinator's KIP-890 verification
// before its append; the ones behind it must still be appended in the
// order sent: franz-go's TestTxnEtl got OUT_OF_ORDER_SEQUENCE_NUMBER when
// a later batch overtook a verifying one.
func TestPipelinedTransactionalProduce(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := versionedClient(t, b.Addr(), 3)
	const id, batches, per = "pipelined", 8, 10
	for txn := range 3 {
		p := initPID(t, cl, id, 60000, 4)
		if c := partitionCodes(addPartitions(t, cl, id, p.ProducerID, p.ProducerEpoch, topic, 0)); c[0] != 0 {
			t.Fatalf("AddPartitionsToTxn: %v", c)
		}
		conn, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipeline"))
		var wire []byte
		for i := range batches {
			recs := make([]record.Record, per)
			for j := range recs {
				recs[j] = record.Record{Value: fmt.Appendf(nil, "%d-%d", i, j)}
			}
			batch, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: time.Now().UnixMilli(),
				ProducerID: p.ProducerID, ProducerEpoch: p.ProducerEpoch, BaseSequence: int32(i * per), Transactional: true}, recs)
			if err != nil {
				t.Fatal(err)
			}
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 11, -1, 30000
			tid := id
			req.TransactionID = &tid
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = batch
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			// AppendRequest frames from the start of its slice.
			wire = append(wire, f.AppendRequest(nil, req, int32(i))...)
		}
		if _, err := conn.Write(wire); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		for i := range batches {
			var size [4]byte
			if _, err := io.ReadFull(conn, size[:]); err != nil {
				t.Fatalf("transaction %d, answer %d: %v", txn, i, err)
			}
			body := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(conn, body); err != nil {
				t.Fatal(err)
			}
			// Correlation id, then the flexible header's empty tag section.
			if corr := int32(binary.BigEndian.Uint32(body)); corr != int32(i) {
				t.Fatalf("answer %d has correlation id %d", i, corr)
			}
			resp := kmsg.NewPtrProduceResponse()
			resp.Version = 11
			if err := resp.ReadFrom(body[5:]); err != nil {
				t.Fatal(err)
			}
			sp := resp.Topics[0].Partitions[0]
			if sp.ErrorCode != 0 {
				t.Fatalf("transaction %d, batch %d: %v", txn, i, kerr.ErrorForCode(sp.ErrorCode))
			}
		}
		conn.Close()
		if code := endTxn(t, cl, id, p.ProducerID, p.ProducerEpoch, true).ErrorCode; code != 0 {
			t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
		}
		waitState(t, cl, id, func(d kadm.DescribedTransaction) bool { return d.State == "CompleteCommit" })
	}
}
