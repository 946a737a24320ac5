package controller

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/strom-broker/strom/internal/metadata"
)

// Command is one metadata change, as proposed to the metadata log. Every
// input that is not a function of the image (topic ids, replica
// placement) is chosen by the proposer and carried in the command, so that
// applying it is deterministic on every node.
type Command struct {
	Op          string            `json:"op"`
	Topic       string            `json:"topic,omitempty"`
	TopicID     metadata.TopicID  `json:"topic_id,omitempty"`
	Partition   int32             `json:"partition,omitempty"`
	Internal    bool              `json:"internal,omitempty"`
	Configs     map[string]string `json:"configs,omitempty"`
	Assignment  [][]int32         `json:"assignment,omitempty"`
	Changes     []ConfigChange    `json:"changes,omitempty"`
	Replace     bool              `json:"replace,omitempty"`
	N           int64             `json:"n,omitempty"`
	Broker      *metadata.Broker  `json:"broker,omitempty"`
	BrokerID    int32             `json:"broker_id,omitempty"`
	LeaderEpoch int32             `json:"leader_epoch,omitempty"`
	ISR         []int32           `json:"isr,omitempty"`
	ClusterID   string            `json:"cluster_id,omitempty"`
}

// Command ops.
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
	// opReadIndex changes nothing: the leader appends one to learn an
	// index that every node's FSM applies, so "this node applied it" means
	// "this node's image holds everything committed before it"
	// (Raft.proveLeadership).
	opReadIndex = "read_index"
)

// Errors of cluster operations.
var (
	ErrStaleLeaderEpoch  = errors.New("stale leader epoch")
	ErrInvalidISR        = errors.New("invalid ISR")
	ErrNotInISR          = errors.New("preferred leader is not in the ISR")
	ErrUnknownBroker     = errors.New("unknown broker")
	ErrElectionNotNeeded = errors.New("election not needed")
	ErrNoReassignment    = errors.New("no reassignment in progress")
)

// sentinels lets errors cross the wire by name (forwarded proposals).
var sentinels = map[string]error{
	"topic_exists":        ErrTopicExists,
	"unknown_topic":       ErrUnknownTopic,
	"invalid_partitions":  ErrInvalidPartitions,
	"invalid_replication": ErrInvalidReplicationFactor,
	"invalid_topic":       ErrInvalidTopic,
	"invalid_assignment":  ErrInvalidReplicaAssignment,
	"not_controller":      ErrNotController,
	"stale_leader_epoch":  ErrStaleLeaderEpoch,
	"invalid_isr":         ErrInvalidISR,
	"not_in_isr":          ErrNotInISR,
	"unknown_broker":      ErrUnknownBroker,
}

func sentinelName(err error) string {
	for name, s := range sentinels {
		if errors.Is(err, s) {
			return name
		}
	}
	return ""
}

// applyCommand returns the image after cmd, and a numeric result for ops
// that have one (allocate_producer_ids: the first id). im is not modified.
func applyCommand(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	switch cmd.Op {
	case opInit:
		next := im.Clone()
		if next.ClusterID == "" {
			next.ClusterID = cmd.ClusterID
		}
		return next, 0, nil
	case opCreateTopic:
		return applyCreateTopic(im, cmd)
	case opReadIndex:
		return im, 0, nil
	case opDeleteTopic:
		t, ok := im.Topics[cmd.Topic]
		// A deletion names the topic id it saw: one re-created under the
		// same name since is another topic and stays.
		if !ok || (!cmd.TopicID.IsZero() && cmd.TopicID != t.ID) {
			return nil, 0, fmt.Errorf("%w: %s", ErrUnknownTopic, cmd.Topic)
		}
		next := im.Clone()
		delete(next.Topics, cmd.Topic)
		delete(next.TopicsByID, t.ID)
		return next, 0, nil
	case opCreatePartitions:
		return applyCreatePartitions(im, cmd)
	case opAlterTopicConfigs:
		if _, ok := im.Topics[cmd.Topic]; !ok {
			return nil, 0, fmt.Errorf("%w: %s", ErrUnknownTopic, cmd.Topic)
		}
		next := im.Clone()
		nt := next.Topics[cmd.Topic]
		nt.Configs = applyChanges(nt.Configs, cmd.Changes, cmd.Replace)
		return next, 0, nil
	case opAlterBrokerConfigs:
		next := im.Clone()
		next.BrokerConfigs = applyChanges(next.BrokerConfigs, cmd.Changes, cmd.Replace)
		return next, 0, nil
	case opAllocateProducerID:
		next := im.Clone()
		first := next.NextProducerID
		next.NextProducerID += cmd.N
		return next, first, nil
	case opRegisterBroker:
		return applyRegisterBroker(im, cmd)
	case opFenceBroker:
		return applyFenceBroker(im, cmd.BrokerID)
	case opAlterISR:
		return applyAlterISR(im, cmd)
	case opElectLeader:
		return applyElectLeader(im, cmd)
	case opElectUnclean:
		return applyElectUnclean(im, cmd)
	case opReassign:
		return applyReassign(im, cmd)
	case opCompleteReassign:
		return applyCompleteReassign(im, cmd)
	}
	return nil, 0, fmt.Errorf("unknown metadata command %q", cmd.Op)
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

// newPartition starts a partition led by its first live replica, with
// every live replica in the ISR.
func newPartition(im *metadata.Image, index int32, replicas []int32) metadata.Partition {
	p := metadata.Partition{Index: index, Leader: -1, LeaderEpoch: 0, Replicas: append([]int32(nil), replicas...)}
	for _, id := range replicas {
		if _, ok := im.LiveBroker(id); ok {
			p.ISR = append(p.ISR, id)
			if p.Leader == -1 {
				p.Leader = id
			}
		}
	}
	if len(p.ISR) == 0 {
		p.ISR = []int32{replicas[0]}
	}
	return p
}

func checkAssignment(im *metadata.Image, assignment [][]int32) error {
	for i, reps := range assignment {
		if len(reps) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, i)
		}
		seen := map[int32]bool{}
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

func applyCreateTopic(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	if !ValidTopicName(cmd.Topic) {
		return nil, 0, fmt.Errorf("%w: %q", ErrInvalidTopic, cmd.Topic)
	}
	if _, ok := im.Topics[cmd.Topic]; ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrTopicExists, cmd.Topic)
	}
	if _, ok := im.TopicsByID[cmd.TopicID]; ok || cmd.TopicID.IsZero() {
		return nil, 0, fmt.Errorf("%w: bad topic id for %s", ErrInvalidTopic, cmd.Topic)
	}
	if len(cmd.Assignment) == 0 {
		return nil, 0, fmt.Errorf("%w: 0", ErrInvalidPartitions)
	}
	if err := checkAssignment(im, cmd.Assignment); err != nil {
		return nil, 0, err
	}
	next := im.Clone()
	t := &metadata.Topic{Name: cmd.Topic, ID: cmd.TopicID, Internal: cmd.Internal, Configs: map[string]string{}}
	for k, v := range cmd.Configs {
		t.Configs[k] = v
	}
	for i, reps := range cmd.Assignment {
		t.Partitions = append(t.Partitions, newPartition(next, int32(i), reps))
	}
	next.Topics[t.Name] = t
	next.TopicsByID[t.ID] = t
	return next, 0, nil
}

func applyCreatePartitions(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	t, ok := im.Topics[cmd.Topic]
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrUnknownTopic, cmd.Topic)
	}
	if len(cmd.Assignment) == 0 {
		return nil, 0, fmt.Errorf("%w: topic %s already has %d partitions", ErrInvalidPartitions, cmd.Topic, len(t.Partitions))
	}
	if err := checkAssignment(im, cmd.Assignment); err != nil {
		return nil, 0, err
	}
	next := im.Clone()
	nt := next.Topics[cmd.Topic]
	for _, reps := range cmd.Assignment {
		nt.Partitions = append(nt.Partitions, newPartition(next, int32(len(nt.Partitions)), reps))
	}
	return next, 0, nil
}

// applyRegisterBroker adds or refreshes a broker and unfences it. A
// partition left without a leader gets this broker back as leader when it
// was the last member of the ISR (no unclean election).
func applyRegisterBroker(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	if cmd.Broker == nil {
		return nil, 0, fmt.Errorf("register: no broker")
	}
	next := im.Clone()
	b := *cmd.Broker
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
	}
	return next, 0, nil
}

// applyFenceBroker fences a broker: it leaves every ISR it can leave (not
// the last member: that one stays so that no unclean leader is chosen),
// and its leaderships move to the next live in-sync replica in replica
// order, with a new leader epoch; none left means leader -1.
func applyFenceBroker(im *metadata.Image, id int32) (*metadata.Image, int64, error) {
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
				p.ISR = slices.DeleteFunc(p.ISR, func(r int32) bool { return r == id })
			}
			if p.Leader != id {
				continue
			}
			p.Leader = -1
			for _, r := range p.Replicas {
				if _, live := next.LiveBroker(r); live && slices.Contains(p.ISR, r) {
					p.Leader = r
					break
				}
			}
			p.LeaderEpoch++
		}
	}
	return next, 0, nil
}

func findPartition(im *metadata.Image, topic string, part int32) (*metadata.Topic, error) {
	t, ok := im.Topics[topic]
	if !ok || part < 0 || int(part) >= len(t.Partitions) {
		return nil, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, topic, part)
	}
	return t, nil
}

// applyAlterISR is the leader's ISR change (Kafka's AlterPartition).
func applyAlterISR(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	t, err := findPartition(im, cmd.Topic, cmd.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[cmd.Partition]
	if cur.Leader != cmd.BrokerID || cur.LeaderEpoch != cmd.LeaderEpoch {
		return nil, 0, fmt.Errorf("%w: %s-%d leader %d epoch %d, request from %d at epoch %d", ErrStaleLeaderEpoch, cmd.Topic, cmd.Partition, cur.Leader, cur.LeaderEpoch, cmd.BrokerID, cmd.LeaderEpoch)
	}
	if !slices.Contains(cmd.ISR, cur.Leader) {
		return nil, 0, fmt.Errorf("%w: ISR %v does not contain the leader %d", ErrInvalidISR, cmd.ISR, cur.Leader)
	}
	for _, r := range cmd.ISR {
		if !slices.Contains(cur.Replicas, r) {
			return nil, 0, fmt.Errorf("%w: %d is not a replica", ErrInvalidISR, r)
		}
		if _, live := im.LiveBroker(r); !live {
			return nil, 0, fmt.Errorf("%w: broker %d is fenced", ErrInvalidISR, r)
		}
	}
	next := im.Clone()
	np := &next.Topics[cmd.Topic].Partitions[cmd.Partition]
	np.ISR = append([]int32(nil), cmd.ISR...)
	return next, 0, nil
}

// applyElectLeader moves leadership to cmd.BrokerID, which must be a live
// in-sync replica (preferred-leader election).
func applyElectLeader(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	t, err := findPartition(im, cmd.Topic, cmd.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[cmd.Partition]
	if cur.Leader == cmd.BrokerID {
		return nil, 0, fmt.Errorf("%w: %d already leads %s-%d", ErrElectionNotNeeded, cmd.BrokerID, cmd.Topic, cmd.Partition)
	}
	if _, live := im.LiveBroker(cmd.BrokerID); !live || !slices.Contains(cur.ISR, cmd.BrokerID) {
		return nil, 0, fmt.Errorf("%w: broker %d for %s-%d", ErrNotInISR, cmd.BrokerID, cmd.Topic, cmd.Partition)
	}
	next := im.Clone()
	np := &next.Topics[cmd.Topic].Partitions[cmd.Partition]
	np.Leader = cmd.BrokerID
	np.LeaderEpoch++
	return next, 0, nil
}

// placeReplicas assigns n new partitions with rf replicas each over the
// live brokers, round robin from a random start as Kafka does, so leaders
// spread across nodes.
func placeReplicas(im *metadata.Image, n int32, rf int16) ([][]int32, error) {
	live := im.LiveBrokers()
	if int(rf) > len(live) || rf < 1 {
		return nil, fmt.Errorf("%w: replication factor %d larger than available brokers: %d", ErrInvalidReplicationFactor, rf, len(live))
	}
	start := rand.IntN(len(live))
	out := make([][]int32, n)
	for p := range out {
		reps := make([]int32, rf)
		for j := range reps {
			reps[j] = live[(start+p+j)%len(live)].ID
		}
		out[p] = reps
	}
	return out, nil
}

// applyElectUnclean gives a leaderless partition to its first live
// replica even though it may be missing acknowledged data (Kafka's unclean
// election, only on explicit request).
func applyElectUnclean(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	t, err := findPartition(im, cmd.Topic, cmd.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[cmd.Partition]
	if _, live := im.LiveBroker(cur.Leader); live {
		return nil, 0, fmt.Errorf("%w: %s-%d has leader %d", ErrElectionNotNeeded, cmd.Topic, cmd.Partition, cur.Leader)
	}
	for _, r := range cur.Replicas {
		if _, live := im.LiveBroker(r); live {
			next := im.Clone()
			np := &next.Topics[cmd.Topic].Partitions[cmd.Partition]
			np.Leader, np.ISR = r, []int32{r}
			np.LeaderEpoch++
			return next, 0, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: no live replica of %s-%d", ErrNotInISR, cmd.Topic, cmd.Partition)
}

// applyReassign starts (Assignment[0] = target) or cancels (no
// Assignment) a reassignment. While it runs, Replicas is target ∪ old so
// the new replicas replicate; applyCompleteReassign finishes it once they
// are all in sync.
func applyReassign(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	t, err := findPartition(im, cmd.Topic, cmd.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[cmd.Partition]
	next := im.Clone()
	np := &next.Topics[cmd.Topic].Partitions[cmd.Partition]
	// The replicas before any ongoing reassignment.
	orig := slices.DeleteFunc(append([]int32(nil), cur.Replicas...), func(r int32) bool { return slices.Contains(cur.Adding, r) })
	if len(cmd.Assignment) == 0 {
		if !cur.Reassigning() {
			return nil, 0, fmt.Errorf("%w: %s-%d", ErrNoReassignment, cmd.Topic, cmd.Partition)
		}
		np.Replicas, np.Adding, np.Removing = orig, nil, nil
		np.ISR = slices.DeleteFunc(np.ISR, func(r int32) bool { return !slices.Contains(orig, r) })
		return next, 0, nil
	}
	target := cmd.Assignment[0]
	if err := checkAssignment(im, [][]int32{target}); err != nil {
		return nil, 0, err
	}
	np.Replicas, np.Adding, np.Removing = append([]int32(nil), target...), nil, nil
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

func applyCompleteReassign(im *metadata.Image, cmd *Command) (*metadata.Image, int64, error) {
	t, err := findPartition(im, cmd.Topic, cmd.Partition)
	if err != nil {
		return nil, 0, err
	}
	cur := t.Partitions[cmd.Partition]
	if !cur.Reassigning() {
		return nil, 0, fmt.Errorf("%w: %s-%d", ErrNoReassignment, cmd.Topic, cmd.Partition)
	}
	target := cur.TargetReplicas()
	for _, r := range target {
		if !slices.Contains(cur.ISR, r) {
			return nil, 0, fmt.Errorf("%w: target replica %d of %s-%d not in sync yet", ErrNotInISR, r, cmd.Topic, cmd.Partition)
		}
	}
	next := im.Clone()
	np := &next.Topics[cmd.Topic].Partitions[cmd.Partition]
	np.Replicas, np.Adding, np.Removing = target, nil, nil
	np.ISR = slices.DeleteFunc(np.ISR, func(r int32) bool { return !slices.Contains(target, r) })
	if !slices.Contains(target, np.Leader) {
		np.Leader = -1
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
