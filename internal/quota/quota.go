// Package quota owns client quotas as Kafka enforces them (KIP-13,
// KIP-124, KIP-219, KIP-599): the quotas configured in the metadata image
// resolved for a (user, client id) through Kafka's eight levels, and one
// sampled rate (or token bucket) per quota sensor, from which the
// throttle time of a request is computed. Handlers call Record (or
// RequestTime, Mutation) and put the answer in a response's
// throttle_time_ms; the server mutes the connection for that long after
// sending it.
//
// Enforcement is per broker, as in Kafka: each node measures the traffic
// it serves.
//
// Concurrency: a Manager is safe for concurrent use; one mutex guards
// the quotas and the sensors, held briefly and never across I/O.
package quota

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strom-broker/strom/internal/metadata"
)

// Kind is one of the quotas a client can be held to.
type Kind int

// The quota kinds, each with its key in AlterClientQuotas.
const (
	Produce            Kind = iota // producer_byte_rate: bytes of Produce requests
	Fetch                          // consumer_byte_rate: bytes of Fetch responses
	Request                        // request_percentage: request handling time
	ControllerMutation             // controller_mutation_rate: partitions created or deleted
	numKinds
)

var kindKeys = [numKinds]string{metadata.QuotaProducerByteRate, metadata.QuotaConsumerByteRate, metadata.QuotaRequestPercentage, metadata.QuotaControllerMutationRate}

// String is the kind's quota key.
func (k Kind) String() string { return kindKeys[k] }

// Client is whom a request counts against: the user of its principal
// ("alice" of "User:alice", "ANONYMOUS" without authentication) and its
// client id.
type Client struct {
	User, ClientID string
}

// ClientOf makes the Client of a principal ("User:alice") and client id.
func ClientOf(principal, clientID string) Client {
	if i := strings.IndexByte(principal, ':'); i >= 0 {
		principal = principal[i+1:]
	}
	return Client{User: principal, ClientID: clientID}
}

// Config is the measurement's shape (Kafka's quota.window.num and
// quota.window.size.seconds).
type Config struct {
	WindowNum  int
	WindowSize time.Duration
}

// DefaultConfig is Kafka's: 11 samples of 1 s.
func DefaultConfig() Config { return Config{WindowNum: 11, WindowSize: time.Second} }

// sensorIdle is how long an unused sensor is kept (Kafka's inactive
// sensor expiration, one hour).
const sensorIdle = time.Hour

// tags name one sensor: the (user, client id) pair the quota that
// applied was set for, "" for a part that did not matter (Kafka's
// quotaMetricTags), so every client of a user-level quota shares it.
type tags struct{ user, clientID string }

type sensor struct {
	rate     rate
	bucket   bucket
	lastUsed int64
}

// Manager measures clients against the configured quotas.
type Manager struct {
	w window
	// OnThrottle, when set, is told of every throttle a Record answers
	// (metrics); called without the lock.
	OnThrottle func(k Kind, d time.Duration)

	enabled [numKinds]atomic.Bool

	mu struct {
		sync.Mutex
		// limits holds, per kind, the entities with that quota key.
		limits    [numKinds]map[metadata.QuotaEntity]float64
		sensors   [numKinds]map[tags]*sensor
		lastSweep int64
	}
}

// New makes a manager with no quotas.
func New(cfg Config) *Manager {
	if cfg.WindowNum <= 0 || cfg.WindowSize <= 0 {
		cfg = DefaultConfig()
	}
	m := &Manager{w: window{num: cfg.WindowNum, sizeMs: cfg.WindowSize.Milliseconds()}}
	for k := range numKinds {
		m.mu.sensors[k] = map[tags]*sensor{}
	}
	return m
}

// Update takes the quotas of a new metadata image. Sensors keep their
// history; the next record is measured against the new bound.
func (m *Manager) Update(quotas map[metadata.QuotaEntity]map[string]float64) {
	var limits [numKinds]map[metadata.QuotaEntity]float64
	for e, vs := range quotas {
		if e.IP.Present {
			continue // connection_creation_rate: not a client quota
		}
		for k := range numKinds {
			if v, ok := vs[kindKeys[k]]; ok {
				if limits[k] == nil {
					limits[k] = map[metadata.QuotaEntity]float64{}
				}
				limits[k][e] = v
			}
		}
	}
	m.mu.Lock()
	m.mu.limits = limits
	m.mu.Unlock()
	for k := range numKinds {
		m.enabled[k].Store(len(limits[k]) > 0)
	}
}

// Enabled reports whether any quota of kind k is configured: when not,
// nothing is measured and nothing throttled.
func (m *Manager) Enabled(k Kind) bool { return m != nil && m.enabled[k].Load() }

// Any reports whether any client quota is configured.
func (m *Manager) Any() bool {
	if m == nil {
		return false
	}
	for k := range numKinds {
		if m.enabled[k].Load() {
			return true
		}
	}
	return false
}

// Quota returns the quota of kind k that applies to c, if any.
func (m *Manager) Quota(k Kind, c Client) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, limit, ok := m.resolveLocked(k, c)
	return limit, ok
}

// MaxValueInWindow is the most a client may take of kind k within the
// measured windows, quota × (num-1) × size (Kafka's
// getMaxValueInQuotaWindow: a fetch's max_bytes is cut to it); ok is
// false when no quota applies.
func (m *Manager) MaxValueInWindow(k Kind, c Client) (float64, bool) {
	if !m.Enabled(k) {
		return 0, false
	}
	q, ok := m.Quota(k, c)
	if !ok {
		return 0, false
	}
	return q * float64(m.w.num-1) * float64(m.w.sizeMs) / 1000, true
}

// resolveLocked finds the sensor tags and the bound for c: Kafka's
// quotaMetricTags and quotaLimit over the eight levels, most specific
// first:
//
//	/config/users/<user>/clients/<client-id>
//	/config/users/<user>/clients/<default>
//	/config/users/<user>
//	/config/users/<default>/clients/<client-id>
//	/config/users/<default>/clients/<default>
//	/config/users/<default>
//	/config/clients/<client-id>
//	/config/clients/<default>
func (m *Manager) resolveLocked(k Kind, c Client) (tags, float64, bool) {
	lim := m.mu.limits[k]
	if len(lim) == 0 {
		return tags{}, 0, false
	}
	user, client := metadata.Named(c.User), metadata.Named(c.ClientID)
	def := metadata.DefaultName
	type level struct {
		e metadata.QuotaEntity
		t tags
	}
	both := tags{c.User, c.ClientID}
	for _, l := range [...]level{
		{metadata.QuotaEntity{User: user, ClientID: client}, both},
		{metadata.QuotaEntity{User: user, ClientID: def}, both},
		{metadata.QuotaEntity{User: user}, tags{c.User, ""}},
		{metadata.QuotaEntity{User: def, ClientID: client}, both},
		{metadata.QuotaEntity{User: def, ClientID: def}, both},
		{metadata.QuotaEntity{User: def}, tags{c.User, ""}},
		{metadata.QuotaEntity{ClientID: client}, tags{"", c.ClientID}},
		{metadata.QuotaEntity{ClientID: def}, tags{"", c.ClientID}},
	} {
		// An empty user or client id matches no level naming that part,
		// not even its <default> (Kafka's quotaLimit).
		if (c.User == "" && l.e.User.Present) || (c.ClientID == "" && l.e.ClientID.Present) {
			continue
		}
		if v, ok := lim[l.e]; ok {
			return l.t, v, true
		}
	}
	return tags{}, 0, false
}

func (m *Manager) sensorLocked(k Kind, t tags, nowMs int64) *sensor {
	if nowMs-m.mu.lastSweep > time.Minute.Milliseconds() {
		m.mu.lastSweep = nowMs
		for kk := range numKinds {
			for tt, s := range m.mu.sensors[kk] {
				if nowMs-s.lastUsed > sensorIdle.Milliseconds() {
					delete(m.mu.sensors[kk], tt)
				}
			}
		}
	}
	s := m.mu.sensors[k][t]
	if s == nil {
		s = &sensor{}
		m.mu.sensors[k][t] = s
	}
	s.lastUsed = nowMs
	return s
}

// Record counts value (bytes, for Produce and Fetch) against c's quota of
// kind k at now and returns the throttle time: 0 within the quota, else
// the time until the measured rate is back at the quota (Kafka's
// ClientQuotaManager.recordAndGetThrottleTimeMs). A client no quota
// applies to is never measured.
func (m *Manager) Record(k Kind, c Client, value float64, now time.Time) time.Duration {
	if !m.Enabled(k) {
		return 0
	}
	ms := m.record(k, c, value, now.UnixMilli(), math.MaxInt64)
	return m.told(k, ms)
}

// RequestTime counts d of request handling against c's
// request_percentage (Kafka's ClientRequestQuotaManager: 100 is one
// thread's whole time); its throttle is at most one window.
func (m *Manager) RequestTime(c Client, d time.Duration, now time.Time) time.Duration {
	if !m.Enabled(Request) {
		return 0
	}
	pct := float64(d.Nanoseconds()) * 100 / 1e9
	ms := m.record(Request, c, pct, now.UnixMilli(), m.w.sizeMs)
	return m.told(Request, ms)
}

// Unrecord takes back a value recorded at now (Kafka's
// unrecordQuotaSensor: a throttled fetch answers no data, so its bytes
// are not counted).
func (m *Manager) Unrecord(k Kind, c Client, value float64, now time.Time) {
	if !m.Enabled(k) {
		return
	}
	nowMs := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	t, _, ok := m.resolveLocked(k, c)
	if !ok {
		return
	}
	m.sensorLocked(k, t, nowMs).rate.record(m.w, -value, nowMs)
}

func (m *Manager) record(k Kind, c Client, value float64, nowMs, maxMs int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, bound, ok := m.resolveLocked(k, c)
	if !ok {
		return 0
	}
	s := m.sensorLocked(k, t, nowMs)
	s.rate.record(m.w, value, nowMs)
	observed := s.rate.measure(m.w, nowMs)
	if observed <= bound {
		return 0
	}
	return min(s.rate.throttleMs(m.w, observed, bound, nowMs), maxMs)
}

func (m *Manager) told(k Kind, ms int64) time.Duration {
	if ms <= 0 {
		return 0
	}
	d := time.Duration(ms) * time.Millisecond
	if m.OnThrottle != nil {
		m.OnThrottle(k, d)
	}
	return d
}

// Mutation is one request's controller mutation quota (Kafka's
// ControllerMutationQuota): strict for the versions that can answer
// THROTTLING_QUOTA_EXCEEDED per topic (CreateTopics v6+,
// CreatePartitions v3+, DeleteTopics v5+), permissive before.
type Mutation struct {
	m       *Manager
	c       Client
	strict  bool
	lastMs  int64 // throttle time of the last violation
	atMs    int64 // when it was computed
	enabled bool
}

// Mutation returns c's controller mutation quota for one request.
func (m *Manager) Mutation(c Client, strict bool) *Mutation {
	return &Mutation{m: m, c: c, strict: strict, enabled: m.Enabled(ControllerMutation)}
}

// Record takes permits (partitions created or deleted) at now. A strict
// quota already exceeded refuses them: ok is false, nothing is taken,
// and the request's throttle time is set. A permissive one always takes
// them and sets the throttle time once the bucket is overdrawn.
func (q *Mutation) Record(permits float64, now time.Time) (ok bool) {
	if !q.enabled {
		return true
	}
	nowMs := now.UnixMilli()
	m := q.m
	m.mu.Lock()
	defer m.mu.Unlock()
	t, bound, found := m.resolveLocked(ControllerMutation, q.c)
	if !found {
		return true
	}
	s := m.sensorLocked(ControllerMutation, t, nowMs)
	if q.strict {
		if tokens := s.bucket.measure(m.w, bound, nowMs); tokens < 0 {
			q.lastMs, q.atMs = int64(math.Round(-tokens/bound*1000)), nowMs
			return false
		}
		s.bucket.record(m.w, bound, permits, nowMs)
		return true
	}
	s.bucket.record(m.w, bound, permits, nowMs)
	if tokens := s.bucket.measure(m.w, bound, nowMs); tokens < 0 {
		q.lastMs, q.atMs = int64(math.Round(-tokens/bound*1000)), nowMs
	}
	return true
}

// ThrottleTime is the request's throttle time at now: the last
// violation's, less the time since (Kafka's
// AbstractControllerMutationQuota.throttleTime).
func (q *Mutation) ThrottleTime(now time.Time) time.Duration {
	if q.lastMs == 0 {
		return 0
	}
	ms := q.lastMs - (now.UnixMilli() - q.atMs)
	return q.m.told(ControllerMutation, ms)
}
