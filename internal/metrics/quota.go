package metrics

// Client quotas (kafka.server:type=Produce|Fetch|Request|ControllerMutation,
// throttle-time), summed over clients: per-client series would grow with
// every client id.
var (
	QuotaThrottled       = newCounterVec("strom_quota_throttled_total", "Answers throttled by a client quota, by the quota that set the throttle time.", "quota")
	QuotaThrottleSeconds = newCounterVec("strom_quota_throttle_seconds_total", "Throttle time given to clients by a client quota, by quota.", "quota")
)

func init() {
	processCollectors = append(processCollectors, QuotaThrottled, QuotaThrottleSeconds)
}
