// Package broker assembles a Strom node: config, metadata controller,
// partition registry, handlers and the Kafka listener, and runs the
// periodic work (retention, time-based flush). It owns their start-up and
// shutdown order.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/strom-broker/strom/internal/authz"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/admin"
	"github.com/strom-broker/strom/internal/auth"
	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/console"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/metrics"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/replication"
	"github.com/strom-broker/strom/internal/server"
	"github.com/strom-broker/strom/internal/txn"
	"github.com/strom-broker/strom/internal/vfs"
)

// Broker is one running node.
type Broker struct {
	cfg    config.Config
	logger *slog.Logger

	ctrl  controller.Controller
	raft  *controller.Raft // cluster mode only
	parts *partition.Registry
	env   *handler.Env
	srv   *server.Server

	groups *group.Coordinator // consumer-group coordinator
	txns   *txn.Coordinator   // transaction coordinator
	// markers sends the transaction coordinator's WriteTxnMarkers.
	markers *txn.NetSender

	// txnVerifier asks transaction coordinators before first
	// transactional writes (KIP-890); nil when not in use.
	txnVerifier *txnVerifier

	// Replication (cluster mode only): the replication listener that followers
	// fetch from, and this node's follower fetchers.
	replListener *server.Server
	repl         *replication.Manager

	// connLimits counts the connections of every listener against the
	// connection limits (shared by the Kafka and replication servers).
	connLimits *server.ConnLimits
	// nodeTLS is the mutual TLS of the links to other nodes (replication
	// listener, fetchers, markers, Raft); nil when they are plaintext.
	nodeTLS *auth.NodeTLS

	// locks are the exclusive locks of the data and metadata directories,
	// held from Start until Shutdown ends.
	locks []*vfs.DirLock

	// Observability (observe.go): metrics, the admin listener, and the
	// flags readiness and the collectors read.
	metrics  *metrics.Node
	admin    *admin.Server
	console  *console.Console
	lag      lagClient
	serving  atomic.Bool // Start finished: every field above is set
	stopping atomic.Bool // Shutdown began
	partFS   vfs.FS      // the file system of partition data; nil: vfs.Default

	stop     chan struct{}
	wg       sync.WaitGroup
	shutdown sync.Once
}

// SetPartitionFS sets the file system the partition logs live on
// (vfs.Default unless set; tests make it fail with vfs/errorfs). Call it
// before Start.
func (b *Broker) SetPartitionFS(fsys vfs.FS) { b.partFS = fsys }

// New validates cfg and prepares the node: it binds nothing yet, but opens
// (and if needed recovers) all stored partitions. The listener is bound
// here too, so that the advertised address can default to the bound one
// when listening on port 0.
func New(cfg config.Config, logger *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	cfg.DataDir = abs
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	b := &Broker{cfg: cfg, logger: logger, stop: make(chan struct{})}
	return b, nil
}

// Start binds the listener, opens the metadata and partitions, and starts
// serving.
//
// ctx bounds the waits of start-up (a cluster node waiting for its metadata
// quorum): cancelling it, as SIGINT or SIGTERM does, ends Start with an
// error at once.
func (b *Broker) Start(ctx context.Context) error {
	// One owner per data directory, before anything in it is opened: a
	// second broker on it would recover and write the live one's files.
	for _, dir := range []string{b.cfg.DataDir, filepath.Join(b.cfg.DataDir, "__cluster_metadata")} {
		l, err := vfs.LockDir(dir)
		if err != nil {
			return err
		}
		b.locks = append(b.locks, l)
	}
	if err := b.startAdmin(); err != nil {
		return err
	}
	pre := server.New(b.cfg, nil, b.logger)
	pre.SetMetrics(b.metrics.Requests.Listener("kafka"))
	specs, err := auth.Listeners(b.cfg, b.logger)
	if err != nil {
		return err
	}
	pre.SetListeners(specs)
	if b.connLimits, err = server.NewConnLimits(ctx, b.cfg, b.logger.With("component", "connection-limits")); err != nil {
		return err
	}
	pre.SetConnLimits(b.connLimits, false)
	if b.cfg.InternodeTLS() {
		if b.nodeTLS, err = auth.NewNodeTLS(b.cfg.TLS, b.logger.With("component", "node-tls")); err != nil {
			return err
		}
	}
	if b.cfg.Clustered() {
		// The Kafka listener is bound only once this node has caught up
		// with the metadata log: until then clients get "connection
		// refused" and try another bootstrap server, rather than stale
		// answers.
		self, err := handler.SelfBroker(ids.NodeID(b.cfg.NodeID), b.cfg.AdvertisedAddr())
		if err != nil {
			return fmt.Errorf("advertise %q: %w", b.cfg.AdvertisedAddr(), err)
		}
		if self.Listeners, err = advertisedListeners(specs, nil); err != nil {
			return err
		}
		self.Replication = b.cfg.AdvertisedReplication()
		self.Version = b.cfg.SoftwareVersion
		if err := b.openRaft(ctx, self); err != nil {
			return err
		}
		if err := pre.Listen(); err != nil {
			b.raft.Close()
			return err
		}
	} else {
		// The listener is bound before metadata is opened so that a
		// listen address with port 0 advertises the real port.
		if err := pre.Listen(); err != nil {
			return err
		}
		adv := b.cfg.Advertise
		if adv == "" {
			adv = pre.Addr().String()
			if host, _, _ := net.SplitHostPort(b.cfg.Listen); host == "" || host == "0.0.0.0" || host == "::" {
				pre.Close()
				return errors.New("advertise: the listen address has no connectable host; set --advertise")
			}
		}
		self, err := handler.SelfBroker(ids.NodeID(b.cfg.NodeID), adv)
		if err != nil {
			pre.Close()
			return fmt.Errorf("advertise %q: %w", adv, err)
		}
		if self.Listeners, err = advertisedListeners(specs, pre.Listeners()); err != nil {
			pre.Close()
			return err
		}
		self.Version = b.cfg.SoftwareVersion
		ctrl, err := controller.OpenLocal(filepath.Join(b.cfg.DataDir, "__cluster_metadata"), self)
		if err != nil {
			pre.Close()
			return err
		}
		b.ctrl = ctrl
	}
	ctrl := b.ctrl
	b.parts = partition.NewRegistry(b.cfg.DataDir, ids.NodeID(b.cfg.NodeID), b.cfg.Log, b.logger)
	b.parts.SetProducerIDExpiration(b.cfg.ProducerIDExpiration, b.cfg.ProducerIDExpirationCheckInterval)
	if b.partFS != nil {
		b.parts.SetFS(b.partFS)
	}
	b.parts.SetAlterISR(ctrl.AlterISR)
	b.parts.SetReplicaOffline(ctrl.ReplicaOffline)
	b.parts.SetReplicaLagTimeMax(b.cfg.ReplicaLagTimeMax)
	// The image is proven current here: a cluster node has caught up with
	// the metadata log (openRaft), a single node's is its own file.
	im := ctrl.Image()
	if err := b.parts.Startup(im); err != nil {
		pre.Close()
		return fmt.Errorf("reconcile the data directory with the metadata: %w", err)
	}
	if err := b.parts.Apply(im); err != nil {
		pre.Close()
		b.parts.Close()
		return fmt.Errorf("open partitions: %w", err)
	}
	if b.cfg.Clustered() {
		peerWAL := make(map[ids.NodeID]string, len(b.cfg.Peers))
		for _, p := range b.cfg.Peers {
			peerWAL[ids.NodeID(p.ID)] = p.Replication
		}
		rcfg := replication.Config{NodeID: ids.NodeID(b.cfg.NodeID), PeerReplication: peerWAL}
		rcfg.Listener, rcfg.TLS = b.cfg.InterBrokerListener, b.interBrokerTLS()
		b.repl = replication.NewManager(rcfg, b.parts, b.logger.With("component", "replication"))
		b.repl.Apply(im)
	}
	ctrl.Subscribe(func(prev, next *metadata.Image) {
		if prev == nil && next == im {
			return // the initial image was applied above
		}
		countLeaderChanges(prev, next)
		// A newer image published between Image and Subscribe (prev nil)
		// is applied here, or the partitions would miss it.
		if err := b.parts.Apply(next); err != nil {
			b.logger.Error("applying metadata to partitions", "err", err)
		}
		if b.repl != nil {
			b.repl.Apply(next) // after the partitions know their roles
		}
	})
	b.env = handler.NewEnv(b.cfg, ctrl, b.parts, b.logger)
	b.env.Quotas = b.newQuotas(ctrl)
	if a := b.cfg.Authorization; a.Enabled {
		b.env.Authz = authz.New(authz.Config{SuperUsers: a.SuperUsers, AllowEveryoneIfNoACLFound: a.AllowEveryoneIfNoACLFound, Logger: b.logger.With("component", "authz")})
	}
	// Transactional writes are verified with their coordinator only where
	// coordinators exist to answer: this build serves the verification
	// (AddPartitionsToTxn v4+), and every coordinator is a Strom node.
	// The verifier is wired even with transaction_partition_verification_enable
	// off: transactions-v2 writes (Produce v12+, TxnOffsetCommit v5+) add
	// their partition through it; the handlers skip plain verification then.
	if vr, ok := handler.Lookup(kmsg.AddPartitionsToTxn); ok && vr.Max >= 4 {
		b.txnVerifier = newTxnVerifier(coordinatorFromImage(ctrl, b.cfg.Peers, b.cfg.InterBrokerListener), b.logger.With("component", "txn-verification"))
		b.txnVerifier.tls = b.interBrokerTLS()
		b.env.TxnVerifier = b.txnVerifier
	}
	if err := b.startReplicationListener(); err != nil {
		pre.Close()
		b.stopReplication()
		b.parts.Close()
		return err
	}
	if err := b.startGroups(ctrl); err != nil {
		pre.Close()
		b.stopReplication()
		b.parts.Close()
		return err
	}
	b.startTxns(ctrl)
	if err := b.bootstrapUsers(ctx, ctrl); err != nil {
		pre.Close()
		b.stopReplication()
		b.parts.Close()
		return err
	}
	pre.SetCredentials(auth.ImageCredentials(ctrl.Image))
	b.srv = pre
	b.srv.SetEnv(b.env)
	b.srv.Serve()
	b.wg.Add(1)
	go b.ticker()
	b.serving.Store(true)
	return nil
}

// stopReplication closes the replication listener and the fetchers of a start-up
// that failed.
func (b *Broker) stopReplication() {
	if b.replListener != nil {
		b.replListener.Shutdown(context.Background())
	}
	if b.repl != nil {
		b.repl.Close()
	}
}

// startReplicationListener serves the handlers on the replication listener in cluster
// mode; followers fetch from it (a node without one is fetched from on
// its Kafka listener).
func (b *Broker) startReplicationListener() error {
	if !b.cfg.Clustered() || b.cfg.Node.Addresses.Replication == "" {
		return nil
	}
	cfg := b.cfg
	cfg.Listen = b.cfg.Node.Addresses.Replication
	b.replListener = server.New(cfg, b.env, b.logger.With("listener", "wal"))
	if b.nodeTLS != nil {
		// Mutual TLS: a follower is the principal of its node
		// certificate (User:CN=...), which the authorizer checks for
		// CLUSTER_ACTION on its fetches and markers.
		b.replListener.SetListeners([]auth.Listener{{Name: "REPLICATION", Address: cfg.Listen, Protocol: auth.SSL, TLS: b.nodeTLS.Server()}})
	}
	b.replListener.SetMetrics(b.metrics.Requests.Listener("replication"))
	b.replListener.SetConnLimits(b.connLimits, true)
	if err := b.replListener.Listen(); err != nil {
		b.replListener = nil
		return fmt.Errorf("replication listener: %w", err)
	}
	b.replListener.Serve()
	return nil
}

// interBrokerTLS is the client TLS config of Kafka-protocol exchanges
// with other nodes (follower fetches, markers, transaction
// verification): the node certificate over mutual TLS when the
// inter-broker listener speaks TLS — the replication listener with
// internode TLS on, or an SSL inter_broker_listener — else nil.
func (b *Broker) interBrokerTLS() *tls.Config {
	if b.nodeTLS == nil {
		return nil
	}
	switch b.cfg.InterBrokerProtocol() {
	case "", "SSL":
		return b.nodeTLS.Client()
	}
	return nil
}

// openRaft starts the node's metadata-quorum member and waits until it has
// caught up and is registered, so clients never get stale answers.
func (b *Broker) openRaft(ctx context.Context, self metadata.Broker) error {
	peers := make([]controller.RaftPeer, 0, len(b.cfg.Peers))
	for _, p := range b.cfg.Peers {
		peers = append(peers, controller.RaftPeer{ID: ids.NodeID(p.ID), Raft: p.Raft})
	}
	var serverTLS, clientTLS *tls.Config
	if b.nodeTLS != nil {
		serverTLS, clientTLS = b.nodeTLS.Server(), b.nodeTLS.Client()
	}
	rc, err := controller.OpenRaft(controller.RaftConfig{
		NodeID:        ids.NodeID(b.cfg.NodeID),
		Self:          self,
		RaftListen:    b.cfg.Node.Addresses.Raft,
		RaftAdvertise: b.cfg.AdvertisedRaft(),
		Peers:         peers,
		Dir:           filepath.Join(b.cfg.DataDir, "__cluster_metadata"),
		Logger:        b.logger.With("component", "controller"),
		ServerTLS:     serverTLS,
		ClientTLS:     clientTLS,

		SnapshotThreshold: uint64(b.cfg.Metadata.SnapshotThreshold),
		SnapshotInterval:  b.cfg.Metadata.SnapshotInterval,
		TrailingLogs:      uint64(b.cfg.Metadata.TrailingLogs),
	})
	if err != nil {
		return err
	}
	b.logger.Info("waiting for the metadata quorum", "node", b.cfg.NodeID, "raft", b.cfg.AdvertisedRaft())
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := rc.WaitReady(ctx); err != nil {
		rc.Close()
		return err
	}
	b.raft, b.ctrl = rc, rc
	return nil
}

// Addr is the bound Kafka listener address.
func (b *Broker) Addr() net.Addr { return b.srv.Addr() }

// DataDir is the absolute data directory.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// ticker runs time-based partition work.
func (b *Broker) ticker() {
	defer b.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	lastRetention := time.Now()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			retention := now.Sub(lastRetention) >= b.cfg.Log.RetentionCheckInterval
			if retention {
				lastRetention = now
			}
			b.parts.Tick(now, retention)
		}
	}
}

// Shutdown drains connections, then flushes and closes every partition
// cleanly so the next start needs no recovery.
//
// Each step that waits (the controlled shutdown, the drains of the Kafka,
// replication and admin listeners) gets a share of the time left before
// ctx's deadline rather than all of it, so one slow step — a drain whose
// peer stopped reading its responses — leaves the later ones, closing the
// partitions cleanly above all, their time, and the whole returns within
// the deadline.
func (b *Broker) Shutdown(ctx context.Context) error {
	var err error
	b.shutdown.Do(func() {
		b.stopping.Store(true)
		if b.raft != nil {
			// Move leaderships away while this node still serves its
			// followers, so clients fail over without a session timeout.
			sctx, cancel := stepContext(ctx, shareControlled)
			if e := b.raft.ControlledShutdown(sctx); e != nil {
				b.logger.Warn("controlled shutdown", "err", e)
			}
			cancel()
		}
		if b.srv != nil {
			sctx, cancel := stepContext(ctx, shareKafkaDrain)
			if e := b.srv.Shutdown(sctx); e != nil {
				err = fmt.Errorf("drain connections: %w", e)
			}
			cancel()
		}
		if b.replListener != nil {
			// Followers' long polls end at once; one still open at the
			// deadline is closed, which they retry against the new leader.
			sctx, cancel := stepContext(ctx, shareReplicationDrain)
			if e := b.replListener.Shutdown(sctx); e != nil {
				b.logger.Warn("replication connections closed before they drained", "err", e)
			}
			cancel()
		}
		if b.repl != nil {
			b.repl.Close() // before the partitions it appends to close
		}
		close(b.stop)
		b.wg.Wait()
		if b.groups != nil {
			b.groups.Stop()
		}
		if b.txns != nil {
			b.txns.Stop()
			b.markers.Close()
		}
		if b.txnVerifier != nil {
			b.txnVerifier.close()
		}
		if b.parts != nil {
			if e := b.parts.Close(); e != nil {
				err = errors.Join(err, fmt.Errorf("close partitions: %w", e))
			}
		}
		if b.raft != nil {
			if e := b.raft.Close(); e != nil {
				err = errors.Join(err, fmt.Errorf("close metadata quorum member: %w", e))
			}
		}
		b.lag.once.Do(func() {}) // waits out a client being made
		if b.lag.cl != nil {
			b.lag.cl.Close()
		}
		if b.admin != nil {
			sctx, cancel := stepContext(ctx, shareAdminDrain)
			defer cancel()
			if e := b.admin.Shutdown(sctx); e != nil {
				b.logger.Warn("admin listener closed before it drained", "err", e)
			}
			b.console.Close()
		}
		for _, l := range b.locks {
			l.Unlock()
		}
	})
	return err
}

// The shares of the time left before the shutdown deadline each waiting
// step may use (see Shutdown). With every drain stalled, about 30% of the
// whole is left for closing the partitions, the group and transaction
// coordinators and the Raft member, which do not wait on peers.
const (
	shareControlled       = 0.25
	shareKafkaDrain       = 0.4
	shareReplicationDrain = 0.35
	shareAdminDrain       = 0.5
)

// stepContext is ctx ending after share of the time left before its
// deadline (ctx itself when it has none or it has passed).
func stepContext(ctx context.Context, share float64) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	left := time.Until(dl)
	if left <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(float64(left)*share))
}

// startGroups starts the consumer-group coordinator, which follows the
// leadership of the __consumer_offsets partitions through the metadata
// image. A single node creates the topic now; in a cluster, as in Kafka,
// the first FindCoordinator does, once the brokers have registered (a
// topic created at start-up would get too few replicas).
func (b *Broker) startGroups(ctrl controller.Controller) error {
	im := ctrl.Image()
	t := im.Topics[group.OffsetsTopic]
	if t == nil && !b.cfg.Clustered() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		t, err = ctrl.CreateTopic(ctx, group.OffsetsTopicSpec(b.cfg.OffsetsTopicPartitions, len(im.Brokers)))
		if errors.Is(err, controller.ErrTopicExists) {
			t, err = ctrl.Image().Topics[group.OffsetsTopic], nil
		}
		if err != nil || t == nil {
			return fmt.Errorf("create %s: %w", group.OffsetsTopic, err)
		}
	}
	cfg := group.ConfigFrom(b.cfg)
	if t != nil {
		cfg.Partitions = int32(len(t.Partitions))
	}
	b.groups = group.NewCoordinator(cfg, ids.NodeID(b.cfg.NodeID), b.parts, b.logger.With("component", "group"))
	b.groups.Start()
	// Subscribed after the partition registry, so a partition is open by
	// the time the coordinator hears it leads it.
	ctrl.Subscribe(func(_, next *metadata.Image) { b.groups.OnImage(next) })
	b.env.Groups = b.groups
	return nil
}

// startTxns starts the transaction coordinator, which follows the
// leadership of the __transaction_state partitions through the metadata
// image. The topic is created by the first FindCoordinator for a
// transactional id, as in Kafka.
func (b *Broker) startTxns(ctrl controller.Controller) {
	cfg := txn.ConfigFrom(b.cfg)
	if t := ctrl.Image().Topics[txn.Topic]; t != nil {
		cfg.Partitions = int32(len(t.Partitions))
	}
	b.markers = txn.NewNetSender(ctrl.Image, fmt.Sprintf("strom-txn-coordinator-%d", b.cfg.NodeID))
	b.markers.SetTLS(b.interBrokerTLS())
	b.markers.SetListener(b.cfg.InterBrokerListener)
	b.txns = txn.NewCoordinator(cfg, ids.NodeID(b.cfg.NodeID), b.parts, b.env.AllocateProducerID,
		ctrl.Image, b.markers, b.logger.With("component", "txn"))
	b.txns.Start()
	// Subscribed after the partition registry, so a partition is open by
	// the time the coordinator hears it leads it.
	ctrl.Subscribe(func(_, next *metadata.Image) { b.txns.OnImage(next) })
	b.env.Txns = b.txns
	if b.groups != nil {
		// WriteTxnMarkers appends a marker to a __consumer_offsets
		// partition, then the group coordinator applies it to the
		// transactional offset commits pending there.
		b.env.CompleteTxnOffsets = func(ctx context.Context, p int32, pid int64, _ int16, _ int32, commit bool) error {
			return b.groups.ApplyTxnEnd(ctx, p, pid, commit)
		}
	}
}
