package controller

import (
	"context"
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
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/strom-broker/strom/internal/metadata"
)

// RaftConfig configures the replicated controller of one node.
type RaftConfig struct {
	NodeID        int32
	Self          metadata.Broker // Kafka and WAL addresses as advertised
	RaftListen    string
	RaftAdvertise string
	Peers         []RaftPeer // every node of the initial cluster, self included
	Dir           string
	Logger        *slog.Logger

	// SessionTimeout is how long a broker may go without a heartbeat
	// before it is fenced; HeartbeatInterval how often brokers send one.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// PreferredLeaderInterval is how often the leader moves leadership
	// back to preferred replicas.
	PreferredLeaderInterval time.Duration
}

// RaftPeer is one metadata-quorum member.
type RaftPeer struct {
	ID   int32
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
		lastSeen     map[int32]time.Time // leader only: last heartbeat per broker
		stopping     bool                // controlled shutdown: no more heartbeats
		lastContact  time.Time           // last acknowledged heartbeat of this node
		peerProblems map[int32]string    // leader only: how a node's peer list differs from the quorum
	}
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
	c := &Raft{cfg: cfg, logger: cfg.Logger, fsm: newFSM(), rpc: newRPCClient(), stop: make(chan struct{})}
	c.mu.lastSeen = map[int32]time.Time{}

	ln, err := net.Listen("tcp", cfg.RaftListen)
	if err != nil {
		return nil, fmt.Errorf("listen raft on %s: %w", cfg.RaftListen, err)
	}
	c.mux, err = newMux(ln, cfg.RaftAdvertise, c.logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: slogWriter{c.logger}, Level: hclog.Info})
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: &raftLayer{subListener{c.mux, c.mux.raftCh}}, MaxPool: 3, Timeout: 5 * time.Second, Logger: hl,
	})
	c.store, err = raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		c.mux.close()
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl)
	if err != nil {
		c.closeStores()
		return nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.Itoa(int(cfg.NodeID)))
	rc.HeartbeatTimeout = 500 * time.Millisecond
	rc.ElectionTimeout = 500 * time.Millisecond
	rc.LeaderLeaseTimeout = 250 * time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
	rc.SnapshotThreshold = 4096
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
		leader := int32(-1)
		if n, err := strconv.Atoi(string(id)); err == nil {
			leader = int32(n)
		}
		c.fsm.setLeader(leader)
		isLeader := c.r.State() == raft.Leader
		if isLeader && !wasLeader {
			if c.Image().ClusterID == "" {
				go c.propose(context.Background(), &Command{Op: opInit, ClusterID: metadata.NewTopicID().String()})
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
// once this node has applied it.
func (c *Raft) propose(ctx context.Context, cmd *Command) (int64, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
	}
	backoff := 20 * time.Millisecond
	for {
		if c.r.State() == raft.Leader {
			f := c.r.Apply(data, 5*time.Second)
			if err := f.Error(); err == nil {
				res := f.Response().(applyResult)
				return res.value, res.err
			} else if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrEnqueueTimeout) {
				return 0, fmt.Errorf("metadata log: %w", err)
			}
		} else if addr := c.leaderAddr(); addr != "" {
			var rep applyReply
			err := c.rpc.call(ctx, addr, "/apply", cmd, &rep)
			if err == nil {
				if werr := c.waitApplied(ctx, rep.Index); werr != nil {
					return 0, werr
				}
				return rep.Value, rep.error()
			}
			c.logger.Debug("forwarding metadata proposal failed; retrying", "leader", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: no metadata leader reachable: %v", ErrNotController, ctx.Err())
		case <-c.stop:
			return 0, fmt.Errorf("%w: controller stopped", ErrNotController)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
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
// and its broker is registered and unfenced (DESIGN.md §2 rule 4: no stale
// answers to clients).
func (c *Raft) WaitReady(ctx context.Context) error {
	for {
		err := c.catchUp(ctx)
		if err == nil {
			if _, live := c.Image().LiveBroker(c.cfg.NodeID); live {
				c.mu.Lock()
				c.mu.lastContact = time.Now()
				c.mu.Unlock()
				return nil
			}
		} else {
			c.logger.Debug("not caught up with the metadata log yet", "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the metadata quorum: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Raft) catchUp(ctx context.Context) error {
	if c.r.State() == raft.Leader {
		return c.r.Barrier(2 * time.Second).Error()
	}
	addr := c.leaderAddr()
	if addr == "" {
		return errors.New("no leader")
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var st statusReply
	if err := c.rpc.call(cctx, addr, "/status", struct{}{}, &st); err != nil {
		return err
	}
	// Raft's applied index counts no-op and configuration entries, which
	// the FSM never sees; poll it rather than the FSM's.
	for c.r.AppliedIndex() < st.Applied {
		select {
		case <-cctx.Done():
			return fmt.Errorf("catch up to metadata index %d: %w", st.Applied, cctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// ControlledShutdown moves this broker's leaderships away (by fencing it)
// and hands off raft leadership, before the node stops.
func (c *Raft) ControlledShutdown(ctx context.Context) error {
	c.mu.Lock()
	c.mu.stopping = true
	c.mu.Unlock()
	// Bounded: with no quorum reachable the node must still stop in time
	// (the others fence it when its session expires).
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.propose(pctx, &Command{Op: opFenceBroker, BrokerID: c.cfg.NodeID})
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
