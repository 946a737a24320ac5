package faults_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/testkit"
)

// produceN produces n records to partition 0 of topic, one batch each,
// and returns them as acknowledged.
func produceN(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := testkit.NewClient(t, addr, testkit.ManualPartitioner(), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	var out []*kgo.Record
	for i := range n {
		r := &kgo.Record{Topic: topic, Value: randomValue(i, 100)}
		testkit.ProduceSync(t, cl, []*kgo.Record{r})
		out = append(out, r)
	}
	return out
}

// partitionErrors asks the broker directly (no client retries) for the
// error codes of a Produce and a Fetch on partition 0 of topic.
func partitionErrors(t *testing.T, addr, topic string) (produce, fetch int16) {
	t.Helper()
	cl := testkit.NewClient(t, addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The client picks the request versions: name the topic both ways.
	topics, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || topics[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, topics[topic].Err)
	}
	id := topics[topic].ID
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic, pt.TopicID = topic, id
	pp := kmsg.NewProduceRequestTopicPartition()
	batch, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []record.Record{{Value: []byte("refused")}})
	if err != nil {
		t.Fatal(err)
	}
	pp.Records = batch
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	presp, err := preq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	produce = presp.Topics[0].Partitions[0].ErrorCode

	freq := kmsg.NewPtrFetchRequest()
	freq.ReplicaID, freq.MaxWaitMillis, freq.MaxBytes = -1, 100, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp, err := freq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return produce, fresp.Topics[0].Partitions[0].ErrorCode
}

// A standalone broker restarted on a log damaged below its high watermark
// (a batch of a cleanly closed segment no longer reads) starts anyway: the
// damaged partition is offline — Produce and Fetch answer
// KAFKA_STORAGE_ERROR, the log says which file, position and why — and
// every other partition serves. It stays so until the operator acts as
// docs/operations.md says (cut the segment at the position logged and
// restart); then it serves everything below the damage unaltered.
func TestDamagedPartitionOfflineStandalone(t *testing.T) {
	b := testkit.StartProcess(t, testkit.ProcessOptions{})
	damaged, healthy := testkit.TopicName(t, "damaged"), testkit.TopicName(t, "healthy")
	testkit.CreateTopic(t, b.Addr(), damaged, 1, nil)
	testkit.CreateTopic(t, b.Addr(), healthy, 1, nil)
	const n = 10
	ackedDamaged := produceN(t, b.Addr(), damaged, n)
	ackedHealthy := produceN(t, b.Addr(), healthy, n)
	b.Stop(t)

	// Break the length of the last batch of the damaged partition's log.
	file := filepath.Join(b.DataDir(), damaged+"-0", "00000000000000000000.log")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	pos := fi.Size() / n * (n - 1)
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x7f, 0xff, 0xff, 0xff}, pos+8); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b.Restart(t)
	logs := b.Logs()
	for _, want := range []string{"partition offline", file, "position " + strconv.FormatInt(pos, 10)} {
		if !strings.Contains(logs, want) {
			t.Errorf("the broker log lacks %q", want)
		}
	}
	produce, fetch := partitionErrors(t, b.Addr(), damaged)
	if produce != kerr.KafkaStorageError.Code || fetch != kerr.KafkaStorageError.Code {
		t.Fatalf("damaged partition: produce %v, fetch %v; want KAFKA_STORAGE_ERROR for both", kerr.ErrorForCode(produce), kerr.ErrorForCode(fetch))
	}
	ackedHealthy = append(ackedHealthy, produceN(t, b.Addr(), healthy, 1)...)
	checkReadBack(t, b.Addr(), healthy, ackedHealthy)

	// The operator's action: stop, cut the segment where the log said, start.
	b.Stop(t)
	if err := os.Truncate(file, pos); err != nil {
		t.Fatal(err)
	}
	b.Restart(t)
	checkReadBack(t, b.Addr(), damaged, ackedDamaged[:n-1])
	more := produceN(t, b.Addr(), damaged, 1)
	if more[0].Offset != n-1 {
		t.Fatalf("first produce after the repair at offset %d, want %d", more[0].Offset, n-1)
	}
}
