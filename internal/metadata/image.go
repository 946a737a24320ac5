// Package metadata holds the immutable cluster metadata image: brokers,
// topics with ids, partition replicas, leaders, leader epochs, ISR and topic
// configs. An Image is never modified after it is published; the controller
// builds a new one for every change and hands it to readers atomically, so
// every request handled by a broker sees one consistent view (DESIGN.md §2
// rule 1).
package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"

	"github.com/strom-broker/strom/internal/ids"
)

// TopicID is a Kafka topic UUID.
type TopicID [16]byte

// IsZero reports whether the id is the all-zero (unset) UUID.
func (id TopicID) IsZero() bool { return id == TopicID{} }

// String renders the id the way Kafka does: URL-safe base64 without padding.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseTopicID reads an id in the form String writes.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("topic id %q: not 16 bytes of unpadded URL-safe base64", s)
	}
	copy(id[:], b)
	return id, nil
}

// NewTopicID returns a random id that is neither zero nor Kafka's reserved
// metadata topic id (all zero but the last byte 1).
func NewTopicID() TopicID {
	for {
		var id TopicID
		rand.Read(id[:]) // never fails (crypto/rand, Go 1.24+)
		reserved := TopicID{15: 1}
		if !id.IsZero() && id != reserved {
			return id
		}
	}
}

// Broker is one registered node: its Kafka listener as clients reach it
// and its replication listener as other nodes reach it.
type Broker struct {
	ID   ids.NodeID
	Host string
	Port int32
	Rack *string `json:",omitempty"`
	// Replication is the advertised host:port of the replication listener
	// (cluster mode only; "wal" in config files and "WAL" in the metadata
	// log and snapshots, names kept from before).
	Replication string `json:"WAL,omitempty"`
	// Fenced brokers missed their session (or shut down); they lead
	// nothing, are in no ISR of a replicated partition, and are left out
	// of Metadata answers.
	Fenced bool `json:",omitempty"`
	// Listeners are the broker's named Kafka listeners as clients reach
	// them (Kafka's advertised.listeners); Host and Port are the first.
	// Empty for brokers registered before listeners were recorded: every
	// listener name then answers with Host and Port.
	Listeners []Endpoint `json:",omitempty"`
	// Version is the software version the broker registered with (for
	// the console; Kafka has no API for it). Empty for brokers registered
	// before versions were recorded.
	Version string `json:",omitempty"`
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name     string
	Host     string
	Port     int32
	Protocol string `json:",omitempty"` // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
}

// Address returns the host and port clients that came in on the named
// listener should use for b: that listener's advertised address, or Host
// and Port when b has no listener of that name (a broker registered
// before listeners were recorded, or the name is empty).
func (b Broker) Address(listener string) (string, int32) {
	for _, ep := range b.Listeners {
		if ep.Name == listener {
			return ep.Host, ep.Port
		}
	}
	return b.Host, b.Port
}

// ScramCredential is one user's salted SCRAM credential for one mechanism
// (RFC 5802): the password itself is never stored.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// Partition is the replica assignment and leadership of one partition.
type Partition struct {
	Index       int32
	Leader      ids.NodeID // ids.NoNode: no live leader
	LeaderEpoch ids.LeaderEpoch
	Replicas    []ids.NodeID
	ISR         []ids.NodeID
	// Adding and Removing describe an ongoing reassignment (Kafka's
	// KIP-455 fields): Replicas is then target ∪ old, Adding the target
	// replicas that were not replicas before, Removing the old ones not in
	// the target. It completes when every target replica is in the ISR.
	Adding   []ids.NodeID `json:",omitempty"`
	Removing []ids.NodeID `json:",omitempty"`
}

// Reassigning reports whether a reassignment is in progress.
func (p Partition) Reassigning() bool { return len(p.Adding) > 0 || len(p.Removing) > 0 }

// TargetReplicas is the replica set a reassignment moves to (Replicas
// when none is in progress).
func (p Partition) TargetReplicas() []ids.NodeID {
	out := make([]ids.NodeID, 0, len(p.Replicas))
	for _, r := range p.Replicas {
		removing := false
		for _, x := range p.Removing {
			removing = removing || x == r
		}
		if !removing {
			out = append(out, r)
		}
	}
	return out
}

// Topic is one topic and its partitions (Partitions[i].Index == i).
type Topic struct {
	Name       string
	ID         TopicID
	Partitions []Partition
	Configs    map[string]string // overrides only; defaults come from the broker
	Internal   bool
}

// Image is one published version of the cluster metadata.
type Image struct {
	ClusterID    string
	ControllerID ids.NodeID
	Brokers      []Broker // sorted by ID
	Topics       map[string]*Topic
	TopicsByID   map[TopicID]*Topic
	// NextProducerID is the first producer id not yet handed out.
	NextProducerID ids.ProducerID
	// BrokerConfigs are the cluster-wide dynamic broker defaults, by
	// Kafka broker key (log.retention.ms, message.max.bytes, ...); they
	// sit between topic overrides and the static node config.
	BrokerConfigs map[string]string
	// ScramCredentials are the SASL/SCRAM users: user name, then mechanism
	// name (SCRAM-SHA-256, SCRAM-SHA-512). Nil when there are none.
	ScramCredentials map[string]map[string]ScramCredential
	// ACLs are the access control entries (Kafka's ACL bindings), each
	// at most once, in the order they were created. Nil when there are
	// none.
	ACLs []ACL
	// ClientQuotas are the client quotas (Kafka's ClientQuotaRecord):
	// entity, then quota key (producer_byte_rate, ...) and value. Nil
	// when there are none.
	ClientQuotas map[QuotaEntity]map[string]float64
	// FromSnapshot marks an image published straight from a metadata
	// snapshot (a node restoring one at start or being sent one when it
	// fell behind), not by applying records to the image before it: the
	// difference from the previous image is not a sequence of changes, so
	// a topic missing from it is not proof of a deletion (partition data
	// is then set aside, never removed). Never persisted, never cloned.
	FromSnapshot bool
}

// LiveBroker returns the broker with the given id if it is not fenced.
func (im *Image) LiveBroker(id ids.NodeID) (Broker, bool) {
	b, ok := im.Broker(id)
	if !ok || b.Fenced {
		return Broker{}, false
	}
	return b, true
}

// LiveBrokers returns the unfenced brokers, sorted by id.
func (im *Image) LiveBrokers() []Broker {
	out := make([]Broker, 0, len(im.Brokers))
	for _, b := range im.Brokers {
		if !b.Fenced {
			out = append(out, b)
		}
	}
	return out
}

// Broker returns the registered broker with the given id, fenced or not.
func (im *Image) Broker(id ids.NodeID) (Broker, bool) {
	for _, b := range im.Brokers {
		if b.ID == id {
			return b, true
		}
	}
	return Broker{}, false
}

// SortedTopicNames returns topic names in lexical order, for stable answers.
func (im *Image) SortedTopicNames() []string {
	names := make([]string, 0, len(im.Topics))
	for n := range im.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Clone returns a deep copy that the controller may modify before publishing.
func (im *Image) Clone() *Image {
	out := &Image{
		ClusterID:      im.ClusterID,
		ControllerID:   im.ControllerID,
		Brokers:        cloneBrokers(im.Brokers),
		Topics:         make(map[string]*Topic, len(im.Topics)),
		TopicsByID:     make(map[TopicID]*Topic, len(im.Topics)),
		NextProducerID: im.NextProducerID,
		BrokerConfigs:  make(map[string]string, len(im.BrokerConfigs)),
	}
	for k, v := range im.BrokerConfigs {
		out.BrokerConfigs[k] = v
	}
	if len(im.ScramCredentials) > 0 {
		out.ScramCredentials = make(map[string]map[string]ScramCredential, len(im.ScramCredentials))
		for user, m := range im.ScramCredentials {
			cm := make(map[string]ScramCredential, len(m))
			for mech, c := range m {
				cm[mech] = c // the byte slices are never modified once applied
			}
			out.ScramCredentials[user] = cm
		}
	}
	out.ACLs = append([]ACL(nil), im.ACLs...)
	out.ClientQuotas = cloneQuotas(im.ClientQuotas)
	for name, t := range im.Topics {
		ct := t.Clone()
		out.Topics[name] = ct
		out.TopicsByID[ct.ID] = ct
	}
	return out
}

// Clone deep-copies a topic.
func (t *Topic) Clone() *Topic {
	ct := &Topic{Name: t.Name, ID: t.ID, Internal: t.Internal, Configs: make(map[string]string, len(t.Configs))}
	for k, v := range t.Configs {
		ct.Configs[k] = v
	}
	ct.Partitions = make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		p.Replicas = append([]ids.NodeID(nil), p.Replicas...)
		p.ISR = append([]ids.NodeID(nil), p.ISR...)
		p.Adding = append([]ids.NodeID(nil), p.Adding...)
		p.Removing = append([]ids.NodeID(nil), p.Removing...)
		ct.Partitions[i] = p
	}
	return ct
}

func cloneBrokers(bs []Broker) []Broker {
	out := append([]Broker(nil), bs...)
	for i := range out {
		out[i].Listeners = append([]Endpoint(nil), out[i].Listeners...)
	}
	return out
}

// ScramCredential returns user's credential for mechanism.
func (im *Image) ScramCredential(user, mechanism string) (ScramCredential, bool) {
	c, ok := im.ScramCredentials[user][mechanism]
	return c, ok
}

// ACL is one access control entry bound to a resource pattern (Kafka's
// AclBinding). The numbers are Kafka's wire codes (kmsg.ACLResourceType,
// ACLResourcePatternType, ACLOperation, ACLPermissionType), so a binding
// reads the same in the log, the image and on the wire.
type ACL struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}
