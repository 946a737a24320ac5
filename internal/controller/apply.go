package controller

import (
	"fmt"
	"slices"
	"sort"

	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// command is one metadata change, as proposed to the metadata log: one
// type per kind of change, holding only that change's inputs. Every input
// that is not a function of the image (topic ids, replica placement) is
// chosen by the proposer (propose.go) and carried in the command, so that
// applying it is deterministic on every node. How commands are written to
// the log is in command_codec.go.
type command interface {
	// op is the command's type tag in the metadata log.
	op() string
	// apply returns the image after the command, and a numeric result for
	// commands that have one (AllocateProducerIDs: the first id). im is
	// never modified; a command that changes nothing may return it.
	apply(im *metadata.Image) (*metadata.Image, int64, error)
}

// Type tags of the commands in the metadata log (docs/storage-format.md).
const (
	opInit               = "init"
	opCreateTopic        = "create_topic"
	opDeleteTopic        = "delete_topic"
	opCreatePartitions   = "create_partitions"
	opAlterTopicConfigs  = "alter_topic_configs"
	opAlterBrokerConfigs = "alter_broker_configs"
	opAllocateProducerID = "allocate_producer_ids"
	opRegisterBroker     = "register_broker"
	opFenceBroker        = "fence_broker"
	opAlterISR           = "alter_isr"
	opElectLeader        = "elect_leader"
	opElectUnclean       = "elect_unclean"
	opReassign           = "reassign"
	opCompleteReassign   = "complete_reassign"
	opReadIndex          = "read_index"
	opReplicaOffline     = "replica_offline"
)

// Errors of cluster operations (defined in errcode).
var (
	ErrStaleLeaderEpoch = errcode.ErrStaleLeaderEpoch
	ErrInvalidISR       = errcode.ErrInvalidISR
	ErrNotInISR         = errcode.ErrNotInISR
	// ErrNoEligibleLeader: an unclean election found no live replica.
	ErrNoEligibleLeader  = errcode.ErrNoEligibleLeader
	ErrUnknownBroker     = errcode.ErrUnknownBroker
	ErrElectionNotNeeded = errcode.ErrElectionNotNeeded
	ErrNoReassignment    = errcode.ErrNoReassignment
	// ErrMetadataLog: the metadata log did not take a change.
	ErrMetadataLog = errcode.ErrMetadataLog
	// ErrRequestTimedOut: a proposal outlived its request's timeout.
	ErrRequestTimedOut = errcode.ErrRequestTimedOut
)

// Init names the cluster; the first leader proposes it when the image
// has no cluster id yet, and only the first one applied counts.
type Init struct {
	ClusterID string `json:"cluster_id,omitempty"`
}

func (*Init) op() string { return opInit }

func (c *Init) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	next := im.Clone()
	if next.ClusterID == "" {
		next.ClusterID = c.ClusterID
	}
	return next, 0, nil
}

// ReadIndex changes nothing: the leader appends one to learn an index that
// every node's FSM applies, so "this node applied it" means "this node's
// image holds everything committed before it" (Raft.proveLeadership).
type ReadIndex struct{}

func (*ReadIndex) op() string { return opReadIndex }

func (*ReadIndex) apply(im *metadata.Image) (*metadata.Image, int64, error) { return im, 0, nil }

// CreateTopic creates a topic with the id and replica assignment the
// proposer chose (createTopicCommand).
type CreateTopic struct {
	Topic      string            `json:"topic,omitempty"`
	TopicID    metadata.TopicID  `json:"topic_id,omitzero"`
	Internal   bool              `json:"internal,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	Assignment [][]ids.NodeID    `json:"assignment,omitempty"`
}

func (*CreateTopic) op() string { return opCreateTopic }

func (c *CreateTopic) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	if !ValidTopicName(c.Topic) {
		return nil, 0, fmt.Errorf("%w: %q", ErrInvalidTopic, c.Topic)
	}
	if _, ok := im.Topics[c.Topic]; ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrTopicExists, c.Topic)
	}
	if _, ok := im.TopicsByID[c.TopicID]; ok || c.TopicID.IsZero() {
		return nil, 0, fmt.Errorf("%w: bad topic id for %s", ErrInvalidTopic, c.Topic)
	}
	if len(c.Assignment) == 0 {
		return nil, 0, fmt.Errorf("%w: 0", ErrInvalidPartitions)
	}
	if err := checkAssignment(im, c.Assignment); err != nil {
		return nil, 0, err
	}
	next := im.Clone()
	t := &metadata.Topic{Name: c.Topic, ID: c.TopicID, Internal: c.Internal, Configs: map[string]string{}}
	for k, v := range c.Configs {
		t.Configs[k] = v
	}
	for i, reps := range c.Assignment {
		t.Partitions = append(t.Partitions, newPartition(next, int32(i), reps))
	}
	next.Topics[t.Name] = t
	next.TopicsByID[t.ID] = t
	return next, 0, nil
}

// DeleteTopic deletes a topic. TopicID is the id the proposer saw: a topic
// re-created under the same name since is another topic and stays. A zero
// TopicID (the single-node controller, or a proposer that did not know
// the topic) deletes whatever topic has the name.
type DeleteTopic struct {
	Topic   string           `json:"topic,omitempty"`
	TopicID metadata.TopicID `json:"topic_id,omitzero"`
}

func (*DeleteTopic) op() string { return opDeleteTopic }

func (c *DeleteTopic) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	t, ok := im.Topics[c.Topic]
	if !ok || (!c.TopicID.IsZero() && c.TopicID != t.ID) {
		return nil, 0, fmt.Errorf("%w: %s", ErrUnknownTopic, c.Topic)
	}
	next := im.Clone()
	delete(next.Topics, c.Topic)
	delete(next.TopicsByID, t.ID)
	return next, 0, nil
}

// CreatePartitions appends partitions to a topic, one per Assignment
// entry (placed by the proposer, createPartitionsCommand).
type CreatePartitions struct {
	Topic      string         `json:"topic,omitempty"`
	Assignment [][]ids.NodeID `json:"assignment,omitempty"`
}

func (*CreatePartitions) op() string { return opCreatePartitions }

func (c *CreatePartitions) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	t, ok := im.Topics[c.Topic]
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrUnknownTopic, c.Topic)
	}
	if len(c.Assignment) == 0 {
		return nil, 0, fmt.Errorf("%w: topic %s already has %d partitions", ErrInvalidPartitions, c.Topic, len(t.Partitions))
	}
	if err := checkAssignment(im, c.Assignment); err != nil {
		return nil, 0, err
	}
	next := im.Clone()
	nt := next.Topics[c.Topic]
	for _, reps := range c.Assignment {
		nt.Partitions = append(nt.Partitions, newPartition(next, int32(len(nt.Partitions)), reps))
	}
	return next, 0, nil
}

// AlterTopicConfigs changes a topic's config overrides; Replace drops
// every override first (the legacy AlterConfigs semantics).
type AlterTopicConfigs struct {
	Topic   string         `json:"topic,omitempty"`
	Changes []ConfigChange `json:"changes,omitempty"`
	Replace bool           `json:"replace,omitempty"`
}

func (*AlterTopicConfigs) op() string { return opAlterTopicConfigs }

func (c *AlterTopicConfigs) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	if _, ok := im.Topics[c.Topic]; !ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrUnknownTopic, c.Topic)
	}
	next := im.Clone()
	nt := next.Topics[c.Topic]
	nt.Configs = applyChanges(nt.Configs, c.Changes, c.Replace)
	electUnclean(next, nt)
	return next, 0, nil
}

// AlterBrokerConfigs changes the cluster-wide dynamic broker defaults;
// Replace drops every one first.
type AlterBrokerConfigs struct {
	Changes []ConfigChange `json:"changes,omitempty"`
	Replace bool           `json:"replace,omitempty"`
}

func (*AlterBrokerConfigs) op() string { return opAlterBrokerConfigs }

func (c *AlterBrokerConfigs) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	next := im.Clone()
	next.BrokerConfigs = applyChanges(next.BrokerConfigs, c.Changes, c.Replace)
	for _, t := range next.Topics {
		electUnclean(next, t)
	}
	return next, 0, nil
}

// electUnclean gives each leaderless partition of t whose ISR has no live
// member its first live replica as leader, with an ISR of that replica
// alone and a new epoch, when t allows unclean leader election (Kafka's
// controller does so for leaderless partitions once the config allows
// it). The new leader may lack acknowledged records: that is the trade
// unclean.leader.election.enable makes.
func electUnclean(next *metadata.Image, t *metadata.Topic) {
	if !next.UncleanLeaderElection(t) {
		return
	}
	for pi := range t.Partitions {
		p := &t.Partitions[pi]
		if _, live := next.LiveBroker(p.Leader); live {
			continue
		}
		if slices.ContainsFunc(p.ISR, func(r ids.NodeID) bool { _, live := next.LiveBroker(r); return live }) {
			continue
		}
		for _, r := range p.Replicas {
			if _, live := next.LiveBroker(r); live {
				p.Leader, p.ISR = r, []ids.NodeID{r}
				p.LeaderEpoch++
				break
			}
		}
	}
}

// ConfigsAfter returns the overrides a topic with overrides cur would have
// after changes, leaving cur as it is.
func ConfigsAfter(cur map[string]string, changes []ConfigChange, replace bool) map[string]string {
	m := make(map[string]string, len(cur))
	if !replace {
		for k, v := range cur {
			m[k] = v
		}
	}
	return applyChanges(m, changes, false)
}

func applyChanges(m map[string]string, changes []ConfigChange, replace bool) map[string]string {
	if replace || m == nil {
		m = map[string]string{}
	}
	for _, ch := range changes {
		if ch.Value == nil {
			delete(m, ch.Name)
		} else {
			m[ch.Name] = *ch.Value
		}
	}
	return m
}

// AllocateProducerIDs reserves N consecutive producer ids; its result is
// the first.
type AllocateProducerIDs struct {
	N int64 `json:"n,omitempty"`
}

func (*AllocateProducerIDs) op() string { return opAllocateProducerID }

func (c *AllocateProducerIDs) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	next := im.Clone()
	first := next.NextProducerID
	next.NextProducerID += ids.ProducerID(c.N)
	return next, int64(first), nil
}

// RegisterBroker adds or refreshes a broker and unfences it. A partition
// left without a leader gets this broker back as leader when it was the
// last member of the ISR, or, when its topic allows unclean leader
// election and no ISR member is alive, when it is a replica.
type RegisterBroker struct {
	Broker *metadata.Broker `json:"broker,omitempty"`
}

func (*RegisterBroker) op() string { return opRegisterBroker }

func (c *RegisterBroker) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	if c.Broker == nil {
		return nil, 0, fmt.Errorf("register: no broker")
	}
	next := im.Clone()
	b := *c.Broker
	b.Fenced = false
	i := sort.Search(len(next.Brokers), func(i int) bool { return next.Brokers[i].ID >= b.ID })
	if i < len(next.Brokers) && next.Brokers[i].ID == b.ID {
		next.Brokers[i] = b
	} else {
		next.Brokers = slices.Insert(next.Brokers, i, b)
	}
	for _, t := range next.Topics {
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			if p.Leader == -1 && slices.Contains(p.ISR, b.ID) {
				p.Leader = b.ID
				p.LeaderEpoch++
			}
		}
		electUnclean(next, t)
	}
	return next, 0, nil
}

// FenceBroker fences a broker: it leaves every ISR it can leave (not the
// last member: that one stays so that no unclean leader is chosen), and
// its leaderships move to the next live in-sync replica in replica order,
// with a new leader epoch; none left means leader -1, unless the topic
// allows unclean leader election: then the first live replica leads with
// an ISR of itself.
type FenceBroker struct {
	BrokerID ids.NodeID `json:"broker_id,omitempty"`
}

func (*FenceBroker) op() string { return opFenceBroker }

func (c *FenceBroker) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	id := c.BrokerID
	if _, ok := im.Broker(id); !ok {
		return nil, 0, fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	}
	next := im.Clone()
	for i := range next.Brokers {
		if next.Brokers[i].ID == id {
			next.Brokers[i].Fenced = true
		}
	}
	for _, t := range next.Topics {
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			if len(p.ISR) > 1 {
				p.ISR = slices.DeleteFunc(p.ISR, func(r ids.NodeID) bool { return r == id })
			}
			if p.Leader != id {
				continue
			}
			p.Leader = ids.NoNode
			for _, r := range p.Replicas {
				if _, live := next.LiveBroker(r); live && slices.Contains(p.ISR, r) {
					p.Leader = r
					break
				}
			}
			if p.Leader == ids.NoNode && next.UncleanLeaderElection(t) {
				for _, r := range p.Replicas {
					if _, live := next.LiveBroker(r); live {
						p.Leader, p.ISR = r, []ids.NodeID{r}
						break
					}
				}
			}
			p.LeaderEpoch++
		}
	}
	return next, 0, nil
}

// AlterISR is a partition leader's ISR change (Kafka's AlterPartition):
// BrokerID is the leader asking, at LeaderEpoch.
type AlterISR struct {
	Topic       string          `json:"topic,omitempty"`
	Partition   int32           `json:"partition,omitempty"`
	BrokerID    ids.NodeID      `json:"broker_id,omitempty"`
	LeaderEpoch ids.LeaderEpoch `json:"leader_epoch,omitempty"`
	ISR         []ids.NodeID    `json:"isr,omitempty"`
}

func (*AlterISR) op() string { return opAlterISR }

func (c *AlterISR) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	t, err := findPartition(im, c.Topic, c.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[c.Partition]
	if cur.Leader != c.BrokerID || cur.LeaderEpoch != c.LeaderEpoch {
		return nil, 0, fmt.Errorf("%w: %s-%d leader %d epoch %d, request from %d at epoch %d", ErrStaleLeaderEpoch, c.Topic, c.Partition, cur.Leader, cur.LeaderEpoch, c.BrokerID, c.LeaderEpoch)
	}
	if !slices.Contains(c.ISR, cur.Leader) {
		return nil, 0, fmt.Errorf("%w: ISR %v does not contain the leader %d", ErrInvalidISR, c.ISR, cur.Leader)
	}
	for _, r := range c.ISR {
		if !slices.Contains(cur.Replicas, r) {
			return nil, 0, fmt.Errorf("%w: %d is not a replica", ErrInvalidISR, r)
		}
		if _, live := im.LiveBroker(r); !live {
			return nil, 0, fmt.Errorf("%w: broker %d is fenced", ErrInvalidISR, r)
		}
	}
	next := im.Clone()
	np := &next.Topics[c.Topic].Partitions[c.Partition]
	np.ISR = append([]ids.NodeID(nil), c.ISR...)
	return next, 0, nil
}

// ReplicaOffline is a broker's report that its replica of a partition can
// no longer be trusted: a sync of its log failed, or recovery found the log
// damaged below its end (Kafka's broker reports an offline log directory in
// its heartbeat, and the controller handles every replica in it this way).
// The broker leaves the ISR unless it is the last member (which stays, so
// that no unclean leader is chosen, as FenceBroker does), and if it leads,
// leadership moves to the next live in-sync replica in replica order with
// a new leader epoch; none left means leader -1 until the broker registers
// again after a restart. A report for a replica already out of the ISR and
// not leading changes nothing.
type ReplicaOffline struct {
	Topic     string     `json:"topic,omitempty"`
	Partition int32      `json:"partition,omitempty"`
	BrokerID  ids.NodeID `json:"broker_id,omitempty"`
}

func (*ReplicaOffline) op() string { return opReplicaOffline }

func (c *ReplicaOffline) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	t, err := findPartition(im, c.Topic, c.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[c.Partition]
	if !slices.Contains(cur.Replicas, c.BrokerID) {
		return nil, 0, fmt.Errorf("%w: %d is not a replica of %s-%d", ErrInvalidISR, c.BrokerID, c.Topic, c.Partition)
	}
	inISR := slices.Contains(cur.ISR, c.BrokerID)
	if cur.Leader != c.BrokerID && (!inISR || len(cur.ISR) == 1) {
		return im, 0, nil
	}
	next := im.Clone()
	p := &next.Topics[c.Topic].Partitions[c.Partition]
	if len(p.ISR) > 1 {
		p.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r ids.NodeID) bool { return r == c.BrokerID })
	}
	if p.Leader == c.BrokerID {
		p.Leader = ids.NoNode
		for _, r := range p.Replicas {
			if _, live := next.LiveBroker(r); live && r != c.BrokerID && slices.Contains(p.ISR, r) {
				p.Leader = r
				break
			}
		}
		p.LeaderEpoch++
	}
	return next, 0, nil
}

// ElectLeader moves leadership to BrokerID, which must be a live in-sync
// replica (preferred-leader election).
type ElectLeader struct {
	Topic     string     `json:"topic,omitempty"`
	Partition int32      `json:"partition,omitempty"`
	BrokerID  ids.NodeID `json:"broker_id,omitempty"`
}

func (*ElectLeader) op() string { return opElectLeader }

func (c *ElectLeader) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	t, err := findPartition(im, c.Topic, c.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[c.Partition]
	if cur.Leader == c.BrokerID {
		return nil, 0, fmt.Errorf("%w: %d already leads %s-%d", ErrElectionNotNeeded, c.BrokerID, c.Topic, c.Partition)
	}
	if _, live := im.LiveBroker(c.BrokerID); !live || !slices.Contains(cur.ISR, c.BrokerID) {
		return nil, 0, fmt.Errorf("%w: broker %d for %s-%d", ErrNotInISR, c.BrokerID, c.Topic, c.Partition)
	}
	next := im.Clone()
	np := &next.Topics[c.Topic].Partitions[c.Partition]
	np.Leader = c.BrokerID
	np.LeaderEpoch++
	return next, 0, nil
}

// ElectUnclean gives a leaderless partition to its first live replica
// even though it may be missing acknowledged data (Kafka's unclean
// election, only on explicit request).
type ElectUnclean struct {
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition,omitempty"`
}

func (*ElectUnclean) op() string { return opElectUnclean }

func (c *ElectUnclean) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	t, err := findPartition(im, c.Topic, c.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[c.Partition]
	if _, live := im.LiveBroker(cur.Leader); live {
		return nil, 0, fmt.Errorf("%w: %s-%d has leader %d", ErrElectionNotNeeded, c.Topic, c.Partition, cur.Leader)
	}
	for _, r := range cur.Replicas {
		if _, live := im.LiveBroker(r); live {
			next := im.Clone()
			np := &next.Topics[c.Topic].Partitions[c.Partition]
			np.Leader, np.ISR = r, []ids.NodeID{r}
			np.LeaderEpoch++
			return next, 0, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: no live replica of %s-%d", ErrNoEligibleLeader, c.Topic, c.Partition)
}

// Reassign starts moving a partition to Target, or cancels an ongoing
// move when Target is nil. While it runs, Replicas is target ∪ old so the
// new replicas replicate; CompleteReassign finishes it once they are all
// in sync. (In the log, Target is written as a one-entry "assignment",
// command_codec.go.)
type Reassign struct {
	Topic     string
	Partition int32
	Target    []ids.NodeID
}

func (*Reassign) op() string { return opReassign }

func (c *Reassign) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	t, err := findPartition(im, c.Topic, c.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[c.Partition]
	next := im.Clone()
	np := &next.Topics[c.Topic].Partitions[c.Partition]
	// The replicas before any ongoing reassignment.
	orig := slices.DeleteFunc(append([]ids.NodeID(nil), cur.Replicas...), func(r ids.NodeID) bool { return slices.Contains(cur.Adding, r) })
	if c.Target == nil {
		if !cur.Reassigning() {
			return nil, 0, fmt.Errorf("%w: %s-%d", ErrNoReassignment, c.Topic, c.Partition)
		}
		np.Replicas, np.Adding, np.Removing = orig, nil, nil
		np.ISR = slices.DeleteFunc(np.ISR, func(r ids.NodeID) bool { return !slices.Contains(orig, r) })
		return next, 0, nil
	}
	target := c.Target
	if err := checkAssignment(im, [][]ids.NodeID{target}); err != nil {
		return nil, 0, err
	}
	np.Replicas, np.Adding, np.Removing = append([]ids.NodeID(nil), target...), nil, nil
	for _, r := range target {
		if !slices.Contains(orig, r) {
			np.Adding = append(np.Adding, r)
		}
	}
	for _, r := range orig {
		if !slices.Contains(target, r) {
			np.Replicas = append(np.Replicas, r)
			np.Removing = append(np.Removing, r)
		}
	}
	return next, 0, nil
}

// CompleteReassign finishes a reassignment whose target replicas are all
// in sync; leadership moves when the leader is not a target replica.
type CompleteReassign struct {
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition,omitempty"`
}

func (*CompleteReassign) op() string { return opCompleteReassign }

func (c *CompleteReassign) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	t, err := findPartition(im, c.Topic, c.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[c.Partition]
	if !cur.Reassigning() {
		return nil, 0, fmt.Errorf("%w: %s-%d", ErrNoReassignment, c.Topic, c.Partition)
	}
	target := cur.TargetReplicas()
	for _, r := range target {
		if !slices.Contains(cur.ISR, r) {
			return nil, 0, fmt.Errorf("%w: target replica %d of %s-%d not in sync yet", ErrNotInISR, r, c.Topic, c.Partition)
		}
	}
	next := im.Clone()
	np := &next.Topics[c.Topic].Partitions[c.Partition]
	np.Replicas, np.Adding, np.Removing = target, nil, nil
	np.ISR = slices.DeleteFunc(np.ISR, func(r ids.NodeID) bool { return !slices.Contains(target, r) })
	if !slices.Contains(target, np.Leader) {
		np.Leader = ids.NoNode
		for _, r := range target {
			if _, live := next.LiveBroker(r); live && slices.Contains(np.ISR, r) {
				np.Leader = r
				break
			}
		}
		np.LeaderEpoch++
	}
	return next, 0, nil
}

// newPartition starts a partition led by its first live replica, with
// every live replica in the ISR.
func newPartition(im *metadata.Image, index int32, replicas []ids.NodeID) metadata.Partition {
	p := metadata.Partition{Index: index, Leader: ids.NoNode, LeaderEpoch: 0, Replicas: append([]ids.NodeID(nil), replicas...)}
	for _, id := range replicas {
		if _, ok := im.LiveBroker(id); ok {
			p.ISR = append(p.ISR, id)
			if p.Leader == -1 {
				p.Leader = id
			}
		}
	}
	if len(p.ISR) == 0 {
		p.ISR = []ids.NodeID{replicas[0]}
	}
	return p
}

func checkAssignment(im *metadata.Image, assignment [][]ids.NodeID) error {
	for i, reps := range assignment {
		if len(reps) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, i)
		}
		seen := map[ids.NodeID]bool{}
		for _, id := range reps {
			if _, ok := im.Broker(id); !ok {
				return fmt.Errorf("%w: broker %d is not registered", ErrInvalidReplicaAssignment, id)
			}
			if seen[id] {
				return fmt.Errorf("%w: broker %d repeated in partition %d", ErrInvalidReplicaAssignment, id, i)
			}
			seen[id] = true
		}
	}
	return nil
}

func findPartition(im *metadata.Image, topic string, part int32) (*metadata.Topic, error) {
	t, ok := im.Topics[topic]
	if !ok || part < 0 || int(part) >= len(t.Partitions) {
		return nil, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, topic, part)
	}
	return t, nil
}
