package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/txn"
)

// AddPartitionsToTxn v0-5.
//
// v0-3 are a producer's: one transaction, its partitions added once the
// coordinator's state is durable. A partition of an unknown topic gets
// UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, with
// nothing added, as in Kafka; PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
// before v2. v4+ are a broker's, batched: VerifyOnly transactions are
// checked (KIP-890 part 1: TRANSACTION_ABORTABLE for a partition not in
// the transaction), the others added (v5: implicitly, for a
// transactions-v2 client, whose version the transaction then records).
// Without ACLs any client may send
// v4+ (Kafka requires CLUSTER_ACTION).

func init() { register(kmsg.AddPartitionsToTxn, 0, 5, serveAddPartitionsToTxn) }

func serveAddPartitionsToTxn(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	im := e.Ctrl.Image()
	if req.Version < 4 {
		topics := make([]kmsg.AddPartitionsToTxnRequestTransactionTopic, len(req.Topics))
		for i, t := range req.Topics {
			topics[i] = kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: t.Topic, Partitions: t.Partitions}
		}
		tx := kmsg.AddPartitionsToTxnRequestTransaction{
			TransactionalID: req.TransactionalID, ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, Topics: topics,
		}
		return Result{Deferred: func() kmsg.Response {
			res := e.addPartitions(r, im, tx, req.Version)
			for _, t := range res.Topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rt.Partitions = append(rt.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p.Partition, ErrorCode: p.ErrorCode})
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp
		}}
	}
	return Result{Deferred: func() kmsg.Response {
		for _, tx := range req.Transactions {
			resp.Transactions = append(resp.Transactions, e.addPartitions(r, im, tx, req.Version))
		}
		return resp
	}}
}

// addPartitions serves one transaction of the request.
func (e *Env) addPartitions(r *Request, im *metadata.Image, tx kmsg.AddPartitionsToTxnRequestTransaction, version int16) kmsg.AddPartitionsToTxnResponseTransaction {
	out := kmsg.NewAddPartitionsToTxnResponseTransaction()
	out.TransactionalID = tx.TransactionalID
	var tps []txn.TopicPartition
	unknown := map[txn.TopicPartition]bool{}
	for _, t := range tx.Topics {
		mt := im.Topics[t.Topic]
		for _, p := range t.Partitions {
			tp := txn.TopicPartition{Topic: t.Topic, Partition: p}
			if mt == nil || p < 0 || int(p) >= len(mt.Partitions) {
				unknown[tp] = true
			}
			tps = append(tps, tp)
		}
	}
	codes := make(map[txn.TopicPartition]int16, len(tps))
	switch {
	case tx.TransactionalID == "":
		for _, tp := range tps {
			codes[tp] = kerr.InvalidRequest.Code
		}
	case len(unknown) > 0:
		for _, tp := range tps {
			codes[tp] = kerr.OperationNotAttempted.Code
			if unknown[tp] {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
			}
		}
	case e.Txns == nil:
		for _, tp := range tps {
			codes[tp] = kerr.CoordinatorNotAvailable.Code
		}
	case tx.VerifyOnly:
		res, err := e.Txns.VerifyPartitions(tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tps)
		for _, tp := range tps {
			if err != nil {
				codes[tp] = e.txnErrCode(err, version, 2)
			} else {
				codes[tp] = e.errCode(res[tp])
			}
		}
	default:
		// v5 is what a partition leader sends for a transactions-v2
		// client's Produce v12+ or TxnOffsetCommit v5+ (KIP-890 part 2),
		// and the transaction records the client's version, as Kafka's
		// KafkaApis does.
		tv := int16(0)
		if version >= 5 {
			tv = 2
		}
		err := e.Txns.AddPartitions(r.Ctx, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tps, tv)
		code := e.txnErrCode(err, version, 2)
		for _, tp := range tps {
			codes[tp] = code
		}
	}
	for _, t := range tx.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			rp.Partition, rp.ErrorCode = p, codes[txn.TopicPartition{Topic: t.Topic, Partition: p}]
			rt.Partitions = append(rt.Partitions, rp)
		}
		out.Topics = append(out.Topics, rt)
	}
	return out
}
