package handler

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
)

// WriteTxnMarkers v1 (the only version Kafka 4.1 serves).
//
// The transaction coordinator's request to a partition leader: end a
// producer's transaction on each named partition with a COMMIT or ABORT
// control batch (partition.AppendMarker). Served on every listener, as
// Kafka does (kafka-transactions.sh abort sends it from outside);
// CLUSTER_ACTION authorization comes with ACLs. Each marker is written as
// with acks=all: the answer waits until it is below the high watermark,
// so committed on every in-sync replica, and a partition whose ISR is
// below min.insync.replicas is NOT_ENOUGH_REPLICAS. Per partition, as
// Kafka answers: UNKNOWN_TOPIC_OR_PARTITION when this node does not host
// it, NOT_LEADER_OR_FOLLOWER when it does not lead it,
// INVALID_PRODUCER_EPOCH for a marker of an older producer epoch than the
// partition saw, TRANSACTION_COORDINATOR_FENCED for an older coordinator
// epoch, REQUEST_TIMED_OUT when replication does not finish in
// request.timeout.ms.
//
// A marker written to a __consumer_offsets partition then completes the
// producer's pending transactional offset commits there
// (Env.CompleteTxnOffsets, as Kafka calls the group coordinator), and that
// partition's answer is the outcome.

func init() { register(kmsg.WriteTxnMarkers, 1, 1, serveWriteTxnMarkers) }

// markerTimeout bounds the wait for a marker's replication: Kafka's
// request.timeout.ms default, which it uses for these appends.
const markerTimeout = 30 * time.Second

type markerWait struct {
	p                 *partition.Partition
	last              ids.Offset
	marker, top, part int
	offsets           bool // a __consumer_offsets partition
}

func serveWriteTxnMarkers(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	im := e.Ctrl.Image()
	var waits []markerWait
	for mi, m := range req.Markers {
		sm := kmsg.NewWriteTxnMarkersResponseMarker()
		sm.ProducerID = m.ProducerID
		typ := record.ControlAbort
		if m.Committed {
			typ = record.ControlCommit
		}
		for ti, rt := range m.Topics {
			st := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			st.Topic = rt.Topic
			t := im.Topics[rt.Topic]
			for _, idx := range rt.Partitions {
				sp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				sp.Partition = idx
				p := e.Partitions.Get(rt.Topic, idx)
				switch {
				case t == nil || idx < 0 || int(idx) >= len(t.Partitions) || p == nil:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case !p.IsLeader() || !e.Ctrl.Fresh():
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
				case int32(len(t.Partitions[idx].ISR)) < p.Config().MinInsyncReplicas:
					sp.ErrorCode = kerr.NotEnoughReplicas.Code
				default:
					res, err := p.AppendMarker(m.ProducerID, m.ProducerEpoch, record.Marker{Type: typ, CoordinatorEpoch: m.CoordinatorEpoch})
					if err != nil {
						sp.ErrorCode = e.errCode(err)
						e.Logger.Debug("transaction marker refused", "topic", rt.Topic, "partition", idx,
							"producer_id", m.ProducerID, "epoch", m.ProducerEpoch, "err", err)
						break
					}
					offsets := rt.Topic == group.OffsetsTopic && e.CompleteTxnOffsets != nil
					if p.HighWatermark() <= res.LastOffset || offsets {
						waits = append(waits, markerWait{p: p, last: res.LastOffset, marker: mi, top: ti, part: len(st.Partitions), offsets: offsets})
					}
				}
				st.Partitions = append(st.Partitions, sp)
			}
			sm.Topics = append(sm.Topics, st)
		}
		resp.Markers = append(resp.Markers, sm)
	}
	if len(waits) == 0 {
		return Now(resp)
	}
	return Result{Deferred: func() kmsg.Response {
		ctx, cancel := context.WithTimeout(r.Ctx, markerTimeout)
		defer cancel()
		for _, w := range waits {
			err := w.p.WaitVisible(ctx, w.last)
			if err == nil && w.offsets {
				m := req.Markers[w.marker]
				err = e.CompleteTxnOffsets(ctx, w.p.Index, m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed)
			}
			if err == nil {
				continue
			}
			sp := &resp.Markers[w.marker].Topics[w.top].Partitions[w.part]
			if errors.Is(err, context.DeadlineExceeded) {
				sp.ErrorCode = kerr.RequestTimedOut.Code
			} else {
				sp.ErrorCode = e.errCode(err)
			}
		}
		return resp
	}}
}
