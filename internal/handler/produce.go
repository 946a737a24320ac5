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
// v13 names topics by id. Internal topics take no client's records
// (INVALID_TOPIC_EXCEPTION; metadata.CheckClientOp). Transactional batches
// need the request's transactional id (none:
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED for the whole request, as Kafka
// answers before authorizing it); the first one of a transaction on a
// partition is verified with the transaction coordinator when the broker
// has a TxnVerifier (KIP-890 part 1, txn_verify.go), and the partition
// checks the producer's transaction state (INVALID_TXN_STATE for a plain
// batch inside a transaction or an unverified write after its transaction
// ended). v12+ (transactions v2, KIP-890 part 2): the first write of a
// transaction to a partition adds the partition to the transaction through
// the coordinator instead of being verified (with
// transaction_partition_verification_enable off too); older versions keep
// the behaviour of before, chosen per request as Kafka does.

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
	// Transactional records need a transactional id (which ACLs will
	// authorize): without one Kafka refuses the whole request.
	hasTxn, mixedTxn := transactionalProducers(req)
	noTxnID := req.TransactionID == nil && hasTxn
	verifier := e.TxnVerifier
	if req.TransactionID == nil || noTxnID || req.Version < firstAddPartitionProduce && !e.Cfg.TransactionPartitionVerification {
		verifier = nil
	}

	var waits []produceWait
	var verify []produceVerify
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
		var refused error
		if t != nil {
			refused = metadata.CheckClientOp(t.Name, metadata.OpProduce, r.ClientID, nil)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogStartOffset, sp.LogAppendTime = -1, -1, -1
			switch {
			case noTxnID:
				sp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			case mixedTxn:
				// Kafka's ReplicaManager refuses the whole request.
				sp.ErrorCode = kerr.InvalidProducerIDMapping.Code
			case !validAcks:
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case refused != nil:
				// Kafka's ReplicaManager refuses before looking at the batch.
				sp.ErrorCode = e.errCode(refused)
				if req.Version >= 8 {
					sp.ErrorMessage = errMsg(refused)
				}
			case !e.Ctrl.Fresh():
				// Cut off from the metadata quorum: the cluster has moved
				// leadership elsewhere by now; send the client there.
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				p := e.Partitions.Get(t.Name, rp.Partition)
				if p == nil {
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
					if err := e.Partitions.Offline(t.Name, rp.Partition); err != nil {
						// As Kafka answers for a partition in an offline log directory.
						sp.ErrorCode = kerr.KafkaStorageError.Code
						if req.Version >= 8 {
							sp.ErrorMessage = errMsg(err)
						}
					}
					break
				}
				if req.Acks == -1 && int32(len(t.Partitions[rp.Partition].ISR)) < p.Config().MinInsyncReplicas {
					sp.ErrorCode = kerr.NotEnoughReplicas.Code
					break
				}
				w := produceWait{p: p, topicIdx: ti, partIdx: len(st.Partitions)}
				if verifier != nil && p.IsLeader() {
					// KIP-890: the first write of a transaction to this
					// partition waits for the coordinator's word. The
					// bytes are copied: the frame is reused once Serve
					// returns.
					// A write behind one still verifying (pipelined
					// requests of the same producer) waits for it, so
					// that it cannot overtake it (txnWriteOrder).
					if h, err := record.ParseHeader(rp.Records); err == nil && h.IsTransactional() && h.ProducerID >= 0 {
						k := txnWriteKey{p: p, pid: h.ProducerID}
						behind := e.txnOrder.busy(k)
						var g uint64
						if !behind {
							g = p.StartTxnVerification(h.ProducerID, h.ProducerEpoch)
						}
						if behind || g != 0 {
							prev, mine := e.txnOrder.queue(k)
							verify = append(verify, produceVerify{w: w, topic: t.Name, guard: g, pid: h.ProducerID,
								epoch: h.ProducerEpoch, batch: append([]byte(nil), rp.Records...), key: k, prev: prev, mine: mine})
							st.Partitions = append(st.Partitions, sp)
							continue
						}
					}
				}
				if last, ok := e.produceAppend(req, &sp, p, t.Name, rp.Records, 0); ok {
					waits = append(waits, w.waitFor(req, last))
				}
			}
			if sp.ErrorCode == kerr.NotLeaderForPartition.Code && req.Version >= 10 && t != nil && e.Ctrl.Fresh() {
				leaderHint(resp, &sp, im, t.Partitions[rp.Partition])
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 && len(verify) == 0 {
		return Result{NoResponse: true}
	}
	if len(waits) == 0 && len(verify) == 0 {
		return Now(resp)
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	// acks=0 with a verification: the append happens in the deferred
	// part, which then answers nothing (a nil response sends nothing).
	return Result{Deferred: func() kmsg.Response {
		ctx, cancel := context.WithTimeout(r.Ctx, timeout)
		defer cancel()
		if len(verify) > 0 {
			waits = append(waits, e.verifyAndAppend(ctx, req, resp, verify)...)
		}
		if req.Acks == 0 {
			return nil
		}
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

// produceAppend appends one partition's batch (guard: a KIP-890
// verification, 0 none) and fills its answer; it reports whether the
// answer must wait for replication or the disk, and for which offset.
func (e *Env) produceAppend(req *kmsg.ProduceRequest, sp *kmsg.ProduceResponseTopicPartition, p *partition.Partition, topic string, batch []byte, guard uint64) (ids.Offset, bool) {
	appendBatch := p.AppendVerified
	if req.Version >= firstAddPartitionProduce && req.TransactionID != nil {
		appendBatch = p.AppendAdded // the coordinator added the partition
	}
	res, err := appendBatch(batch, partition.FromClient, guard)
	if err != nil {
		sp.ErrorCode = e.errCode(err)
		// Kafka reports the log start for errors found against
		// the log (sequence, epoch, record count, timestamps), -1 for
		// batches refused before that.
		if errors.Is(err, record.ErrInvalidRecord) || errors.Is(err, record.ErrBadCompression) || errors.Is(err, partition.ErrOutOfOrderSequence) ||
			errors.Is(err, partition.ErrInvalidProducerEpoch) || errors.Is(err, partition.ErrTxnState) || errors.Is(err, partition.ErrInvalidTimestamp) || isControlBatch(batch) {
			sp.LogStartOffset = int64(p.LogStartOffset())
		}
		if sp.ErrorCode == kerr.KafkaStorageError.Code {
			e.Logger.Error("produce append failed", "topic", topic, "partition", sp.Partition, "err", err)
		} else {
			e.Logger.Debug("produce refused", "topic", topic, "partition", sp.Partition, "err", err)
		}
		if req.Version >= 8 {
			sp.ErrorMessage = errMsg(err)
			var te *partition.TimestampError
			if errors.As(err, &te) {
				for _, re := range te.Records {
					pe := kmsg.NewProduceResponseTopicPartitionErrorRecord()
					msg := re.Message
					pe.RelativeOffset, pe.ErrorMessage = re.Index, &msg
					sp.ErrorRecords = append(sp.ErrorRecords, pe)
				}
			}
		}
		return 0, false
	}
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = int64(res.BaseOffset), res.LogAppendTime, int64(res.LogStartOffset)
	if !res.Duplicate {
		metrics.TopicBytesIn.WithLabelValues(topic).Add(float64(len(batch)))
		metrics.TopicRecordsIn.WithLabelValues(topic).Add(float64(res.LastOffset - res.BaseOffset + 1))
	}
	return res.LastOffset, req.Acks != 0 && p.HighWatermark() <= res.LastOffset
}

// isControlBatch reports whether batch claims to be a control batch,
// which Kafka refuses in its LogValidator, against the log.
func isControlBatch(batch []byte) bool {
	h, err := record.ParseHeader(batch)
	return err == nil && h.IsControl()
}

// waitFor completes the wait of an appended partition up to last.
func (w produceWait) waitFor(req *kmsg.ProduceRequest, last ids.Offset) produceWait {
	w.last = last
	if req.Acks == -1 {
		w.minISR = max(w.p.Config().MinInsyncReplicas, 1)
	}
	return w
}

// transactionalProducers reports whether any partition of req carries a
// transactional batch, and whether they name more than one producer id
// and epoch.
func transactionalProducers(req *kmsg.ProduceRequest) (has, mixed bool) {
	pid, epoch := int64(-1), int16(-1)
	for i := range req.Topics {
		for _, rp := range req.Topics[i].Partitions {
			h, err := record.ParseHeader(rp.Records)
			if err != nil || !h.IsTransactional() {
				continue
			}
			has = true
			if h.ProducerID < 0 {
				continue // refused by the batch checks
			}
			if pid >= 0 && (h.ProducerID != pid || h.ProducerEpoch != epoch) {
				mixed = true
			}
			pid, epoch = h.ProducerID, h.ProducerEpoch
		}
	}
	return has, mixed
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
