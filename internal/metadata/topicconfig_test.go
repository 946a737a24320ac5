package metadata

import (
	"testing"

	"github.com/strom-broker/strom/internal/config"
)

// TestDynamicBrokerDefaults: every dynamic broker default a client may set
// is in effect for topics without an override, as DescribeConfigs says.
func TestDynamicBrokerDefaults(t *testing.T) {
	im := &Image{BrokerConfigs: map[string]string{
		"log.cleaner.delete.retention.ms": "1000",
		"log.cleaner.min.cleanable.ratio": "0.25",
		"log.retention.ms":                "2000",
	}}
	top := &Topic{Name: "t", Configs: map[string]string{"retention.ms": "3000"}}
	got := top.EffectiveConfig(im.LogDefaults(config.Default().Log))
	if got.DeleteRetentionMs != 1000 || got.MinCleanableRatio != 0.25 || got.RetentionMs != 3000 {
		t.Fatalf("delete.retention.ms %d, min.cleanable.dirty.ratio %v, retention.ms %d; want 1000, 0.25, 3000",
			got.DeleteRetentionMs, got.MinCleanableRatio, got.RetentionMs)
	}
}
