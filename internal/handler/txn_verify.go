package handler

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/partition"
)

// KIP-890 parts 1 and 2, the partition side: before a partition leader appends
// the first transactional batch of a producer's transaction, it asks the
// transaction coordinator whether the partition was added to that
// transaction (AddPartitionsToTxn v4+, VerifyOnly), so that a write
// arriving after its transaction ended cannot open a transaction that no
// coordinator will ever end (a "hanging" transaction, which would hold the
// last stable offset forever). A transactions-v2 client (Produce v12+)
// sends no AddPartitionsToTxn: the same request, without VerifyOnly, adds
// the partition instead. Kafka: ReplicaManager.
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
//
// With add the partitions are added to the transaction rather than checked
// (KIP-890 part 2: a transactions-v2 client's Produce v12+ and
// TxnOffsetCommit v5+ send no AddPartitionsToTxn/AddOffsetsToTxn; the
// partition leader adds the partition, as Kafka's ADD_PARTITION
// operation), and the errors are the same.
type TxnVerifier interface {
	VerifyTxn(ctx context.Context, transactionalID string, producerID int64, epoch int16, parts []TxnPartition, add bool) map[TxnPartition]int16
}

// firstAddPartitionProduce is the first Produce version whose transactional
// writes add their partition to the transaction (Kafka's
// produceRequestVersionToTransactionSupportedOperation: ADD_PARTITION above
// v11); firstAddPartitionTxnOffsetCommit is TxnOffsetCommit's (above v4).
const (
	firstAddPartitionProduce         = 12
	firstAddPartitionTxnOffsetCommit = 5
)

// produceVerify is a partition whose transactional batch waits for the
// coordinator, or for an earlier write of its producer that does, before
// its append.
type produceVerify struct {
	w          produceWait
	topic      string
	guard      uint64 // 0: behind another write, decided once that is done
	pid        int64
	epoch      int16
	batch      []byte // a copy: the request's frame is reused
	unverified bool

	key        txnWriteKey
	prev, mine chan struct{} // txnWriteOrder: the write before this one, and this one
}

// txnWriteOrder keeps a producer's transactional writes to a partition in
// the order their requests arrived while one of them waits for the
// coordinator. The synchronous part of Produce appends in arrival order,
// but a verified write is appended in the deferred part: a pipelined
// request behind it (franz-go and the Java client keep up to five in
// flight) appended first and the verified batch then failed with
// OUT_OF_ORDER_SEQUENCE_NUMBER (franz-go's TestTxnEtl). Kafka has no such
// race because it reads a connection's next request only once the
// previous one is answered. Each queued write waits for the one before it
// (a chain per partition and producer); the queue is empty again once its
// last write is done.
type txnWriteOrder struct {
	mu    sync.Mutex
	tails map[txnWriteKey]chan struct{} // the last queued write; closed when done
}

type txnWriteKey struct {
	p   *partition.Partition
	pid int64
}

func newTxnWriteOrder() *txnWriteOrder {
	return &txnWriteOrder{tails: map[txnWriteKey]chan struct{}{}}
}

// busy reports whether a write of k is queued and not done.
func (o *txnWriteOrder) busy(k txnWriteKey) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.tails[k]
	return ok
}

// queue appends a write of k: prev (nil when none) is closed when the
// write before it is done; the caller closes mine through done.
func (o *txnWriteOrder) queue(k txnWriteKey) (prev, mine chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	prev = o.tails[k]
	mine = make(chan struct{})
	o.tails[k] = mine
	return prev, mine
}

// done ends a write queued with queue.
func (o *txnWriteOrder) done(k txnWriteKey, mine chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(mine)
	if o.tails[k] == mine {
		delete(o.tails, k)
	}
}

// verifyAndAppend runs the verification of a produce request's first
// transactional writes and appends those the coordinator confirmed; it
// returns the waits of the appended partitions.
func (e *Env) verifyAndAppend(ctx context.Context, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, vs []produceVerify) []produceWait {
	defer func() {
		for _, v := range vs {
			e.txnOrder.done(v.key, v.mine)
		}
	}()
	// Writes behind another one of their producer wait for it; then their
	// transaction has started here (no verification) or not (the earlier
	// write failed: verify this one).
	skip := make([]bool, len(vs))
	for i := range vs {
		v := &vs[i]
		if v.prev == nil {
			continue
		}
		select {
		case <-v.prev:
			v.guard = v.w.p.StartTxnVerification(v.pid, v.epoch)
		case <-ctx.Done():
			resp.Topics[v.w.topicIdx].Partitions[v.w.partIdx].ErrorCode = kerr.RequestTimedOut.Code
			skip[i] = true
		}
	}
	// One transactional id per request; Kafka refuses batches of several
	// producer ids in one request, and so does each partition's check.
	var parts []TxnPartition
	for i, v := range vs {
		if !skip[i] && v.guard != 0 {
			parts = append(parts, TxnPartition{Topic: v.topic, Partition: resp.Topics[v.w.topicIdx].Partitions[v.w.partIdx].Partition})
		}
	}
	var codes map[TxnPartition]int16
	if len(parts) > 0 {
		codes = e.TxnVerifier.VerifyTxn(ctx, *req.TransactionID, vs[0].pid, vs[0].epoch, parts, req.Version >= firstAddPartitionProduce)
	}
	var waits []produceWait
	for i, v := range vs {
		if skip[i] {
			continue
		}
		sp := &resp.Topics[v.w.topicIdx].Partitions[v.w.partIdx]
		if code := codes[TxnPartition{Topic: v.topic, Partition: sp.Partition}]; v.guard != 0 && code != 0 {
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
