package controller

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// RaftConfig configures the replicated controller of one node.
type RaftConfig struct {
	NodeID        ids.NodeID
	Self          metadata.Broker // Kafka and replication addresses as advertised
	RaftListen    string
	RaftAdvertise string
	Peers         []RaftPeer // every node of the initial cluster, self included
	Dir           string
	Logger        *slog.Logger
	// ServerTLS and ClientTLS, when set, put the raft port under mutual
	// TLS: every connection, raft's and the controller RPCs', is a TLS
	// connection accepted with ServerTLS and dialed with ClientTLS. Both
	// or neither.
	ServerTLS, ClientTLS *tls.Config

	// SessionTimeout is how long a broker may go without a heartbeat
	// before it is fenced; HeartbeatInterval how often brokers send one.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// PreferredLeaderInterval is how often the leader moves leadership
	// back to preferred replicas.
	PreferredLeaderInterval time.Duration

	// SnapshotThreshold, SnapshotInterval and TrailingLogs tune metadata
	// snapshots (hashicorp/raft's settings of the same names; zero keeps
	// Strom's defaults: 4096 entries, 2 minutes, 10240 entries).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
}

// RaftPeer is one metadata-quorum member.
type RaftPeer struct {
	ID   ids.NodeID
	Raft string // advertised raft address
}

// Raft is the cluster-mode controller: one hashicorp/raft group whose log
// holds every metadata command; every node applies it and serves clients
// from the applied image. Proposals made on a follower are forwarded to
// the leader over the raft port's RPC side. The leader also tracks broker
// liveness (heartbeats) and fences brokers that miss their session.
type Raft struct {
	cfg    RaftConfig
	logger *slog.Logger
	quiet  atomic.Bool // stopping: raft's complaints about peers are expected
	fsm    *fsm
	r      *raft.Raft
	store  *raftboltdb.BoltStore
	mux    *muxListener
	http   *http.Server
	rpc    *rpcClient

	stop chan struct{}
	wg   sync.WaitGroup

	mu struct {
		sync.Mutex
		lastSeen     map[ids.NodeID]time.Time // leader only: last heartbeat per broker
		stopping     bool                     // controlled shutdown: no more heartbeats
		lastContact  time.Time                // last acknowledged heartbeat of this node
		peerProblems map[ids.NodeID]string    // leader only: how a node's peer list differs from the quorum
		// provenTerm is the raft term in which this node, as leader,
		// applied a barrier: from then on its image holds everything
		// committed before its term began. A leader acts on its image
		// (registers brokers, fences, elects) only in its proven term.
		provenTerm uint64
	}
	// ready is closed once WaitReady has proven this node's image current;
	// metadata changes asked for by clients wait for it.
	ready     chan struct{}
	readyOnce sync.Once
}

// OpenRaft starts the node's raft member and controller loops.
func OpenRaft(cfg RaftConfig) (*Raft, error) {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 3 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 300 * time.Millisecond
	}
	if cfg.PreferredLeaderInterval <= 0 {
		cfg.PreferredLeaderInterval = 5 * time.Second
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create raft dir: %w", err)
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 4096
	}
	if cfg.SnapshotInterval <= 0 {
		cfg.SnapshotInterval = 2 * time.Minute
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = 10240
	}
	c := &Raft{cfg: cfg, logger: cfg.Logger, fsm: newFSM(), rpc: newRPCClient(cfg.ClientTLS), stop: make(chan struct{}), ready: make(chan struct{})}
	c.mu.lastSeen = map[ids.NodeID]time.Time{}

	ln, err := net.Listen("tcp", cfg.RaftListen)
	if err != nil {
		return nil, fmt.Errorf("listen raft on %s: %w", cfg.RaftListen, err)
	}
	if cfg.ServerTLS != nil {
		ln = tls.NewListener(ln, cfg.ServerTLS)
	}
	c.mux, err = newMux(ln, cfg.RaftAdvertise, c.logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	hl := raftLogger(c.logger, &c.quiet)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: &raftLayer{subListener{c.mux, c.mux.raftCh}, cfg.ClientTLS}, MaxPool: 3, Timeout: 5 * time.Second, Logger: hl,
	})
	c.store, err = raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		c.mux.close()
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	files, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl)
	if err != nil {
		c.closeStores()
		return nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	snaps := indexedSnapshots{SnapshotStore: files, fsm: c.fsm}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.Itoa(int(cfg.NodeID)))
	rc.HeartbeatTimeout = 500 * time.Millisecond
	rc.ElectionTimeout = 500 * time.Millisecond
	rc.LeaderLeaseTimeout = 250 * time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hl
	hasState, err := raft.HasExistingState(c.store, c.store, snaps)
	if err != nil {
		c.closeStores()
		return nil, fmt.Errorf("inspect raft state: %w", err)
	}
	c.r, err = raft.NewRaft(rc, c.fsm, c.store, c.store, snaps, trans)
	if err != nil {
		c.closeStores()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	c.http = &http.Server{Handler: c.routes(), ReadHeaderTimeout: 5 * time.Second}
	go c.http.Serve(&subListener{c.mux, c.mux.rpcCh})

	if !hasState {
		if c.existingLeader() != "" {
			c.logger.Info("joining an existing cluster; waiting to be added to the metadata quorum")
		} else {
			var servers []raft.Server
			for _, p := range cfg.Peers {
				servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(p.ID))), Address: raft.ServerAddress(p.Raft)})
			}
			if err := c.r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				c.Close()
				return nil, fmt.Errorf("bootstrap metadata quorum: %w", err)
			}
		}
	}
	c.wg.Add(3)
	go c.observeLeader()
	go c.heartbeatLoop()
	go c.leaderLoop()
	return c, nil
}

func (c *Raft) closeStores() {
	if c.store != nil {
		c.store.Close()
	}
	c.mux.close()
}

// existingLeader asks the configured peers whether a cluster with a leader
// already exists (a new node joining it must not bootstrap its own).
func (c *Raft) existingLeader() string {
	for _, p := range c.cfg.Peers {
		if p.ID == c.cfg.NodeID {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		var st statusReply
		err := c.rpc.call(ctx, p.Raft, "/status", struct{}{}, &st)
		cancel()
		if err == nil && st.Leader != "" {
			return st.Leader
		}
	}
	return ""
}

// Image implements Controller.
func (c *Raft) Image() *metadata.Image { return c.fsm.current() }

// Subscribe implements Controller.
func (c *Raft) Subscribe(fn func(prev, next *metadata.Image)) { c.fsm.subscribe(fn) }

// observeLeader keeps the published controller id current and resets
// liveness tracking when this node becomes leader.
func (c *Raft) observeLeader() {
	defer c.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	wasLeader := false
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		_, id := c.r.LeaderWithID()
		leader := ids.NoNode
		if n, err := strconv.Atoi(string(id)); err == nil {
			leader = ids.NodeID(n)
		}
		c.fsm.setLeader(leader)
		isLeader := c.r.State() == raft.Leader
		if isLeader && !wasLeader {
			if c.Image().ClusterID == "" {
				go c.propose(context.Background(), &Init{ClusterID: metadata.NewTopicID().String()})
			}
		}
		wasLeader = isLeader
	}
}

// leaderAddr returns the current leader's raft address, asking peers when
// this node does not know it (it may not be a quorum member yet).
func (c *Raft) leaderAddr() string {
	if addr, _ := c.r.LeaderWithID(); addr != "" {
		return string(addr)
	}
	return c.existingLeader()
}

// propose applies cmd through the metadata log and returns its result
// once this node has applied it. Every wait ends with ctx (a request's own
// timeout, its connection's life): a proposal handed to a leader that has
// not answered by then is ErrRequestTimedOut (it may still be applied), no
// leader reachable is ErrNotController; both are retriable.
func (c *Raft) propose(ctx context.Context, cmd command) (int64, error) {
	data, err := encodeCommand(cmd)
	if err != nil {
		return 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
	}
	backoff := 20 * time.Millisecond
	handedOver := false // a leader took the proposal and has not answered
	for {
		if c.r.State() == raft.Leader {
			f := c.r.Apply(data, enqueueTimeout(ctx))
			err := awaitFuture(ctx, f)
			switch {
			case err == nil:
				res := f.Response().(applyResult)
				return res.value, res.err
			case ctx.Err() != nil:
				return 0, fmt.Errorf("%w: metadata proposal not applied in time: %w", ErrRequestTimedOut, ctx.Err())
			case !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrEnqueueTimeout):
				return 0, fmt.Errorf("%w: %w", ErrMetadataLog, err)
			}
		} else if addr := c.leaderAddr(); addr != "" {
			var rep applyReply
			err := c.rpc.call(ctx, addr, "/apply", json.RawMessage(data), &rep)
			if err == nil {
				if werr := c.waitApplied(ctx, rep.Index); werr != nil {
					return 0, fmt.Errorf("%w: %w", ErrRequestTimedOut, werr)
				}
				return rep.Value, rep.error()
			}
			handedOver = ctx.Err() != nil && !errors.Is(err, errRPCNotLeader)
			c.logger.Debug("forwarding metadata proposal failed; retrying", "leader", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			if handedOver {
				return 0, fmt.Errorf("%w: the metadata leader did not answer in time: %w", ErrRequestTimedOut, ctx.Err())
			}
			return 0, fmt.Errorf("%w: no metadata leader reachable: %v", ErrNotController, ctx.Err())
		case <-c.stop:
			return 0, fmt.Errorf("%w: controller stopped", ErrNotController)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// enqueueTimeout is how long raft may take to accept a proposal: a few
// seconds, never past ctx's deadline.
func enqueueTimeout(ctx context.Context) time.Duration {
	d := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, max(time.Until(dl), time.Millisecond))
	}
	return d
}

// awaitFuture waits for f until ctx ends. A raft future has no channel and
// waits until the entry is applied (by every subscriber of the image), which
// a request must not wait for past its own timeout; the goroutine left
// behind ends when raft resolves the future (at the latest, at shutdown).
func awaitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitApplied waits until this node's image includes log index idx.
func (c *Raft) waitApplied(ctx context.Context, idx uint64) error {
	for {
		applied, ch := c.fsm.appliedIndex()
		if applied >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for metadata index %d: %w", idx, ctx.Err())
		}
	}
}

// WaitReady blocks until this node has caught up with the metadata log
// (catchUp) and its broker is registered and unfenced (DESIGN.md §2 rules 4
// and 9: no stale answers to clients, no action on an unproven image).
func (c *Raft) WaitReady(ctx context.Context) error {
	caughtUp := false
	for {
		var err error
		if !caughtUp {
			// Once caught up the image only moves forward: what is left
			// is waiting for this broker's registration to be applied.
			err = c.catchUp(ctx)
			caughtUp = err == nil
		}
		if caughtUp {
			if _, live := c.Image().LiveBroker(c.cfg.NodeID); live {
				c.mu.Lock()
				c.mu.lastContact = time.Now()
				c.mu.Unlock()
				c.readyOnce.Do(func() { close(c.ready) })
				return nil
			}
		} else {
			c.logger.Debug("not caught up with the metadata log yet", "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the metadata quorum: %w", ctx.Err())
		case <-c.stop:
			return fmt.Errorf("waiting for the metadata quorum: %w", ErrNotController)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// catchUp returns once this node's image holds everything the metadata
// log had committed when it was called. That bound is the leader's read
// index: a command the leader appends in its current term and has applied
// (proveLeadership), which comes after its own no-op and so after every
// entry committed in earlier terms (Raft's read-index rule; KRaft's
// "caught up to the high watermark"). Neither the leader's applied index
// (low right after an election, before the new leader applies its log)
// nor raft's AppliedIndex (it runs ahead of the FSM) will do: both let a
// restarted node act on an image without the topics created since its
// last snapshot.
func (c *Raft) catchUp(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	idx, err := c.readIndex(cctx)
	if err != nil {
		return err
	}
	return c.waitApplied(cctx, idx)
}

// readIndex returns the leader's read index: its own when this node leads,
// otherwise the leader's, asked over the raft port.
func (c *Raft) readIndex(ctx context.Context) (uint64, error) {
	if c.r.State() == raft.Leader {
		return c.proveLeadership()
	}
	addr := c.leaderAddr()
	if addr == "" {
		return 0, errors.New("no metadata leader known")
	}
	var rep readIndexReply
	if err := c.rpc.call(ctx, addr, "/readindex", struct{}{}, &rep); err != nil {
		return 0, fmt.Errorf("read index from %s: %w", addr, err)
	}
	return rep.Index, nil
}

// proveLeadership appends a read-index command as leader and returns its
// index once this node's FSM has applied it. Applying it means every entry
// before it is applied, the new leader's no-op and everything committed in
// earlier terms among them. It is a command, not a raft barrier, because
// followers compare it with what their own FSM applied, and an FSM never
// sees barrier or no-op entries. It fails when this node is not (or stops
// being) the leader.
func (c *Raft) proveLeadership() (uint64, error) {
	term := c.r.CurrentTerm()
	if c.r.State() != raft.Leader {
		return 0, raft.ErrNotLeader
	}
	data, _ := encodeCommand(&ReadIndex{})
	f := c.r.Apply(data, 2*time.Second)
	if err := f.Error(); err != nil {
		return 0, fmt.Errorf("metadata read index: %w", err)
	}
	idx := f.Index()
	if c.r.State() == raft.Leader && c.r.CurrentTerm() == term {
		c.mu.Lock()
		c.mu.provenTerm = max(c.mu.provenTerm, term)
		c.mu.Unlock()
	}
	return idx, nil
}

// leaderProven reports whether this node leads in a term it has proven
// its image current in (see proveLeadership), proving it if not yet.
func (c *Raft) leaderProven() bool {
	if c.r.State() != raft.Leader {
		return false
	}
	term := c.r.CurrentTerm()
	c.mu.Lock()
	proven := c.mu.provenTerm == term
	c.mu.Unlock()
	if proven {
		return true
	}
	_, err := c.proveLeadership()
	return err == nil && c.r.CurrentTerm() == term
}

// awaitReady blocks a client-asked metadata change until this node has
// proven its image current (WaitReady): a change computed from a stale
// image (auto-creating a topic the node does not know yet, say) must not
// be proposed.
func (c *Raft) awaitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: this node has not caught up with the metadata log: %v", ErrNotController, ctx.Err())
	case <-c.stop:
		return fmt.Errorf("%w: controller stopped", ErrNotController)
	}
}

// ControlledShutdown moves this broker's leaderships away (by fencing it)
// and hands off raft leadership, before the node stops.
func (c *Raft) ControlledShutdown(ctx context.Context) error {
	c.mu.Lock()
	c.mu.stopping = true
	c.mu.Unlock()
	c.quiet.Store(true) // the other nodes may be stopping too

	// Bounded: with no quorum reachable the node must still stop in time
	// (the others fence it when its session expires).
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.propose(pctx, &FenceBroker{BrokerID: c.cfg.NodeID})
	if c.r.State() == raft.Leader && len(c.r.GetConfiguration().Configuration().Servers) > 1 {
		if lerr := c.r.LeadershipTransfer().Error(); lerr != nil {
			c.logger.Warn("metadata leadership transfer failed", "err", lerr)
		}
	}
	return err
}

// Close stops the loops and the raft member.
func (c *Raft) Close() error {
	select {
	case <-c.stop:
		return nil
	default:
	}
	c.quiet.Store(true)
	close(c.stop)
	c.wg.Wait()
	err := c.r.Shutdown().Error()
	c.http.Close()
	c.mux.close()
	if c.store != nil {
		c.store.Close()
	}
	return err
}
