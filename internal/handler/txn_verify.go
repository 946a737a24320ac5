package handler

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-890 part 1, the partition side: before a partition leader appends
// the first transactional batch of a producer's transaction, it asks the
// transaction coordinator whether the partition was added to that
// transaction (AddPartitionsToTxn v4+, VerifyOnly), so that a write
// arriving after its transaction ended cannot open a transaction that no
// coordinator will ever end (a "hanging" transaction, which would hold the
// last stable offset forever). Kafka: ReplicaManager.
// appendRecordsWithTransactionVerification and AddPartitionsToTxnManager.

// TxnPartition names one partition in a verification.
type TxnPartition struct {
	Topic     string
	Partition int32
}

// TxnVerifier asks the coordinator of transactionalID whether parts are in
// the ongoing transaction of producerID at epoch. It answers, for each
// partition that is not, the Kafka error code Kafka's
// AddPartitionsToTxnManager hands the produce path: the coordinator's
// partition error with PRODUCER_FENCED turned into INVALID_PRODUCER_EPOCH
// (TRANSACTION_ABORTABLE is left to the produce path, which keeps it only
// for clients that know it); the coordinator's
// top-level error (CLUSTER_AUTHORIZATION_FAILED as INVALID_TXN_STATE) for
// every partition; NETWORK_EXCEPTION for every partition when the request
// failed; COORDINATOR_NOT_AVAILABLE when no coordinator is known. A
// coordinator that does not serve AddPartitionsToTxn v4 verifies nothing:
// the answer is empty and the writes go ahead, as in Kafka.
//
// Env.TxnVerifier is nil when the broker has no transaction coordinator
// to ask (or transaction.partition.verification.enable is false): then
// transactional writes are appended unverified, as Kafka does with the
// check disabled.
type TxnVerifier interface {
	VerifyTxn(ctx context.Context, transactionalID string, producerID int64, epoch int16, parts []TxnPartition) map[TxnPartition]int16
}

// produceVerify is a partition whose transactional batch waits for the
// coordinator before its append.
type produceVerify struct {
	w          produceWait
	topic      string
	guard      uint64
	pid        int64
	epoch      int16
	batch      []byte // a copy: the request's frame is reused
	unverified bool
}

// verifyAndAppend runs the verification of a produce request's first
// transactional writes and appends those the coordinator confirmed; it
// returns the waits of the appended partitions.
func (e *Env) verifyAndAppend(ctx context.Context, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, vs []produceVerify) []produceWait {
	// One transactional id per request; Kafka refuses batches of several
	// producer ids in one request, and so does each partition's check.
	parts := make([]TxnPartition, len(vs))
	for i, v := range vs {
		parts[i] = TxnPartition{Topic: v.topic, Partition: resp.Topics[v.w.topicIdx].Partitions[v.w.partIdx].Partition}
	}
	codes := e.TxnVerifier.VerifyTxn(ctx, *req.TransactionID, vs[0].pid, vs[0].epoch, parts)
	var waits []produceWait
	for i, v := range vs {
		sp := &resp.Topics[v.w.topicIdx].Partitions[v.w.partIdx]
		if code := codes[parts[i]]; code != 0 {
			sp.ErrorCode = produceVerifyCode(code, req.Version)
			if req.Version >= 8 {
				msg := "Unable to verify the partition has been added to the transaction. Underlying error: " + kerr.ErrorForCode(code).Error()
				if sp.ErrorCode == kerr.InvalidTxnState.Code {
					msg = "Partition was not added to the transaction"
				}
				sp.ErrorMessage = &msg
			}
			e.Logger.Debug("transactional produce not verified", "topic", v.topic, "partition", sp.Partition,
				"producer_id", v.pid, "epoch", v.epoch, "code", code)
			continue
		}
		if last, ok := e.produceAppend(req, sp, v.w.p, v.topic, v.batch, v.guard); ok {
			waits = append(waits, v.w.waitFor(req, last))
		}
	}
	return waits
}

// produceVerifyCode is what a producer is told when verification failed,
// as Kafka's ReplicaManager answers: the retriable failures of reaching
// the coordinator become NOT_ENOUGH_REPLICAS (which older clients retry
// without a metadata refresh); TRANSACTION_ABORTABLE reaches only clients
// of Produce v11+ (older ones get INVALID_TXN_STATE, Kafka's
// defaultError); INVALID_TXN_STATE and the others stay.
func produceVerifyCode(code, version int16) int16 {
	switch code {
	case kerr.TransactionAbortable.Code:
		if version <= 10 {
			return kerr.InvalidTxnState.Code
		}
	case kerr.ConcurrentTransactions.Code, kerr.NetworkException.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code:
		return kerr.NotEnoughReplicas.Code
	}
	return code
}
