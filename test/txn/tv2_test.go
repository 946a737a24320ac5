package txn_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/testkit"
)

// Transactions v2 (KIP-890 part 2) at the protocol level: the feature in
// ApiVersions, and the implicit AddPartitions of Produce v12+ and
// TxnOffsetCommit v5+ next to the behaviour older versions keep.

// capped is a client sending key at most at version v.
func capped(t *testing.T, addr string, caps map[kmsg.Key]int16) *kgo.Client {
	vs := kversion.Stable()
	for k, v := range caps {
		vs.SetMaxKeyVersion(int16(k), v)
	}
	return testkit.NewClient(t, addr, kgo.MaxVersions(vs))
}

// txnProduce sends one transactional batch of one record to topic's
// partition part at the highest Produce version cl allows; it returns the
// partition's error code and the version sent.
func txnProduce(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, seq int32, topic string, part int32, value string) (int16, int16) {
	t.Helper()
	batch, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Transactional: true}, []record.Record{{Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 30000
	req.TransactionID = &id
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = part, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxFor(t), cl)
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode, resp.Version
}

// describeTxn describes one transactional id.
func describeTxn(t *testing.T, cl *kgo.Client, id string) kadm.DescribedTransaction {
	t.Helper()
	ds, err := kadm.NewClient(cl).DescribeTransactions(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := ds[id]
	if !ok || d.Err != nil {
		t.Fatalf("DescribeTransactions %s: %+v", id, d)
	}
	return d
}

// txnHolds reports whether d's transaction holds topic's partition part.
func txnHolds(d kadm.DescribedTransaction, topic string, part int32) bool {
	_, ok := d.Topics[topic][part]
	return ok
}

// TestApiVersionsTransactionVersion: ApiVersions v3+ offers transactions
// v2 as a Kafka 4.1 KRaft cluster does: `transaction.version` supported
// 0-2 and finalized at 2, with a finalized features epoch; Produce up to
// v12+ and TxnOffsetCommit up to v5, which clients need besides the
// feature.
func TestApiVersionsTransactionVersion(t *testing.T) {
	b := startBroker(t)
	for _, v := range []int16{3, 4} {
		cl := capped(t, b.Addr(), map[kmsg.Key]int16{kmsg.ApiVersions: v})
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "strom-test", "1"
		resp, err := req.RequestWith(ctxFor(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		sup := slices.IndexFunc(resp.SupportedFeatures, func(f kmsg.ApiVersionsResponseSupportedFeature) bool {
			return f.Name == "transaction.version"
		})
		fin := slices.IndexFunc(resp.FinalizedFeatures, func(f kmsg.ApiVersionsResponseFinalizedFeature) bool {
			return f.Name == "transaction.version"
		})
		switch {
		case v < 4 && sup >= 0:
			// KIP-1022: a supported minimum of 0 is not shown to v3 clients.
			t.Fatalf("v3 supported features %+v, want no transaction.version (its minimum is 0)", resp.SupportedFeatures)
		case v >= 4 && (sup < 0 || resp.SupportedFeatures[sup].MinVersion != 0 || resp.SupportedFeatures[sup].MaxVersion != 2):
			t.Fatalf("v%d supported features %+v, want transaction.version 0-2", v, resp.SupportedFeatures)
		}
		if fin < 0 || resp.FinalizedFeatures[fin].MinVersionLevel != 2 || resp.FinalizedFeatures[fin].MaxVersionLevel != 2 {
			t.Fatalf("v%d finalized features %+v, want transaction.version at 2", v, resp.FinalizedFeatures)
		}
		if resp.FinalizedFeaturesEpoch < 0 {
			t.Fatalf("v%d finalized features epoch %d", v, resp.FinalizedFeaturesEpoch)
		}
		for _, k := range resp.ApiKeys {
			switch {
			case k.ApiKey == kmsg.Produce.Int16() && k.MaxVersion < 12,
				k.ApiKey == kmsg.TxnOffsetCommit.Int16() && k.MaxVersion < 5,
				k.ApiKey == kmsg.EndTxn.Int16() && k.MaxVersion < 5:
				t.Fatalf("v%d: %s up to v%d only", v, kmsg.NameForKey(k.ApiKey), k.MaxVersion)
			}
		}
	}
}

// TestProduceV12AddsPartition: a transactional Produce v12 to a partition
// no AddPartitionsToTxn named is appended, and the partition is in the
// transaction (the leader added it through the coordinator, KIP-890 part
// 2); the commit (EndTxn v5, epoch bumped) makes it visible. A Produce
// v11 to a partition not added keeps KIP-890 part 1's answer,
// TRANSACTION_ABORTABLE, and nothing is added.
func TestProduceV12AddsPartition(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 2, nil)
	v11 := capped(t, b.Addr(), map[kmsg.Key]int16{kmsg.Produce: 11})
	cl := capped(t, b.Addr(), map[kmsg.Key]int16{kmsg.Produce: 12}) // v13 names topics by id
	const id = "tv2-produce"
	p := initPID(t, cl, id, 60000, 5)
	if p.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	code, version := txnProduce(t, cl, id, p.ProducerID, p.ProducerEpoch, 0, topic, 0, "v12")
	if version < 12 || code != 0 {
		t.Fatalf("Produce v%d to a partition not added: %v, want success", version, kerr.ErrorForCode(code))
	}
	d := describeTxn(t, cl, id)
	if d.State != "Ongoing" || !txnHolds(d, topic, 0) {
		t.Fatalf("after the v12 produce: %s %v, want Ongoing with %s-0", d.State, d.Topics, topic)
	}

	code, version = txnProduce(t, v11, id, p.ProducerID, p.ProducerEpoch, 0, topic, 1, "v11")
	if version != 11 || code != kerr.TransactionAbortable.Code {
		t.Fatalf("Produce v%d to a partition not added: %v, want TRANSACTION_ABORTABLE", version, kerr.ErrorForCode(code))
	}
	if d := describeTxn(t, cl, id); txnHolds(d, topic, 1) {
		t.Fatalf("the v11 produce added %s-1: %v", topic, d.Topics)
	}

	end := endTxn(t, cl, id, p.ProducerID, p.ProducerEpoch, true)
	if end.ErrorCode != 0 || end.ProducerEpoch != p.ProducerEpoch+1 {
		t.Fatalf("EndTxn v%d: %v, epoch %d (was %d)", end.Version, kerr.ErrorForCode(end.ErrorCode), end.ProducerEpoch, p.ProducerEpoch)
	}
	if got := readCommitted(t, b.Addr(), topic, 1); len(got) != 1 || got[0] != "v12" {
		t.Fatalf("read_committed saw %q", got)
	}

	// The next transaction, at the bumped epoch, adds the partition
	// again once the commit's markers are written.
	code, _ = txnProduce(t, cl, id, end.ProducerID, end.ProducerEpoch, 0, topic, 0, "next")
	if code != 0 {
		t.Fatalf("Produce v12 in the next transaction: %v", kerr.ErrorForCode(code))
	}
	if d := describeTxn(t, cl, id); d.State != "Ongoing" || !txnHolds(d, topic, 0) || d.ProducerEpoch != end.ProducerEpoch {
		t.Fatalf("next transaction: %+v", d)
	}
}

// TestTxnOffsetCommitAddsOrVerifies: the group coordinator checks a
// transactional offset commit with the transaction coordinator (KIP-890,
// as Kafka's group coordinator): v5 adds the group's __consumer_offsets
// partition to the transaction itself; v4 without AddOffsetsToTxn is
// TRANSACTION_ABORTABLE and v3 INVALID_TXN_STATE, and nothing is pending.
func TestTxnOffsetCommitAddsOrVerifies(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := testkit.NewClient(t, b.Addr())
	const grp = "tv2-offsets"
	offsetsPart := group.PartitionFor(grp, 3)

	for _, tc := range []struct {
		version int16
		want    *kerr.Error
	}{{3, kerr.InvalidTxnState}, {4, kerr.TransactionAbortable}} {
		id := "tv2-offsets-old-" + string(rune('0'+tc.version))
		p := initPID(t, cl, id, 60000, 5)
		old := capped(t, b.Addr(), map[kmsg.Key]int16{kmsg.TxnOffsetCommit: tc.version})
		if code := txnOffsetCommit(t, old, id, p.ProducerID, p.ProducerEpoch, grp, topic, 0, 7); code != tc.want.Code {
			t.Fatalf("TxnOffsetCommit v%d without AddOffsetsToTxn: %v, want %v", tc.version, kerr.ErrorForCode(code), tc.want)
		}
		if _, code := fetchOffset(t, cl, grp, topic, 0, true); code != 0 {
			t.Fatalf("after the refused v%d commit: %v, want nothing pending", tc.version, kerr.ErrorForCode(code))
		}
	}

	const id = "tv2-offsets"
	p := initPID(t, cl, id, 60000, 5)
	if code := txnOffsetCommit(t, cl, id, p.ProducerID, p.ProducerEpoch, grp, topic, 0, 11); code != 0 {
		t.Fatalf("TxnOffsetCommit v5 without AddOffsetsToTxn: %v", kerr.ErrorForCode(code))
	}
	if d := describeTxn(t, cl, id); d.State != "Ongoing" || !txnHolds(d, "__consumer_offsets", offsetsPart) {
		t.Fatalf("after the v5 commit: %s %v, want Ongoing with __consumer_offsets-%d", d.State, d.Topics, offsetsPart)
	}
	if end := endTxn(t, cl, id, p.ProducerID, p.ProducerEpoch, true); end.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(end.ErrorCode))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		off, code := fetchOffset(t, cl, grp, topic, 0, true)
		if code == 0 && off == 11 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after the commit: offset %d, %v; want 11", off, kerr.ErrorForCode(code))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
