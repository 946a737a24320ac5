package controller

import (
	"encoding/json"
	"fmt"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// imageVersion is the version of the persisted image, the only one ever
// written: fields added since (brokers, broker_configs, a partition's
// Adding and Removing) are optional, absent meaning empty.
const imageVersion = 1

// persisted is the serialized image: the single-node metadata file and
// the Raft snapshot share it (docs/storage-format.md, "Metadata image").
type persisted struct {
	Version        int               `json:"version"`
	ClusterID      string            `json:"cluster_id"`
	NextProducerID ids.ProducerID    `json:"next_producer_id"`
	Brokers        []metadata.Broker `json:"brokers,omitempty"`
	Topics         []*persistTopic   `json:"topics"`
	// BrokerConfigs are the cluster-wide dynamic broker defaults.
	BrokerConfigs map[string]string `json:"broker_configs,omitempty"`
	// ScramCredentials are the SASL/SCRAM users (user, then mechanism).
	ScramCredentials map[string]map[string]metadata.ScramCredential `json:"scram_credentials,omitempty"`
	// ACLs are the access control entries, in creation order.
	ACLs []metadata.ACL `json:"acls,omitempty"`
	// ClientQuotas are the client quotas, one entry per entity.
	ClientQuotas []persistQuota `json:"client_quotas,omitempty"`
}

// persistQuota is one entity's client quotas.
type persistQuota struct {
	Entity []metadata.QuotaComponent `json:"entity"`
	Values map[string]float64        `json:"values"`
}

type persistTopic struct {
	Name       string               `json:"name"`
	ID         metadata.TopicID     `json:"id"`
	Internal   bool                 `json:"internal,omitempty"`
	Configs    map[string]string    `json:"configs,omitempty"`
	Partitions []metadata.Partition `json:"partitions"`
}

func emptyImage() *metadata.Image {
	return &metadata.Image{
		ControllerID:  -1,
		Topics:        map[string]*metadata.Topic{},
		TopicsByID:    map[metadata.TopicID]*metadata.Topic{},
		BrokerConfigs: map[string]string{},
	}
}

func encodeImage(im *metadata.Image) ([]byte, error) {
	p := persisted{Version: imageVersion, ClusterID: im.ClusterID, NextProducerID: im.NextProducerID, Brokers: im.Brokers, BrokerConfigs: im.BrokerConfigs, ScramCredentials: im.ScramCredentials, ACLs: im.ACLs}
	for _, e := range im.SortedQuotaEntities() {
		p.ClientQuotas = append(p.ClientQuotas, persistQuota{Entity: e.Components(), Values: im.ClientQuotas[e]})
	}
	for _, name := range im.SortedTopicNames() {
		t := im.Topics[name]
		p.Topics = append(p.Topics, &persistTopic{Name: t.Name, ID: t.ID, Internal: t.Internal, Configs: t.Configs, Partitions: t.Partitions})
	}
	raw, err := json.MarshalIndent(&p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return raw, nil
}

func decodeImage(raw []byte) (*metadata.Image, error) {
	var p persisted
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	if p.Version != imageVersion {
		return nil, fmt.Errorf("decode metadata: version %d, this broker reads version %d", p.Version, imageVersion)
	}
	im := emptyImage()
	im.ClusterID = p.ClusterID
	im.NextProducerID = p.NextProducerID
	im.Brokers = p.Brokers
	im.ScramCredentials = p.ScramCredentials
	im.ACLs = p.ACLs
	for i, q := range p.ClientQuotas {
		e, ok := metadata.QuotaEntityOf(q.Entity)
		if !ok || len(q.Entity) == 0 {
			return nil, fmt.Errorf("decode metadata: client quota %d has a bad entity", i)
		}
		if im.ClientQuotas == nil {
			im.ClientQuotas = map[metadata.QuotaEntity]map[string]float64{}
		}
		im.ClientQuotas[e] = q.Values
	}
	for k, v := range p.BrokerConfigs {
		im.BrokerConfigs[k] = v
	}
	for i, pt := range p.Topics {
		if pt == nil {
			return nil, fmt.Errorf("decode metadata: topic %d is null", i)
		}
		t := &metadata.Topic{Name: pt.Name, ID: pt.ID, Internal: pt.Internal, Configs: pt.Configs, Partitions: pt.Partitions}
		if t.Configs == nil {
			t.Configs = map[string]string{}
		}
		im.Topics[t.Name] = t
		im.TopicsByID[t.ID] = t
	}
	return im, nil
}
