package broker

import (
	"time"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/metrics"
	"github.com/strom-broker/strom/internal/quota"
)

// newQuotas makes the node's client-quota manager, kept in step with the
// quotas of every published image.
func (b *Broker) newQuotas(ctrl controller.Controller) *quota.Manager {
	m := quota.New(quota.Config{WindowNum: b.cfg.QuotaWindowNum, WindowSize: b.cfg.QuotaWindowSize})
	m.OnThrottle = func(k quota.Kind, d time.Duration) {
		metrics.QuotaThrottled.WithLabelValues(k.String()).Inc()
		metrics.QuotaThrottleSeconds.WithLabelValues(k.String()).Add(d.Seconds())
	}
	ctrl.Subscribe(func(_, next *metadata.Image) { m.Update(next.ClientQuotas) })
	return m
}
