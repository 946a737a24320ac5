package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
)

// ListOffsets v1-10.
//
// v0 (old-style offset arrays) was removed in Kafka 4.0. Special
// timestamps: -1 latest (the high watermark; read_committed: the last
// stable offset), -2 earliest, -3 the record with the largest timestamp
// (v7+, KIP-734), -4 earliest local (v8+; the log start without tiered
// storage), -5 latest tiered (v9+; none without tiered storage: -1).
// Other timestamps (and -3) find the first record at or after it below the
// high watermark (read_committed: the last stable offset), or -1 when
// there is none.

func init() { register(kmsg.ListOffsets, 1, 10, serveListOffsets) }

func serveListOffsets(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	im := e.Ctrl.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := im.Topics[rt.Topic]
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			switch {
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				sp.ErrorCode = e.listOffset(&sp, req, t.Name, rp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}

func (e *Env) listOffset(sp *kmsg.ListOffsetsResponseTopicPartition, req *kmsg.ListOffsetsRequest, topic string, rp kmsg.ListOffsetsRequestTopicPartition) int16 {
	p := e.Partitions.Get(topic, rp.Partition)
	if (p == nil && e.Partitions.Offline(topic, rp.Partition) != nil) || (p != nil && p.Offline() != nil) {
		return kerr.KafkaStorageError.Code
	}
	if p == nil || !p.IsLeader() || !e.Ctrl.Fresh() {
		return kerr.NotLeaderForPartition.Code
	}
	epoch := p.LeaderEpoch()
	if code := checkLeaderEpoch(ids.LeaderEpoch(rp.CurrentLeaderEpoch), epoch); code != 0 {
		return code
	}
	sp.LeaderEpoch = int32(epoch)
	// What the asking consumer may read: read_committed stops at the last
	// stable offset, for latest and for timestamp lookups alike (Kafka's
	// lastFetchableOffset).
	visible := p.HighWatermark()
	if req.IsolationLevel == 1 {
		visible = p.LastStableOffset()
	}
	switch ts := rp.Timestamp; {
	case ts == -1:
		sp.Offset = int64(visible)
	case ts == -2, ts == -4:
		sp.Offset = int64(p.LogStartOffset())
	case ts == -3:
		mts, off := p.MaxTimestamp()
		if off >= 0 && off < visible {
			sp.Timestamp, sp.Offset = mts, int64(off)
		} else {
			sp.LeaderEpoch = -1
		}
	case ts == -5:
		// No tiered storage: nothing has been uploaded.
		sp.LeaderEpoch = -1
	case ts < 0:
		// -6 (KIP-1023, tiered storage) and beyond are specs of
		// versions Strom does not serve.
		sp.LeaderEpoch = -1
		return kerr.UnsupportedVersion.Code
	default:
		off, found, foundOK, err := p.OffsetForTimestamp(ts)
		if err != nil {
			e.Logger.Error("offset for timestamp", "topic", topic, "partition", rp.Partition, "err", err)
			return kerr.KafkaStorageError.Code
		}
		if foundOK && off < visible {
			sp.Offset, sp.Timestamp = int64(off), found
		} else {
			sp.LeaderEpoch = -1
		}
	}
	return 0
}
