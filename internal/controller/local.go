package controller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/vfs"
)

// metadataFile is the single-node metadata store inside the data dir.
const metadataFile = "cluster-metadata.json"

// Local is the single-node controller. Its state is one JSON document
// (docs/storage-format.md) rewritten with write-temp, fsync, rename, fsync
// dir on every change (vfs.WriteAtomic), so a crash leaves either the old
// or the new image. A change that cannot be written is not applied.
type Local struct {
	dir  string
	fs   vfs.FS
	self metadata.Broker

	mu struct {
		sync.Mutex
		image *metadata.Image
		subs  []func(prev, next *metadata.Image)
	}
}

// OpenLocal loads (or creates) the single-node metadata in dir. self is
// this node as clients reach it.
func OpenLocal(dir string, self metadata.Broker) (*Local, error) {
	return openLocal(vfs.Default, dir, self)
}

func openLocal(fsys vfs.FS, dir string, self metadata.Broker) (*Local, error) {
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create metadata dir: %w", err)
	}
	c := &Local{dir: dir, fs: fsys, self: self}
	var im *metadata.Image
	raw, err := vfs.ReadFile(fsys, filepath.Join(dir, metadataFile))
	switch {
	case err == nil:
		if im, err = decodeImage(raw); err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, metadataFile), err)
		}
		// The node id or address may have changed between runs of a
		// single node: it is the only broker and leads everything.
		for _, t := range im.Topics {
			for i := range t.Partitions {
				t.Partitions[i].Leader = self.ID
				t.Partitions[i].Replicas = []ids.NodeID{self.ID}
				t.Partitions[i].ISR = []ids.NodeID{self.ID}
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		im = emptyImage()
		im.ClusterID = metadata.NewTopicID().String()
	default:
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	im.ControllerID = self.ID
	im.Brokers = []metadata.Broker{self}
	if err := c.persist(im); err != nil {
		return nil, err
	}
	c.mu.image = im
	return c, nil
}

func (c *Local) persist(im *metadata.Image) error {
	raw, err := encodeImage(im)
	if err != nil {
		return err
	}
	return vfs.WriteAtomic(c.fs, filepath.Join(c.dir, metadataFile), raw, vfs.Durable)
}

// Image implements Controller.
func (c *Local) Image() *metadata.Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.image
}

// Subscribe implements Controller.
func (c *Local) Subscribe(fn func(prev, next *metadata.Image)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.subs = append(c.mu.subs, fn)
	fn(nil, c.mu.image)
}

// commitLocked persists next and publishes it.
func (c *Local) commitLocked(next *metadata.Image) error {
	if err := c.persist(next); err != nil {
		return err
	}
	prev := c.mu.image
	c.mu.image = next
	for _, fn := range c.mu.subs {
		fn(prev, next)
	}
	return nil
}

// apply runs one command against the current image, persists and
// publishes the result.
func (c *Local) apply(cmd command) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next, res, err := cmd.apply(c.mu.image)
	if err != nil {
		return 0, err
	}
	if next == c.mu.image {
		return res, nil
	}
	return res, c.commitLocked(next)
}

// CreateTopic implements Controller.
func (c *Local) CreateTopic(_ context.Context, spec TopicSpec) (*metadata.Topic, error) {
	cmd, err := createTopicCommand(c.Image(), spec)
	if err != nil {
		return nil, err
	}
	if _, err := c.apply(cmd); err != nil {
		return nil, err
	}
	return c.Image().Topics[spec.Name], nil
}

// DeleteTopic implements Controller.
func (c *Local) DeleteTopic(_ context.Context, name string) error {
	_, err := c.apply(&DeleteTopic{Topic: name})
	return err
}

// CreatePartitions implements Controller.
func (c *Local) CreatePartitions(_ context.Context, name string, total int32) error {
	cmd, err := createPartitionsCommand(c.Image(), name, total)
	if err != nil {
		return err
	}
	_, err = c.apply(cmd)
	return err
}

// AlterTopicConfigs implements Controller. Values must already be valid.
func (c *Local) AlterTopicConfigs(_ context.Context, name string, changes []ConfigChange, replace bool) error {
	_, err := c.apply(&AlterTopicConfigs{Topic: name, Changes: changes, Replace: replace})
	return err
}

// AlterBrokerConfigs implements Controller.
func (c *Local) AlterBrokerConfigs(_ context.Context, changes []ConfigChange, replace bool) error {
	_, err := c.apply(&AlterBrokerConfigs{Changes: changes, Replace: replace})
	return err
}

// AllocateProducerIDs implements Controller.
func (c *Local) AllocateProducerIDs(_ context.Context, n int64) (ids.ProducerID, error) {
	first, err := c.apply(&AllocateProducerIDs{N: n})
	return ids.ProducerID(first), err
}

// AlterISR implements Controller. A single node is its own only replica,
// so the ISR can only be itself.
func (c *Local) AlterISR(_ context.Context, topic string, partition int32, leaderEpoch ids.LeaderEpoch, isr []ids.NodeID) error {
	_, err := c.apply(&AlterISR{Topic: topic, Partition: partition, LeaderEpoch: leaderEpoch, ISR: isr, BrokerID: c.self.ID})
	return err
}

// ReplicaOffline implements Controller: a single node is the only
// replica, leadership has nowhere to go, and the image is left as it is.
func (c *Local) ReplicaOffline(context.Context, string, int32) error { return nil }

// ElectLeader implements Controller.
func (c *Local) ElectLeader(_ context.Context, topic string, partition int32, leader ids.NodeID) error {
	_, err := c.apply(&ElectLeader{Topic: topic, Partition: partition, BrokerID: leader})
	return err
}

// Fresh implements Controller: a single node is its own quorum.
func (c *Local) Fresh() bool { return true }

// DescribeQuorum implements Controller: a single node is its own quorum,
// always caught up.
func (c *Local) DescribeQuorum(context.Context) (QuorumInfo, error) {
	self := c.Image().ControllerID
	now := time.Now().UnixMilli()
	return QuorumInfo{LeaderID: self, LeaderEpoch: 1, HighWatermark: 0,
		Voters: []QuorumVoter{{ID: self, LogEndOffset: 0, LastFetch: now, LastCaughtUp: now}}}, nil
}

// ElectUnclean implements Controller.
func (c *Local) ElectUnclean(_ context.Context, topic string, partition int32) error {
	_, err := c.apply(&ElectUnclean{Topic: topic, Partition: partition})
	return err
}

// Reassign implements Controller. A single node can only move a
// partition to itself, which completes at once.
func (c *Local) Reassign(_ context.Context, topic string, partition int32, target []ids.NodeID) error {
	if _, err := c.apply(&Reassign{Topic: topic, Partition: partition, Target: target}); err != nil {
		return err
	}
	if target != nil && c.Image().Topics[topic].Partitions[partition].Reassigning() {
		_, err := c.apply(&CompleteReassign{Topic: topic, Partition: partition})
		return err
	}
	return nil
}
