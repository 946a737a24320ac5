package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// CreateTopic implements Controller.
func (c *Raft) CreateTopic(ctx context.Context, spec TopicSpec) (*metadata.Topic, error) {
	if err := c.awaitReady(ctx); err != nil {
		return nil, err
	}
	cmd, err := createTopicCommand(c.Image(), spec)
	if err != nil {
		return nil, err
	}
	if _, err := c.propose(ctx, cmd); err != nil {
		return nil, err
	}
	return c.Image().Topics[spec.Name], nil
}

// DeleteTopic implements Controller. The command names the topic id this
// node's image has, so it never deletes a topic re-created since.
func (c *Raft) DeleteTopic(ctx context.Context, name string) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	cmd := &DeleteTopic{Topic: name}
	if t, ok := c.Image().Topics[name]; ok {
		cmd.TopicID = t.ID
	}
	_, err := c.propose(ctx, cmd)
	return err
}

// CreatePartitions implements Controller.
func (c *Raft) CreatePartitions(ctx context.Context, name string, total int32) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	cmd, err := createPartitionsCommand(c.Image(), name, total)
	if err != nil {
		return err
	}
	_, err = c.propose(ctx, cmd)
	return err
}

// AlterTopicConfigs implements Controller.
func (c *Raft) AlterTopicConfigs(ctx context.Context, name string, changes []ConfigChange, replace bool) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	_, err := c.propose(ctx, &AlterTopicConfigs{Topic: name, Changes: changes, Replace: replace})
	return err
}

// AlterBrokerConfigs implements Controller.
func (c *Raft) AlterBrokerConfigs(ctx context.Context, changes []ConfigChange, replace bool) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	_, err := c.propose(ctx, &AlterBrokerConfigs{Changes: changes, Replace: replace})
	return err
}

// AllocateProducerIDs implements Controller.
func (c *Raft) AllocateProducerIDs(ctx context.Context, n int64) (ids.ProducerID, error) {
	if err := c.awaitReady(ctx); err != nil {
		return 0, err
	}
	first, err := c.propose(ctx, &AllocateProducerIDs{N: n})
	return ids.ProducerID(first), err
}

// AlterISR implements Controller.
func (c *Raft) AlterISR(ctx context.Context, topic string, partition int32, leaderEpoch ids.LeaderEpoch, isr []ids.NodeID) error {
	_, err := c.propose(ctx, &AlterISR{Topic: topic, Partition: partition, LeaderEpoch: leaderEpoch, ISR: isr, BrokerID: c.cfg.NodeID})
	return err
}

// ReplicaOffline implements Controller.
func (c *Raft) ReplicaOffline(ctx context.Context, topic string, partition int32) error {
	_, err := c.propose(ctx, &ReplicaOffline{Topic: topic, Partition: partition, BrokerID: c.cfg.NodeID})
	return err
}

// ElectLeader implements Controller.
func (c *Raft) ElectLeader(ctx context.Context, topic string, partition int32, leader ids.NodeID) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	_, err := c.propose(ctx, &ElectLeader{Topic: topic, Partition: partition, BrokerID: leader})
	return err
}

// ElectUnclean implements Controller.
func (c *Raft) ElectUnclean(ctx context.Context, topic string, partition int32) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	_, err := c.propose(ctx, &ElectUnclean{Topic: topic, Partition: partition})
	return err
}

// Reassign implements Controller.
func (c *Raft) Reassign(ctx context.Context, topic string, partition int32, target []ids.NodeID) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	_, err := c.propose(ctx, &Reassign{Topic: topic, Partition: partition, Target: target})
	return err
}

// completeReassignments finishes every reassignment whose target replicas
// are all in sync.
func (c *Raft) completeReassignments(im *metadata.Image) {
	for _, name := range im.SortedTopicNames() {
		for _, p := range im.Topics[name].Partitions {
			if !p.Reassigning() {
				continue
			}
			ready := true
			for _, r := range p.TargetReplicas() {
				ready = ready && slices.Contains(p.ISR, r)
			}
			if !ready {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := c.propose(ctx, &CompleteReassign{Topic: name, Partition: p.Index}); err != nil {
				c.logger.Debug("completing reassignment failed", "topic", name, "partition", p.Index, "err", err)
			} else {
				c.logger.Info("reassignment completed", "topic", name, "partition", p.Index, "replicas", p.TargetReplicas())
			}
			cancel()
		}
	}
}

// Fresh reports whether this node is in touch with the metadata quorum:
// it is the leader, or its last heartbeat was acknowledged within the
// session timeout. A node that is not fresh may hold a stale image, and the
// rest of the cluster has fenced it by now (DESIGN.md §2 rule 4).
func (c *Raft) Fresh() bool {
	if c.r.State() == raft.Leader {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Since(c.mu.lastContact) < c.cfg.SessionTimeout
}

// RPC messages.
type applyReply struct {
	Index uint64 `json:"index"`
	Value int64  `json:"value"`
	Err   string `json:"err,omitempty"`
	Kind  string `json:"kind,omitempty"` // the error's sentinel, by errcode.Name
}

// setError fills r's error: its text, and its sentinel by the stable
// name errcode gives it, so the proposer gets the same sentinel back.
func (r *applyReply) setError(err error) {
	r.Err, r.Kind = err.Error(), errcode.Name(err)
}

func (r applyReply) error() error {
	if r.Err == "" {
		return nil
	}
	if s := errcode.Sentinel(r.Kind); s != nil {
		return &remoteError{msg: r.Err, sentinel: s}
	}
	return errors.New(r.Err)
}

// remoteError keeps the sentinel of an error raised on the leader.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

type heartbeatReq struct {
	Broker metadata.Broker `json:"broker"`
	Raft   string          `json:"raft"`
	// Ready is set once the node has caught up with the metadata log; only
	// then is it registered (unfenced). A node joining an existing
	// cluster heartbeats before that, so the leader adds it to the quorum
	// and it can catch up at all.
	Ready bool `json:"ready"`
	// Peers is the node's configured peer list, which the leader checks
	// against the quorum's members.
	Peers []RaftPeer `json:"peers,omitempty"`
}

// readIndexReply is the leader's read index (Raft.catchUp).
type readIndexReply struct {
	Index uint64 `json:"index"`
}

type statusReply struct {
	Leader  string `json:"leader"`
	Applied uint64 `json:"applied"`
	// LastIndex is the member's last log index (DescribeQuorum's log end
	// offset); absent from nodes older than it.
	LastIndex uint64 `json:"last_index,omitempty"`
}

func (c *Raft) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apply", c.serveApply)
	mux.HandleFunc("POST /heartbeat", c.serveHeartbeat)
	mux.HandleFunc("POST /readindex", c.serveReadIndex)
	mux.HandleFunc("POST /status", func(w http.ResponseWriter, r *http.Request) {
		addr, _ := c.r.LeaderWithID()
		applied := c.r.AppliedIndex()
		writeJSON(w, statusReply{Leader: string(addr), Applied: applied, LastIndex: c.r.LastIndex()})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// serveApply runs a forwarded proposal, an encoded command of any version
// this node reads; only the leader accepts. It appends the command in the
// current encoding.
func (c *Raft) serveApply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	var cmd command
	if err == nil {
		cmd, err = decodeCommand(body)
	}
	newer := errors.Is(err, errCommandVersion) || errors.Is(err, errUnknownCommand)
	if err != nil && !newer {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c.r.State() != raft.Leader {
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	}
	if newer {
		// A command from a newer node that this leader cannot apply
		// fails, as it would on every node of this version.
		var rep applyReply
		rep.setError(err)
		writeJSON(w, rep)
		return
	}
	data, err := encodeCommand(cmd)
	if err != nil {
		writeJSON(w, applyReply{Err: err.Error()})
		return
	}
	// Bounded by the forwarding node's request: it gives up (closing the
	// connection) at its own timeout.
	ctx := r.Context()
	f := c.r.Apply(data, enqueueTimeout(ctx))
	if err := awaitFuture(ctx, f); err != nil {
		if ctx.Err() == nil {
			w.WriteHeader(http.StatusMisdirectedRequest)
		}
		return
	}
	res := f.Response().(applyResult)
	rep := applyReply{Index: f.Index(), Value: res.value}
	if res.err != nil {
		rep.setError(res.err)
	}
	writeJSON(w, rep)
}

// serveReadIndex answers a catching-up node with the leader's read index;
// only the leader answers.
func (c *Raft) serveReadIndex(w http.ResponseWriter, r *http.Request) {
	idx, err := c.proveLeadership()
	if err != nil {
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	}
	writeJSON(w, readIndexReply{Index: idx})
}

// serveHeartbeat records a broker's liveness on the leader, registers (or
// unfences) it, and adds an unknown node to the metadata quorum.
func (c *Raft) serveHeartbeat(w http.ResponseWriter, r *http.Request) {
	var hb heartbeatReq
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&hb); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c.r.State() != raft.Leader {
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	}
	if err := c.heartbeat(r.Context(), hb); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, struct{}{})
}

func (c *Raft) heartbeat(ctx context.Context, hb heartbeatReq) error {
	c.mu.Lock()
	c.mu.lastSeen[hb.Broker.ID] = time.Now()
	c.mu.Unlock()
	id := raft.ServerID(strconv.Itoa(int(hb.Broker.ID)))
	known := false
	for _, s := range c.r.GetConfiguration().Configuration().Servers {
		if s.ID == id {
			known = true
		}
	}
	if !known && hb.Raft != "" {
		c.logger.Info("adding node to the metadata quorum", "node", hb.Broker.ID, "raft", hb.Raft)
		if err := c.r.AddVoter(id, raft.ServerAddress(hb.Raft), 0, 5*time.Second).Error(); err != nil {
			return err
		}
	}
	c.checkPeers(hb)
	if !hb.Ready {
		return nil
	}
	if !c.leaderProven() {
		return errors.New("metadata leader has not caught up with its log yet")
	}
	cur, ok := c.Image().Broker(hb.Broker.ID)
	want := hb.Broker
	want.Fenced = false
	if ok && !cur.Fenced && cur.Host == want.Host && cur.Port == want.Port && cur.Replication == want.Replication && slices.Equal(cur.Listeners, want.Listeners) && cur.Version == want.Version {
		return nil
	}
	c.logger.Info("registering broker", "node", want.ID, "kafka", want.Host+":"+strconv.Itoa(int(want.Port)), "wal", want.Replication)
	_, err := c.propose(ctx, &RegisterBroker{Broker: &want})
	return err
}

// checkPeers compares the peer list a node was configured with against the
// members of the metadata quorum, on the leader, and logs a warning (once
// per distinct difference) when the node's file gives a member another raft
// address: that node would bootstrap, rejoin or look for the leader at the
// wrong place after a restart. Entries the quorum does not have yet (a node
// about to join) are not differences.
func (c *Raft) checkPeers(hb heartbeatReq) {
	members := map[raft.ServerID]raft.ServerAddress{}
	for _, s := range c.r.GetConfiguration().Configuration().Servers {
		members[s.ID] = s.Address
	}
	var diffs []string
	for _, p := range hb.Peers {
		addr, ok := members[raft.ServerID(strconv.Itoa(int(p.ID)))]
		if ok && string(addr) != p.Raft {
			diffs = append(diffs, fmt.Sprintf("node %d at %s (the quorum has %s)", p.ID, p.Raft, addr))
		}
	}
	problem := strings.Join(diffs, "; ")
	c.mu.Lock()
	if c.mu.peerProblems == nil {
		c.mu.peerProblems = map[ids.NodeID]string{}
	}
	changed := c.mu.peerProblems[hb.Broker.ID] != problem
	if problem == "" {
		delete(c.mu.peerProblems, hb.Broker.ID)
	} else {
		c.mu.peerProblems[hb.Broker.ID] = problem
	}
	c.mu.Unlock()
	if changed && problem != "" {
		c.logger.Warn("a node's peer list disagrees with the metadata quorum; fix its config file", "node", hb.Broker.ID, "peers", problem)
	}
}

// PeerProblems returns, on the metadata leader, how each node's configured
// peer list differs from the quorum's members (see checkPeers), by node id.
func (c *Raft) PeerProblems() map[ids.NodeID]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.mu.peerProblems)
}

// heartbeatLoop sends this broker's heartbeat to the leader. It starts
// sending once the node has caught up, so registration means "ready".
func (c *Raft) heartbeatLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	ready := false
	var target uint64 // the read index to reach before registering; 0: not asked yet
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		stopping := c.mu.stopping
		c.mu.Unlock()
		if stopping {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if !ready {
			// The catch-up rule of catchUp, without blocking: heartbeats
			// must go on meanwhile (a joining node is added to the quorum
			// by them, and only then can it catch up at all).
			if target == 0 {
				if idx, err := c.readIndex(ctx); err == nil {
					target = idx
				}
			}
			applied, _ := c.fsm.appliedIndex()
			ready = target > 0 && applied >= target
		}
		{
			hb := heartbeatReq{Broker: c.cfg.Self, Raft: c.cfg.RaftAdvertise, Ready: ready, Peers: c.cfg.Peers}
			err := errors.New("no metadata leader known")
			if c.r.State() == raft.Leader {
				err = c.heartbeat(ctx, hb)
			} else if addr := c.leaderAddr(); addr != "" {
				err = c.rpc.call(ctx, addr, "/heartbeat", hb, &struct{}{})
			}
			if err != nil {
				c.logger.Debug("heartbeat failed", "err", err)
			} else if ready {
				c.mu.Lock()
				c.mu.lastContact = time.Now()
				c.mu.Unlock()
			}
		}
		cancel()
	}
}

// leaderLoop, on the leader, fences brokers that missed their session and
// restores preferred leaders.
func (c *Raft) leaderLoop() {
	defer c.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	lastPreferred := time.Now()
	wasLeader := false
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if c.r.State() != raft.Leader {
			if wasLeader {
				c.mu.Lock()
				c.mu.peerProblems = nil // only the leader checks peer lists
				c.mu.Unlock()
			}
			wasLeader = false
			continue
		}
		if !wasLeader {
			// A new term: heartbeats seen in an earlier term say nothing
			// about now; every broker gets a full session from here.
			wasLeader = true
			c.mu.Lock()
			c.mu.lastSeen = map[ids.NodeID]time.Time{}
			c.mu.peerProblems = nil // rebuilt from this term's heartbeats
			c.mu.Unlock()
		}
		if !c.leaderProven() {
			continue // decide nothing on an image that may be stale
		}
		now := time.Now()
		im := c.Image()
		var expired []ids.NodeID
		c.mu.Lock()
		for _, b := range im.Brokers {
			last, seen := c.mu.lastSeen[b.ID]
			if !seen {
				c.mu.lastSeen[b.ID] = now // grace after a leader change
				continue
			}
			if !b.Fenced && now.Sub(last) > c.cfg.SessionTimeout {
				expired = append(expired, b.ID)
			}
		}
		c.mu.Unlock()
		for _, id := range expired {
			c.logger.Warn("broker missed its session; fencing it and moving its leaderships", "node", id, "session", c.cfg.SessionTimeout)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := c.propose(ctx, &FenceBroker{BrokerID: id}); err != nil {
				c.logger.Warn("fencing failed", "node", id, "err", err)
			}
			cancel()
		}
		c.completeReassignments(im)
		if now.Sub(lastPreferred) >= c.cfg.PreferredLeaderInterval {
			lastPreferred = now
			c.electPreferred(im)
		}
	}
}

// electPreferred moves leadership back to each partition's first replica
// when it is live and in sync (auto.leader.rebalance in Kafka).
func (c *Raft) electPreferred(im *metadata.Image) {
	for _, name := range im.SortedTopicNames() {
		for _, p := range im.Topics[name].Partitions {
			pref := p.Replicas[0]
			if p.Reassigning() || p.Leader == pref || !slices.Contains(p.ISR, pref) {
				continue
			}
			if _, live := im.LiveBroker(pref); !live {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if _, err := c.propose(ctx, &ElectLeader{Topic: name, Partition: p.Index, BrokerID: pref}); err != nil {
				c.logger.Debug("preferred leader election failed", "topic", name, "partition", p.Index, "err", err)
			}
			cancel()
		}
	}
}

// QuorumState is this member's view of the metadata quorum, for metrics.
type QuorumState struct {
	Role         string // Leader, Follower, Candidate, Shutdown
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // applied to this node's image (the FSM's own count)
	LastIndex    uint64
}

// Quorum returns this member's state.
func (c *Raft) Quorum() QuorumState {
	st := c.r.Stats()
	num := func(k string) uint64 { v, _ := strconv.ParseUint(st[k], 10, 64); return v }
	applied, _ := c.fsm.appliedIndex()
	return QuorumState{
		Role:         c.r.State().String(),
		Term:         num("term"),
		CommitIndex:  num("commit_index"),
		AppliedIndex: applied,
		LastIndex:    num("last_log_index"),
	}
}

// DescribeQuorum describes the metadata quorum as Kafka's DescribeQuorum
// does: the leader, its term, the committed index, and each voter's last
// log index, asked of the voters themselves (hashicorp/raft does not
// expose a leader's view of its followers). A voter that does not answer
// within a second is listed with -1.
func (c *Raft) DescribeQuorum(ctx context.Context) (QuorumInfo, error) {
	q := c.Quorum()
	_, leaderID := c.r.LeaderWithID()
	info := QuorumInfo{LeaderID: ids.NoNode, LeaderEpoch: int32(q.Term), HighWatermark: int64(q.CommitIndex)}
	if id, err := strconv.Atoi(string(leaderID)); err == nil {
		info.LeaderID = ids.NodeID(id)
	}
	fut := c.r.GetConfiguration()
	if err := fut.Error(); err != nil {
		return info, err
	}
	now := time.Now().UnixMilli()
	for _, srv := range fut.Configuration().Servers {
		id, err := strconv.Atoi(string(srv.ID))
		if err != nil {
			continue
		}
		v := QuorumVoter{ID: ids.NodeID(id), LogEndOffset: -1, LastFetch: -1, LastCaughtUp: -1}
		if ids.NodeID(id) == c.cfg.NodeID {
			v.LogEndOffset, v.LastFetch = int64(q.LastIndex), now
		} else {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			var st statusReply
			if err := c.rpc.call(pctx, string(srv.Address), "/status", struct{}{}, &st); err == nil {
				v.LogEndOffset, v.LastFetch = int64(max(st.LastIndex, st.Applied)), now
			}
			cancel()
		}
		if v.LogEndOffset >= info.HighWatermark {
			v.LastCaughtUp = v.LastFetch
		}
		info.Voters = append(info.Voters, v)
	}
	return info, nil
}
