package metrics

import "github.com/prometheus/client_golang/prometheus"

// Client quotas (kafka.server:type=Produce|Fetch|Request|ControllerMutation,
// throttle-time), summed over clients: per-client series would grow with
// every client id.
var (
	QuotaThrottled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strom_quota_throttled_total",
		Help: "Answers throttled by a client quota, by the quota that set the throttle time.",
	}, []string{"quota"})
	QuotaThrottleSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strom_quota_throttle_seconds_total",
		Help: "Throttle time given to clients by a client quota, by quota.",
	}, []string{"quota"})
)

func init() {
	processCollectors = append(processCollectors, QuotaThrottled, QuotaThrottleSeconds)
}
