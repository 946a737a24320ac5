package broker

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/txn"
)

// transactionStateTopic holds the transaction coordinators' state; the
// coordinator of a transactional id is the leader of its partition.
const transactionStateTopic = "__transaction_state"

// txnVerifier is handler.TxnVerifier over the network: it sends
// AddPartitionsToTxn v4+ with VerifyOnly to the coordinator of the
// transactional id (KIP-890 part 1), or v5 without it to add the
// partitions (part 2), as Kafka's AddPartitionsToTxnManager does, over the
// coordinator's inter-broker listener.
type txnVerifier struct {
	// coordinator returns the address of the coordinator of a
	// transactional id; ok false when there is none (no
	// __transaction_state, or its partition has no live leader).
	coordinator func(transactionalID string) (addr string, ok bool)
	logger      *slog.Logger
	// tls, when set, dials coordinators' replication listeners with
	// mutual TLS (the node certificate).
	tls *tls.Config

	mu      sync.Mutex
	clients map[string]*kgo.Client // by address; closed by close
	closed  bool
}

// verifyVersionCheck is how long a coordinator's ApiVersions answer is
// trusted; a coordinator upgraded to serve verification is used after it.
const verifyVersionCheck = time.Minute

func newTxnVerifier(coordinator func(string) (string, bool), logger *slog.Logger) *txnVerifier {
	return &txnVerifier{coordinator: coordinator, logger: logger, clients: map[string]*kgo.Client{}}
}

// coordinatorFromImage finds the coordinator of a transactional id in the
// current image: partition abs(hashCode(id)) % partitions of
// __transaction_state (Java's String.hashCode, Kafka's partitionFor),
// reached on its leader's inter_broker_listener when one is named, else
// on the replication listener of its leader when that is known (peers),
// otherwise on the address clients use.
func coordinatorFromImage(ctrl controller.Controller, peers []config.Peer, listener string) func(string) (string, bool) {
	return func(txnID string) (string, bool) {
		im := ctrl.Image()
		t := im.Topics[transactionStateTopic]
		if t == nil || len(t.Partitions) == 0 {
			return "", false
		}
		leader := t.Partitions[txnPartition(txnID, len(t.Partitions))].Leader
		b, ok := im.LiveBroker(leader)
		if !ok {
			return "", false
		}
		for _, ep := range b.Listeners {
			if listener != "" && ep.Name == listener {
				return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), true
			}
		}
		for _, p := range peers {
			if ids.NodeID(p.ID) == leader && p.Replication != "" {
				return p.Replication, true
			}
		}
		if b.Replication != "" {
			return b.Replication, true
		}
		return brokerAddr(b), true
	}
}

func brokerAddr(b metadata.Broker) string {
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
}

// txnPartition is the __transaction_state partition of txnID: the
// coordinator's own function (Kafka's TransactionStateManager.partitionFor).
func txnPartition(txnID string, partitions int) int {
	return int(txn.PartitionFor(txnID, int32(partitions)))
}

func (v *txnVerifier) client(addr string) *kgo.Client {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	if cl := v.clients[addr]; cl != nil {
		return cl
	}
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("strom-txn-verification"), kgo.MetadataMinAge(verifyVersionCheck)}
	if v.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(v.tls.Clone()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		v.logger.Warn("transaction verification client", "addr", addr, "err", err)
		return nil
	}
	v.clients[addr] = cl
	return cl
}

func (v *txnVerifier) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	for _, cl := range v.clients {
		cl.Close()
	}
	v.clients = nil
}

// Kafka's add.partitions.to.txn.retry.backoff.ms and
// .retry.backoff.max.ms defaults: how a partition leader retries adding a
// partition while the transaction's previous end is still writing its
// markers (CONCURRENT_TRANSACTIONS). The coordinator itself waits up to a
// second for that end to complete before it answers so (internal/txn), so
// this is reached only when the markers take longer, e.g. a partition
// leader moving mid-end.
const (
	addRetryBackoff = 20 * time.Millisecond
	addRetryMax     = 100 * time.Millisecond
)

// VerifyTxn implements handler.TxnVerifier. With add, the partitions are
// added to the transaction (AddPartitionsToTxn v5 without VerifyOnly,
// Kafka's ADD_PARTITION operation for transactions-v2 clients), and
// CONCURRENT_TRANSACTIONS is retried for a short while first.
func (v *txnVerifier) VerifyTxn(ctx context.Context, txnID string, pid int64, epoch int16, parts []handler.TxnPartition, add bool) map[handler.TxnPartition]int16 {
	out := v.verifyOnce(ctx, txnID, pid, epoch, parts, add)
	start := time.Now()
	for add && concurrent(out) && time.Since(start) < addRetryMax {
		select {
		case <-ctx.Done():
			return out
		case <-time.After(addRetryBackoff):
		}
		out = v.verifyOnce(ctx, txnID, pid, epoch, parts, add)
	}
	return out
}

func concurrent(codes map[handler.TxnPartition]int16) bool {
	for _, c := range codes {
		if c == kerr.ConcurrentTransactions.Code {
			return true
		}
	}
	return false
}

func (v *txnVerifier) verifyOnce(ctx context.Context, txnID string, pid int64, epoch int16, parts []handler.TxnPartition, add bool) map[handler.TxnPartition]int16 {
	all := func(code int16) map[handler.TxnPartition]int16 {
		out := make(map[handler.TxnPartition]int16, len(parts))
		for _, p := range parts {
			out[p] = code
		}
		return out
	}
	addr, ok := v.coordinator(txnID)
	if !ok {
		return all(kerr.CoordinatorNotAvailable.Code)
	}
	cl := v.client(addr)
	if cl == nil {
		return all(kerr.NetworkException.Code)
	}
	br := cl.SeedBrokers()[0]
	// A coordinator that cannot verify (AddPartitionsToTxn below v4, or
	// none) lets the write through, as Kafka does on a version mismatch.
	// v3+ must name the client software, or the answer is
	// INVALID_REQUEST with no keys (which read as "cannot verify").
	avReq := kmsg.NewPtrApiVersionsRequest()
	avReq.ClientSoftwareName, avReq.ClientSoftwareVersion = "strom", "1"
	av, err := avReq.RequestWith(ctx, br)
	if err == nil && av.ErrorCode != 0 {
		err = kerr.ErrorForCode(av.ErrorCode)
	}
	if err != nil {
		v.logger.Debug("transaction verification: ApiVersions failed", "coordinator", addr, "err", err)
		return all(kerr.NetworkException.Code)
	}
	need := int16(4)
	if add {
		need = 5 // the version that tells the coordinator the client's TV2
	}
	supported := false
	for _, k := range av.ApiKeys {
		supported = supported || k.ApiKey == kmsg.AddPartitionsToTxn.Int16() && k.MaxVersion >= need
	}
	if !supported {
		return nil
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	if add {
		req.Version = 5
	}
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, pid, epoch, !add
	byTopic := map[string]int{}
	for _, p := range parts {
		i, ok := byTopic[p.Topic]
		if !ok {
			i = len(tx.Topics)
			byTopic[p.Topic] = i
			t := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			t.Topic = p.Topic
			tx.Topics = append(tx.Topics, t)
		}
		tx.Topics[i].Partitions = append(tx.Topics[i].Partitions, p.Partition)
	}
	req.Transactions = append(req.Transactions, tx)
	resp, err := req.RequestWith(ctx, br)
	if err != nil {
		v.logger.Debug("transaction verification failed", "coordinator", addr, "err", err)
		return all(kerr.NetworkException.Code)
	}
	if resp.ErrorCode != 0 {
		// Clients must not see CLUSTER_AUTHORIZATION_FAILED: the check
		// did not complete.
		if resp.ErrorCode == kerr.ClusterAuthorizationFailed.Code {
			return all(kerr.InvalidTxnState.Code)
		}
		return all(resp.ErrorCode)
	}
	out := map[handler.TxnPartition]int16{}
	for _, tr := range resp.Transactions {
		if tr.TransactionalID != txnID {
			continue
		}
		for _, t := range tr.Topics {
			for _, p := range t.Partitions {
				code := p.ErrorCode
				if code == kerr.ProducerFenced.Code {
					code = kerr.InvalidProducerEpoch.Code // what producers expect here
				}
				if code != 0 {
					out[handler.TxnPartition{Topic: t.Topic, Partition: p.Partition}] = code
				}
			}
		}
	}
	return out
}
