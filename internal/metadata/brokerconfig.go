package metadata

import (
	"fmt"

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

// ValidateBrokerConfig checks one dynamic broker default name=value.
func ValidateBrokerConfig(name, value string) error {
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
