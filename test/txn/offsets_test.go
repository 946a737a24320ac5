package txn_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

func txnOffsetCommit(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, group, topic string, part int32, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = id, group, pid, epoch, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = part, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxFor(t), cl)
	if err != nil {
		t.Fatalf("TxnOffsetCommit: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// fetchOffset is OffsetFetch v8 of one partition: its offset and error.
func fetchOffset(t *testing.T, cl *kgo.Client, group, topic string, part int32, requireStable bool) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.RequireStable = requireStable
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{part}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(ctxFor(t), cl)
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return -1, g.ErrorCode
	}
	p := g.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// TestTxnOffsetCommitPending: offsets a transaction commits are not the
// group's until the transaction commits; OffsetFetch with RequireStable
// answers UNSTABLE_OFFSET_COMMIT meanwhile (KIP-447).
func TestTxnOffsetCommitPending(t *testing.T) {
	b := startBroker(t)
	cl := testkit.NewClient(t, b.Addr())
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	p := initPID(t, cl, "offsets", 60000, 4)
	if p.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if code := addOffsets(t, cl, "offsets", p.ProducerID, p.ProducerEpoch, "eos-group").ErrorCode; code != 0 {
		t.Fatalf("AddOffsetsToTxn: %v", kerr.ErrorForCode(code))
	}
	// Two commits in one transaction: the second batch continues the
	// producer's sequence on __consumer_offsets.
	for _, off := range []int64{5, 9} {
		if code := txnOffsetCommit(t, cl, "offsets", p.ProducerID, p.ProducerEpoch, "eos-group", topic, 0, off); code != 0 {
			t.Fatalf("TxnOffsetCommit %d: %v", off, kerr.ErrorForCode(code))
		}
	}
	if off, code := fetchOffset(t, cl, "eos-group", topic, 0, false); code != 0 || off != -1 {
		t.Fatalf("OffsetFetch during the transaction: offset %d, %v", off, kerr.ErrorForCode(code))
	}
	if off, code := fetchOffset(t, cl, "eos-group", topic, 0, true); code != kerr.UnstableOffsetCommit.Code || off != -1 {
		t.Fatalf("OffsetFetch RequireStable during the transaction: offset %d, %v", off, kerr.ErrorForCode(code))
	}
	if code := txnOffsetCommit(t, cl, "offsets", p.ProducerID, p.ProducerEpoch, "eos-group", "no-such-topic", 0, 1); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("TxnOffsetCommit of an unknown topic: %v", kerr.ErrorForCode(code))
	}
}

// TestTxnOffsetCommitVisibleOnCommit: after EndTxn(commit) the offsets are
// the group's and stable. Needs the data plane (the WriteTxnMarkers
// handler hands __consumer_offsets markers to the group coordinator).
func TestTxnOffsetCommitVisibleOnCommit(t *testing.T) {
	needDataPlane(t)
	b := startBroker(t)
	cl := testkit.NewClient(t, b.Addr())
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	for _, tc := range []struct {
		commit bool
		offset int64
		want   int64
	}{{true, 5, 5}, {false, 9, 5}} {
		p := initPID(t, cl, "offsets-visible", 60000, 4)
		if p.ErrorCode != 0 {
			t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		if code := addOffsets(t, cl, "offsets-visible", p.ProducerID, p.ProducerEpoch, "eos-visible").ErrorCode; code != 0 {
			t.Fatalf("AddOffsetsToTxn: %v", kerr.ErrorForCode(code))
		}
		if code := txnOffsetCommit(t, cl, "offsets-visible", p.ProducerID, p.ProducerEpoch, "eos-visible", topic, 0, tc.offset); code != 0 {
			t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
		}
		if code := endTxn(t, cl, "offsets-visible", p.ProducerID, p.ProducerEpoch, tc.commit).ErrorCode; code != 0 {
			t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			off, code := fetchOffset(t, cl, "eos-visible", topic, 0, true)
			if code == 0 && off == tc.want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("commit %v: OffsetFetch RequireStable: offset %d, %v; want %d", tc.commit, off, kerr.ErrorForCode(code), tc.want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The group coordinator replays the transactional batches and their
	// markers: the committed offset, nothing pending.
	b.Restart(t)
	cl2 := testkit.NewClient(t, b.Addr())
	deadline := time.Now().Add(10 * time.Second)
	for {
		off, code := fetchOffset(t, cl2, "eos-visible", topic, 0, true)
		if code == 0 && off == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: OffsetFetch RequireStable: offset %d, %v; want 5", off, kerr.ErrorForCode(code))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
