package metadata

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/errcode"
)

// ErrNotDynamicBrokerConfig is a broker config that cannot be changed at
// run time (or is unknown); it wraps ErrInvalidConfig.
var ErrNotDynamicBrokerConfig = errcode.ErrNotDynamicBrokerConfig

// LookupBrokerConfig returns the topic config whose broker-level default is
// the broker key name: the broker configs that may be set dynamically,
// cluster-wide.
func LookupBrokerConfig(name string) (TopicConfigDef, bool) {
	for _, d := range TopicConfigDefs {
		if d.BrokerKey != "" && d.BrokerKey == name {
			return d, true
		}
	}
	return TopicConfigDef{}, false
}

// BrokerOnlyConfig is a dynamic, cluster-wide broker config that is no
// topic config's default.
type BrokerOnlyConfig struct {
	Name string
	Kind ConfigKind
	Doc  string
	// Default is the node's static value, formatted as Kafka formats it.
	Default func(c config.Config) string
	// Validate checks a value as Kafka's validator does.
	Validate func(v string) error
}

// ProducerIDExpirationConfig is Kafka's producer.id.expiration.ms (KIP-854).
const ProducerIDExpirationConfig = "producer.id.expiration.ms"

// BrokerOnlyConfigs are the dynamic broker configs besides the topic
// defaults.
var BrokerOnlyConfigs = []BrokerOnlyConfig{{
	Name: ProducerIDExpirationConfig, Kind: KindInt,
	Doc:     "The time in ms that a topic partition leader will wait before expiring producer IDs. Producer IDs will not expire while a transaction associated to them is still ongoing. Note that producer IDs may expire sooner if the last write from the producer ID is deleted due to the topic's retention settings. Setting this value the same or higher than <code>delivery.timeout.ms</code> can help prevent expiration during retries and protect against message duplication, but the default should be reasonable for most use cases.",
	Default: func(c config.Config) string { return strconv.FormatInt(c.ProducerIDExpiration.Milliseconds(), 10) },
	Validate: func(v string) error {
		_, err := parseRange(ProducerIDExpirationConfig, v, KindInt, 1, math.MaxInt32)
		return err
	},
}}

// LookupBrokerOnlyConfig finds a dynamic broker config that is no topic
// default.
func LookupBrokerOnlyConfig(name string) (BrokerOnlyConfig, bool) {
	for _, d := range BrokerOnlyConfigs {
		if d.Name == name {
			return d, true
		}
	}
	return BrokerOnlyConfig{}, false
}

// IsDynamicBrokerConfig reports whether name may be set as a dynamic
// cluster-wide broker config.
func IsDynamicBrokerConfig(name string) bool {
	_, ok := LookupBrokerConfig(name)
	_, only := LookupBrokerOnlyConfig(name)
	return ok || only
}

// ProducerIDExpiration is producer.id.expiration.ms in effect: the dynamic
// cluster-wide value, else static.
func (im *Image) ProducerIDExpiration(static time.Duration) time.Duration {
	if v, ok := im.BrokerConfigs[ProducerIDExpirationConfig]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err == nil && n >= 1 {
			return time.Duration(n) * time.Millisecond
		}
	}
	return static
}

// ValidateBrokerConfig checks one dynamic broker default name=value.
func ValidateBrokerConfig(name, value string) error {
	if d, ok := LookupBrokerOnlyConfig(name); ok {
		return d.Validate(value)
	}
	d, ok := LookupBrokerConfig(name)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotDynamicBrokerConfig, name)
	}
	if err := d.Validate(value); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// TopicDefaults returns the topic config defaults in effect, typed: static,
// the node's config, with the image's dynamic broker defaults applied over
// it. Values were validated when stored; one that did not parse would keep
// the static value.
func (im *Image) TopicDefaults(static config.LogDefaults) config.TopicConfig {
	c := static.TopicConfig()
	for key, v := range im.BrokerConfigs {
		if d, ok := LookupBrokerConfig(key); ok {
			_ = d.set(v, &c)
		}
	}
	return c
}
