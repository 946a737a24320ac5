package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/strom-broker/strom/internal/metadata"
)

// metadataFile is the single-node metadata store inside the data dir.
const metadataFile = "cluster-metadata.json"

// Local is the single-node controller. Its state is one JSON document
// (docs/storage-format.md) rewritten with write-temp, fsync, rename, fsync
// dir on every change, so a crash leaves either the old or the new image.
type Local struct {
	dir  string
	self metadata.Broker

	mu struct {
		sync.Mutex
		image *metadata.Image
		subs  []func(prev, next *metadata.Image)
	}
}

// persisted is the on-disk form of the image.
type persisted struct {
	Version        int             `json:"version"`
	ClusterID      string          `json:"cluster_id"`
	NextProducerID int64           `json:"next_producer_id"`
	Topics         []*persistTopic `json:"topics"`
	// BrokerConfigs are the cluster-wide dynamic broker defaults.
	BrokerConfigs map[string]string `json:"broker_configs,omitempty"`
}

type persistTopic struct {
	Name       string               `json:"name"`
	ID         metadata.TopicID     `json:"id"`
	Internal   bool                 `json:"internal,omitempty"`
	Configs    map[string]string    `json:"configs,omitempty"`
	Partitions []metadata.Partition `json:"partitions"`
}

// OpenLocal loads (or creates) the single-node metadata in dir. self is
// this node as clients reach it.
func OpenLocal(dir string, self metadata.Broker) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create metadata dir: %w", err)
	}
	c := &Local{dir: dir, self: self}
	im := &metadata.Image{
		ControllerID:   self.ID,
		Brokers:        []metadata.Broker{self},
		Topics:         map[string]*metadata.Topic{},
		TopicsByID:     map[metadata.TopicID]*metadata.Topic{},
		NextProducerID: 0,
		BrokerConfigs:  map[string]string{},
	}
	raw, err := os.ReadFile(filepath.Join(dir, metadataFile))
	switch {
	case err == nil:
		var p persisted
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, metadataFile), err)
		}
		im.ClusterID = p.ClusterID
		im.NextProducerID = p.NextProducerID
		for k, v := range p.BrokerConfigs {
			im.BrokerConfigs[k] = v
		}
		for _, pt := range p.Topics {
			t := &metadata.Topic{Name: pt.Name, ID: pt.ID, Internal: pt.Internal, Configs: pt.Configs, Partitions: pt.Partitions}
			if t.Configs == nil {
				t.Configs = map[string]string{}
			}
			// The node id may have changed between runs of a single node:
			// leadership is always ours.
			for i := range t.Partitions {
				t.Partitions[i].Leader = self.ID
				t.Partitions[i].Replicas = []int32{self.ID}
				t.Partitions[i].ISR = []int32{self.ID}
			}
			im.Topics[t.Name] = t
			im.TopicsByID[t.ID] = t
		}
	case os.IsNotExist(err):
		id := metadata.NewTopicID()
		im.ClusterID = id.String()
		if err := c.persist(im); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	c.mu.image = im
	return c, nil
}

func (c *Local) persist(im *metadata.Image) error {
	p := persisted{Version: 1, ClusterID: im.ClusterID, NextProducerID: im.NextProducerID, BrokerConfigs: im.BrokerConfigs}
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		p.Topics = append(p.Topics, &persistTopic{Name: t.Name, ID: t.ID, Internal: t.Internal, Configs: t.Configs, Partitions: t.Partitions})
	}
	raw, err := json.MarshalIndent(&p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	return writeFileAtomic(filepath.Join(c.dir, metadataFile), raw)
}

// writeFileAtomic replaces path with data so that a crash at any point
// leaves the old or the new content, never a mix.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", filepath.Dir(path), err)
	}
	return nil
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

func (c *Local) newPartition(i int32) metadata.Partition {
	return metadata.Partition{Index: i, Leader: c.self.ID, LeaderEpoch: 0, Replicas: []int32{c.self.ID}, ISR: []int32{c.self.ID}}
}

// CreateTopic implements Controller.
func (c *Local) CreateTopic(_ context.Context, spec TopicSpec) (*metadata.Topic, error) {
	if !ValidTopicName(spec.Name) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidTopic, spec.Name)
	}
	if spec.Partitions < 1 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, spec.Partitions)
	}
	if spec.ReplicationFactor < 1 || int(spec.ReplicationFactor) > 1 {
		return nil, fmt.Errorf("%w: %d larger than available brokers: 1", ErrInvalidReplicationFactor, spec.ReplicationFactor)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.image.Topics[spec.Name]; ok {
		return nil, fmt.Errorf("%w: %s", ErrTopicExists, spec.Name)
	}
	next := c.mu.image.Clone()
	t := &metadata.Topic{Name: spec.Name, ID: metadata.NewTopicID(), Internal: spec.Internal, Configs: map[string]string{}}
	for k, v := range spec.Configs {
		t.Configs[k] = v
	}
	for i := int32(0); i < spec.Partitions; i++ {
		t.Partitions = append(t.Partitions, c.newPartition(i))
	}
	next.Topics[t.Name] = t
	next.TopicsByID[t.ID] = t
	if err := c.commitLocked(next); err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTopic implements Controller.
func (c *Local) DeleteTopic(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.mu.image.Topics[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	next := c.mu.image.Clone()
	delete(next.Topics, name)
	delete(next.TopicsByID, t.ID)
	return c.commitLocked(next)
}

// CreatePartitions implements Controller.
func (c *Local) CreatePartitions(_ context.Context, name string, total int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.mu.image.Topics[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if total <= int32(len(t.Partitions)) {
		return fmt.Errorf("%w: topic %s has %d partitions, cannot grow to %d", ErrInvalidPartitions, name, len(t.Partitions), total)
	}
	next := c.mu.image.Clone()
	nt := next.Topics[name]
	for i := int32(len(nt.Partitions)); i < total; i++ {
		nt.Partitions = append(nt.Partitions, c.newPartition(i))
	}
	return c.commitLocked(next)
}

// AlterTopicConfigs implements Controller. Values must already be valid.
func (c *Local) AlterTopicConfigs(_ context.Context, name string, changes []ConfigChange, replace bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.image.Topics[name]; !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	next := c.mu.image.Clone()
	nt := next.Topics[name]
	if replace {
		nt.Configs = map[string]string{}
	}
	for _, ch := range changes {
		if ch.Value == nil {
			delete(nt.Configs, ch.Name)
		} else {
			nt.Configs[ch.Name] = *ch.Value
		}
	}
	return c.commitLocked(next)
}

// AlterBrokerConfigs implements Controller.
func (c *Local) AlterBrokerConfigs(_ context.Context, changes []ConfigChange, replace bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.mu.image.Clone()
	if replace {
		next.BrokerConfigs = map[string]string{}
	}
	for _, ch := range changes {
		if ch.Value == nil {
			delete(next.BrokerConfigs, ch.Name)
		} else {
			next.BrokerConfigs[ch.Name] = *ch.Value
		}
	}
	return c.commitLocked(next)
}

// AllocateProducerIDs implements Controller.
func (c *Local) AllocateProducerIDs(_ context.Context, n int64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.mu.image.Clone()
	first := next.NextProducerID
	next.NextProducerID += n
	if err := c.commitLocked(next); err != nil {
		return 0, err
	}
	return first, nil
}
