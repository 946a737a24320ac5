package controller

import (
	"fmt"
	"math/rand/v2"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// The proposer side of the commands that need choices apply must not make:
// a new topic's id and the placement of new replicas are chosen here, from
// the proposer's image, and carried in the command, so that every node
// applies the same thing (apply.go stays deterministic).

// createTopicCommand validates a spec against im and chooses the topic id
// and replica placement.
func createTopicCommand(im *metadata.Image, spec TopicSpec) (*CreateTopic, error) {
	if !ValidTopicName(spec.Name) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidTopic, spec.Name)
	}
	if spec.Partitions < 1 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, spec.Partitions)
	}
	if _, ok := im.Topics[spec.Name]; ok {
		return nil, fmt.Errorf("%w: %s", ErrTopicExists, spec.Name)
	}
	assignment := spec.Assignment
	if assignment == nil {
		var err error
		if assignment, err = placeReplicas(im, spec.Partitions, spec.ReplicationFactor); err != nil {
			return nil, err
		}
	}
	return &CreateTopic{Topic: spec.Name, TopicID: metadata.NewTopicID(), Internal: spec.Internal || metadata.IsInternal(spec.Name), Configs: spec.Configs, Assignment: assignment}, nil
}

// createPartitionsCommand places the partitions that grow a topic to total,
// with as many replicas each as its first partition has.
func createPartitionsCommand(im *metadata.Image, name string, total int32) (*CreatePartitions, error) {
	t, ok := im.Topics[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	cur := int32(len(t.Partitions))
	if total <= cur {
		return nil, fmt.Errorf("%w: topic %s has %d partitions, cannot grow to %d", ErrInvalidPartitions, name, cur, total)
	}
	assignment, err := placeReplicas(im, total-cur, int16(len(t.Partitions[0].Replicas)))
	if err != nil {
		return nil, err
	}
	return &CreatePartitions{Topic: name, Assignment: assignment}, nil
}

// placeReplicas assigns n new partitions with rf replicas each over the
// live brokers, round robin from a random start as Kafka does, so leaders
// spread across nodes.
func placeReplicas(im *metadata.Image, n int32, rf int16) ([][]ids.NodeID, error) {
	live := im.LiveBrokers()
	if int(rf) > len(live) || rf < 1 {
		return nil, fmt.Errorf("%w: replication factor %d larger than available brokers: %d", ErrInvalidReplicationFactor, rf, len(live))
	}
	start := rand.IntN(len(live))
	out := make([][]ids.NodeID, n)
	for p := range out {
		reps := make([]ids.NodeID, rf)
		for j := range reps {
			reps[j] = live[(start+p+j)%len(live)].ID
		}
		out[p] = reps
	}
	return out, nil
}
