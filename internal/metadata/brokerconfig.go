package metadata

import (
	"fmt"
	"strconv"

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
		if d.BrokerKey == name {
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

// LogDefaults returns the topic config defaults in effect: static, the
// node's config, with the image's dynamic broker defaults applied over it.
// Values were validated when stored; one that does not parse keeps the
// static value.
func (im *Image) LogDefaults(static config.LogDefaults) config.LogDefaults {
	d := static
	for key, v := range im.BrokerConfigs {
		def, ok := LookupBrokerConfig(key)
		if !ok {
			continue
		}
		n, nerr := strconv.ParseInt(v, 10, 64)
		num := func(set func(int64)) {
			if nerr == nil {
				set(n)
			}
		}
		switch def.Name {
		case "cleanup.policy":
			d.CleanupPolicy = v
		case "message.timestamp.type":
			d.MessageTimestampType = v
		case "delete.retention.ms":
			num(func(n int64) { d.DeleteRetentionMs = n })
		case "min.cleanable.dirty.ratio":
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				d.MinCleanableDirtyRatio = f
			}
		case "flush.messages":
			num(func(n int64) { d.FlushMessages = n })
		case "flush.ms":
			num(func(n int64) { d.FlushMs = n })
		case "index.interval.bytes":
			num(func(n int64) { d.IndexIntervalBytes = int32(n) })
		case "max.message.bytes":
			num(func(n int64) { d.MaxMessageBytes = int32(n) })
		case "min.insync.replicas":
			num(func(n int64) { d.MinInsyncReplicas = int32(n) })
		case "retention.bytes":
			num(func(n int64) { d.RetentionBytes = n })
		case "retention.ms":
			num(func(n int64) { d.RetentionMs = n })
		case "segment.bytes":
			num(func(n int64) { d.SegmentBytes = n })
		case "segment.ms":
			num(func(n int64) { d.SegmentMs = n })
		}
	}
	return d
}
