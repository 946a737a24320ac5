package handler

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/metrics"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
)

// Produce v3-13.
//
// v0-2 (message formats 0 and 1) were removed in Kafka 4.0 and are not
// served. Each partition must carry exactly one magic-2 batch. It is
// validated, without decompressing, by partition.Append (header, CRC-32C,
// record count, codec frame, size against max.message.bytes, keys of
// compacted topics, the idempotent producer's sequence and epoch; see
// internal/partition/validate.go); this handler only maps the outcome to
// Kafka's answer. A retried batch gets its original offsets. acks=0 gets
// no response; acks=1 and acks=all are answered once the batch is below
// the high watermark, which under the default flush.messages=1 means
// fdatasync'ed.
// v13 names topics by id. Transactions are not supported yet: a
// transactional batch is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// like a broker where the id has no rights.

func init() { register(kmsg.Produce, 3, 13, serveProduce) }

// produceWait is one partition awaiting its high watermark.
type produceWait struct {
	p        *partition.Partition
	last     ids.Offset
	topicIdx int
	partIdx  int
	minISR   int32 // acks=all: min.insync.replicas; 0 for acks=1
}

func serveProduce(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	im := e.Ctrl.Image()
	validAcks := req.Acks == 0 || req.Acks == 1 || req.Acks == -1

	var waits []produceWait
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *metadata.Topic
		if req.Version >= 13 {
			t = im.TopicsByID[metadata.TopicID(rt.TopicID)]
		} else {
			t = im.Topics[rt.Topic]
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogStartOffset, sp.LogAppendTime = -1, -1, -1
			switch {
			case !validAcks:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !e.Ctrl.Fresh():
				// Cut off from the metadata quorum: the cluster has moved
				// leadership elsewhere by now; send the client there.
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				p := e.Partitions.Get(t.Name, rp.Partition)
				if p == nil {
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
					break
				}
				if req.Acks == -1 && int32(len(t.Partitions[rp.Partition].ISR)) < p.Config().MinInsyncReplicas {
					sp.ErrorCode = kerr.NotEnoughReplicas.Code
					break
				}
				res, err := p.Append(rp.Records, partition.FromClient)
				if err != nil {
					sp.ErrorCode = e.errCode(err)
					// Kafka reports the log start for errors found against
					// the log (sequence, epoch, record count), -1 for
					// batches refused before that.
					if errors.Is(err, record.ErrInvalidRecord) || errors.Is(err, record.ErrBadCompression) || errors.Is(err, partition.ErrOutOfOrderSequence) || errors.Is(err, partition.ErrInvalidProducerEpoch) {
						sp.LogStartOffset = int64(p.LogStartOffset())
					}
					if sp.ErrorCode == kerr.KafkaStorageError.Code {
						e.Logger.Error("produce append failed", "topic", t.Name, "partition", rp.Partition, "err", err)
					} else {
						e.Logger.Debug("produce refused", "topic", t.Name, "partition", rp.Partition, "err", err)
					}
					if req.Version >= 8 {
						sp.ErrorMessage = errMsg(err)
					}
					break
				}
				sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = int64(res.BaseOffset), res.LogAppendTime, int64(res.LogStartOffset)
				if !res.Duplicate {
					metrics.TopicBytesIn.WithLabelValues(t.Name).Add(float64(len(rp.Records)))
					metrics.TopicRecordsIn.WithLabelValues(t.Name).Add(float64(res.LastOffset - res.BaseOffset + 1))
				}
				if req.Acks != 0 && p.HighWatermark() <= res.LastOffset {
					w := produceWait{p: p, last: res.LastOffset, topicIdx: ti, partIdx: len(st.Partitions)}
					if req.Acks == -1 {
						w.minISR = max(p.Config().MinInsyncReplicas, 1)
					}
					waits = append(waits, w)
				}
			}
			if sp.ErrorCode == kerr.NotLeaderForPartition.Code && req.Version >= 10 && t != nil && e.Ctrl.Fresh() {
				leaderHint(resp, &sp, im, t.Partitions[rp.Partition])
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		return Result{NoResponse: true}
	}
	if len(waits) == 0 {
		return Now(resp)
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	return Result{Deferred: func() kmsg.Response {
		ctx, cancel := context.WithTimeout(r.Ctx, timeout)
		defer cancel()
		metrics.ProduceWaiting.Inc()
		defer metrics.ProduceWaiting.Dec()
		for _, w := range waits {
			// Replication: acks=1 waits for this node's disk only, acks=all
			// for the high watermark (every in-sync replica's disk), and is
			// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
			// min.insync.replicas meanwhile, as in Kafka.
			var err error
			if w.minISR == 0 {
				err = w.p.WaitDurable(ctx, w.last)
			} else {
				err = w.p.WaitVisible(ctx, w.last)
			}
			sp := &resp.Topics[w.topicIdx].Partitions[w.partIdx]
			shrunk := false
			if w.minISR > 0 {
				isr := w.p.ISR()
				shrunk = isr != nil && int32(len(isr)) < w.minISR
			}
			switch {
			case err == nil && !shrunk:
				continue
			case err == nil || errors.Is(err, context.DeadlineExceeded) && shrunk:
				sp.ErrorCode = kerr.NotEnoughReplicasAfterAppend.Code
			case errors.Is(err, context.DeadlineExceeded):
				// The acks wait ran out (the table answers other
				// timeouts KAFKA_STORAGE_ERROR).
				sp.ErrorCode = kerr.RequestTimedOut.Code
			default:
				sp.ErrorCode = e.errCode(err)
			}
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
		}
		return resp
	}}
}

// leaderHint names the current leader in a NOT_LEADER_OR_FOLLOWER answer
// (KIP-951, v10+), so the client can go there without a metadata round
// trip, as Kafka does.
func leaderHint(resp *kmsg.ProduceResponse, sp *kmsg.ProduceResponseTopicPartition, im *metadata.Image, pm metadata.Partition) {
	b, ok := im.LiveBroker(pm.Leader)
	if !ok {
		return
	}
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = int32(pm.Leader), int32(pm.LeaderEpoch)
	for _, have := range resp.Brokers {
		if have.NodeID == int32(b.ID) {
			return
		}
	}
	rb := kmsg.NewProduceResponseBroker()
	rb.NodeID, rb.Host, rb.Port, rb.Rack = int32(b.ID), b.Host, b.Port, b.Rack
	resp.Brokers = append(resp.Brokers, rb)
}
