package quota

import (
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/metadata"
)

var t0 = time.UnixMilli(1_000_000)

func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// TestPrecedence walks Kafka's eight levels: each entity, added from the
// least specific up, takes over from the one before it.
func TestPrecedence(t *testing.T) {
	u, c, d := metadata.Named("alice"), metadata.Named("app"), metadata.DefaultName
	levels := []metadata.QuotaEntity{
		{ClientID: d},          // /config/clients/<default>
		{ClientID: c},          // /config/clients/<client-id>
		{User: d},              // /config/users/<default>
		{User: d, ClientID: d}, // /config/users/<default>/clients/<default>
		{User: d, ClientID: c}, // /config/users/<default>/clients/<client-id>
		{User: u},              // /config/users/<user>
		{User: u, ClientID: d}, // /config/users/<user>/clients/<default>
		{User: u, ClientID: c}, // /config/users/<user>/clients/<client-id>
	}
	m := New(DefaultConfig())
	cl := Client{User: "alice", ClientID: "app"}
	if _, ok := m.Quota(Produce, cl); ok {
		t.Fatal("a quota with none configured")
	}
	quotas := map[metadata.QuotaEntity]map[string]float64{}
	for i, e := range levels {
		quotas[e] = map[string]float64{metadata.QuotaProducerByteRate: float64(i + 1)}
		m.Update(quotas)
		if got, ok := m.Quota(Produce, cl); !ok || got != float64(i+1) {
			t.Fatalf("after adding %v: quota %v %v, want %d", e, got, ok, i+1)
		}
		if _, ok := m.Quota(Fetch, cl); ok {
			t.Fatal("a producer quota applied to fetches")
		}
	}
	// Another user of the same client id falls to the user default level.
	if got, _ := m.Quota(Produce, Client{User: "bob", ClientID: "app"}); got != 5 {
		t.Fatalf("bob/app: %v, want 5 (users/<default>/clients/app)", got)
	}
	// No client id: only the user levels apply.
	if got, _ := m.Quota(Produce, Client{User: "alice"}); got != 6 {
		t.Fatalf("alice without client id: %v, want 6", got)
	}
}

// TestRateThrottle checks Kafka's sampled rate and throttle time: a first
// burst is measured over num-1 full windows, and the throttle time is
// (O-T)/T × W.
func TestRateThrottle(t *testing.T) {
	m := New(DefaultConfig())
	m.Update(map[metadata.QuotaEntity]map[string]float64{{User: metadata.Named("alice")}: {metadata.QuotaProducerByteRate: 1000}})
	alice, bob := Client{User: "alice", ClientID: "x"}, Client{User: "bob", ClientID: "x"}
	if d := m.Record(Produce, alice, 5000, at(0)); d != 0 {
		t.Fatalf("5000 B over 10 s against 1000 B/s throttled %v", d)
	}
	if d := m.Record(Produce, alice, 10000, at(0)); d != 5*time.Second {
		t.Fatalf("15000 B over 10 s: throttle %v, want 5s", d)
	}
	if d := m.Record(Produce, bob, 1e9, at(0)); d != 0 {
		t.Fatalf("an unlimited user throttled %v", d)
	}
	// Once the samples expire (11 windows) the rate is back to zero.
	if d := m.Record(Produce, alice, 1, at(12_000)); d != 0 {
		t.Fatalf("after the window: throttle %v", d)
	}
	// A fetch recorded and taken back leaves no trace.
	m.Update(map[metadata.QuotaEntity]map[string]float64{{User: metadata.Named("alice")}: {metadata.QuotaConsumerByteRate: 1000}})
	if d := m.Record(Fetch, alice, 20000, at(20_000)); d == 0 {
		t.Fatal("a fetch over the quota was not throttled")
	}
	m.Unrecord(Fetch, alice, 20000, at(20_000))
	if d := m.Record(Fetch, alice, 100, at(20_000)); d != 0 {
		t.Fatalf("after unrecording: throttle %v", d)
	}
}

// TestRequestPercentage bounds the request quota's throttle by one
// window, as Kafka's ClientRequestQuotaManager does.
func TestRequestPercentage(t *testing.T) {
	m := New(DefaultConfig())
	m.Update(map[metadata.QuotaEntity]map[string]float64{{ClientID: metadata.DefaultName}: {metadata.QuotaRequestPercentage: 1}})
	c := Client{User: "ANONYMOUS", ClientID: "c"}
	// 10 s of handling in 10 s is 100 %, far over 1 %.
	if d := m.RequestTime(c, 10*time.Second, at(0)); d != time.Second {
		t.Fatalf("request throttle %v, want the 1 s bound", d)
	}
}

// TestMutation checks the token bucket (KIP-599): strict refuses once the
// bucket is overdrawn, permissive takes and throttles.
func TestMutation(t *testing.T) {
	m := New(DefaultConfig())
	m.Update(map[metadata.QuotaEntity]map[string]float64{{User: metadata.DefaultName}: {metadata.QuotaControllerMutationRate: 2}})
	c := Client{User: "alice", ClientID: "c"}
	strict := m.Mutation(c, true)
	if !strict.Record(30, at(0)) { // burst 22: taken, bucket at -8
		t.Fatal("first mutation refused")
	}
	if strict.ThrottleTime(at(0)) != 0 {
		t.Fatal("throttled before a violation")
	}
	next := m.Mutation(c, true)
	if next.Record(1, at(0)) {
		t.Fatal("an overdrawn strict quota took permits")
	}
	if d := next.ThrottleTime(at(0)); d != 4*time.Second {
		t.Fatalf("strict throttle %v, want 4s (8 tokens at 2/s)", d)
	}
	if d := next.ThrottleTime(at(1000)); d != 3*time.Second {
		t.Fatalf("throttle a second later %v, want 3s", d)
	}
	perm := m.Mutation(Client{User: "bob", ClientID: "c"}, false)
	if !perm.Record(30, at(0)) {
		t.Fatal("a permissive quota refused")
	}
	if d := perm.ThrottleTime(at(0)); d != 4*time.Second {
		t.Fatalf("permissive throttle %v, want 4s", d)
	}
	if un := New(DefaultConfig()).Mutation(c, true); !un.Record(1e6, at(0)) || un.ThrottleTime(at(0)) != 0 {
		t.Fatal("no quota configured, yet throttled")
	}
}

// TestMaxValueInWindow is Kafka's getMaxValueInQuotaWindow: what num-1
// windows at the quota allow.
func TestMaxValueInWindow(t *testing.T) {
	m := New(DefaultConfig())
	c := Client{User: "alice", ClientID: "c"}
	if _, ok := m.MaxValueInWindow(Fetch, c); ok {
		t.Fatal("a bound with no quota")
	}
	m.Update(map[metadata.QuotaEntity]map[string]float64{{User: metadata.Named("alice")}: {metadata.QuotaConsumerByteRate: 1000}})
	if w, ok := m.MaxValueInWindow(Fetch, c); !ok || w != 10000 {
		t.Fatalf("bound %v %v, want 10000", w, ok)
	}
	if _, ok := m.MaxValueInWindow(Fetch, Client{User: "bob", ClientID: "c"}); ok {
		t.Fatal("a bound for a client no quota applies to")
	}
}
