package quota_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

func ent(kv ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for i := 0; i < len(kv); i += 2 {
		c := kadm.ClientQuotaEntityComponent{Type: kv[i]}
		if kv[i+1] != "<default>" {
			c.Name = str(kv[i+1])
		}
		e = append(e, c)
	}
	return e
}

func set(key string, v float64) kadm.AlterClientQuotaOp {
	return kadm.AlterClientQuotaOp{Key: key, Value: v}
}

// described renders a describe answer as sorted "entity key=value" lines.
func described(qs kadm.DescribedClientQuotas) string {
	var lines []string
	for _, q := range qs {
		for _, v := range q.Values {
			lines = append(lines, q.Entity.String()+" "+v.String())
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestDescribeAlterClientQuotas: entities of every shape, Kafka's match
// semantics (exact, default, any; strict), validation errors with
// Kafka's codes and messages, validate_only, removal, and the quotas
// surviving a restart (metadata log / image).
func TestDescribeAlterClientQuotas(t *testing.T) {
	t.Parallel()
	b := testkit.StartBroker(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := ctxFor(t, 60*time.Second)

	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: ent("user", "alice"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1048576), set("consumer_byte_rate", 2097152)}},
		{Entity: ent("user", "<default>"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1000)}},
		{Entity: ent("user", "alice", "client-id", "app"), Ops: []kadm.AlterClientQuotaOp{set("request_percentage", 50.5)}},
		{Entity: ent("client-id", "<default>"), Ops: []kadm.AlterClientQuotaOp{set("controller_mutation_rate", 10)}},
		{Entity: ent("ip", "127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{set("connection_creation_rate", 5)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %v: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
	check := func(strict bool, comps []kadm.DescribeClientQuotaComponent, want ...string) {
		t.Helper()
		qs, err := adm.DescribeClientQuotas(ctx, strict, comps)
		if err != nil {
			t.Fatalf("describe %+v: %v", comps, err)
		}
		sort.Strings(want)
		if got := described(qs); got != strings.Join(want, "\n") {
			t.Errorf("describe strict=%v %+v:\ngot\n%s\nwant\n%s", strict, comps, got, strings.Join(want, "\n"))
		}
	}
	const (
		alicePBR = "{user=alice} producer_byte_rate=1048576.000000"
		aliceCBR = "{user=alice} consumer_byte_rate=2097152.000000"
		defUser  = "{user=<default>} producer_byte_rate=1000.000000"
		aliceApp = "{user=alice, client-id=app} request_percentage=50.500000"
		defCli   = "{client-id=<default>} controller_mutation_rate=10.000000"
		ip       = "{ip=127.0.0.1} connection_creation_rate=5.000000"
	)
	exact := func(typ, name string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchName: str(name), MatchType: kmsg.QuotasMatchTypeExact}
	}
	def := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: kmsg.QuotasMatchTypeDefault}
	}
	anyOf := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: kmsg.QuotasMatchTypeAny}
	}
	check(false, nil, alicePBR, aliceCBR, defUser, aliceApp, defCli, ip)
	check(true, nil)
	check(false, []kadm.DescribeClientQuotaComponent{exact("user", "alice")}, alicePBR, aliceCBR, aliceApp)
	check(true, []kadm.DescribeClientQuotaComponent{exact("user", "alice")}, alicePBR, aliceCBR)
	check(false, []kadm.DescribeClientQuotaComponent{def("user")}, defUser)
	check(false, []kadm.DescribeClientQuotaComponent{anyOf("user")}, alicePBR, aliceCBR, defUser, aliceApp)
	check(true, []kadm.DescribeClientQuotaComponent{anyOf("user"), anyOf("client-id")}, aliceApp)
	check(false, []kadm.DescribeClientQuotaComponent{anyOf("client-id")}, aliceApp, defCli)
	check(true, []kadm.DescribeClientQuotaComponent{def("client-id")}, defCli)
	check(false, []kadm.DescribeClientQuotaComponent{anyOf("ip")}, ip)
	check(false, []kadm.DescribeClientQuotaComponent{exact("user", "bob")})

	// Describe filters Kafka refuses.
	for _, tc := range []struct {
		comps []kadm.DescribeClientQuotaComponent
		want  *kerr.Error
		msg   string
	}{
		{[]kadm.DescribeClientQuotaComponent{exact("user", "a"), anyOf("user")}, kerr.InvalidRequest, "Entity type user cannot appear more than once in the filter."},
		{[]kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: kmsg.QuotasMatchTypeExact}}, kerr.InvalidRequest, "Request specified MATCH_TYPE_EXACT, but set match string to null."},
		{[]kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: str("x"), MatchType: kmsg.QuotasMatchTypeDefault}}, kerr.InvalidRequest, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."},
		{[]kadm.DescribeClientQuotaComponent{anyOf("group")}, kerr.UnsupportedVersion, "Unsupported entity type group"},
		{[]kadm.DescribeClientQuotaComponent{anyOf("ip"), anyOf("user")}, kerr.InvalidRequest, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."},
	} {
		_, err := adm.DescribeClientQuotas(ctx, false, tc.comps)
		var em *kadm.ErrAndMessage
		if !errors.As(err, &em) || !errors.Is(em.Err, tc.want) || em.ErrMessage != tc.msg {
			t.Errorf("describe %+v: %v, want %v %q", tc.comps, err, tc.want, tc.msg)
		}
	}

	// Alterations Kafka refuses: each entity answers its own error and
	// changes nothing; the valid one beside them is applied.
	res, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: ent("user", "u1"), Ops: []kadm.AlterClientQuotaOp{set("bogus_rate", 1)}},
		{Entity: ent("user", "u2"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1.5)}},
		{Entity: ent("user", "u3"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 0)}},
		{Entity: ent("user", "u4", "ip", "127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1)}},
		{Entity: ent("group", "g"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1)}},
		{Entity: ent("user", ""), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1)}},
		{Entity: ent("ip", "127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1)}},
		{Entity: ent("ip", "not an ip"), Ops: []kadm.AlterClientQuotaOp{set("connection_creation_rate", 1)}},
		{Entity: ent("user", "u5"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 1), set("producer_byte_rate", 2)}},
		{Entity: ent("user", "ok"), Ops: []kadm.AlterClientQuotaOp{set("consumer_byte_rate", 42)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErrs := []string{
		"Invalid configuration key bogus_rate",
		"producer_byte_rate cannot be a fractional value.",
		"Quota producer_byte_rate must be greater than 0",
		"Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
		"Unhandled client quota entity type: group",
		"Empty user not supported",
		"Invalid configuration key producer_byte_rate",
		"not an ip is not a valid IP or resolvable host.",
		"Ignoring duplicate entity ClientQuotaEntity(entries={user=u5})",
		"",
	}
	if len(res) != len(wantErrs) {
		t.Fatalf("%d results, want %d: %+v", len(res), len(wantErrs), res)
	}
	for i, r := range res {
		if wantErrs[i] == "" {
			if r.Err != nil {
				t.Errorf("%v: %v %s", r.Entity, r.Err, r.ErrMessage)
			}
			continue
		}
		if !errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage != wantErrs[i] {
			t.Errorf("%v: %v %q, want INVALID_REQUEST %q", r.Entity, r.Err, r.ErrMessage, wantErrs[i])
		}
	}
	check(false, []kadm.DescribeClientQuotaComponent{anyOf("user")}, alicePBR, aliceCBR, defUser, aliceApp, "{user=ok} consumer_byte_rate=42.000000")

	// validate_only checks and changes nothing.
	vres, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: ent("user", "v"), Ops: []kadm.AlterClientQuotaOp{set("producer_byte_rate", 7)}},
		{Entity: ent("user", "w"), Ops: []kadm.AlterClientQuotaOp{set("nope", 7)}},
	})
	if err != nil || len(vres) != 2 || vres[0].Err != nil || !errors.Is(vres[1].Err, kerr.InvalidRequest) {
		t.Fatalf("validate only: %v %+v", err, vres)
	}
	check(false, []kadm.DescribeClientQuotaComponent{exact("user", "v")})

	// Removal, and a removal of an absent key (a no-op).
	res, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: ent("user", "ok"), Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Remove: true}, {Key: "producer_byte_rate", Remove: true}}},
	})
	if err != nil || res[0].Err != nil {
		t.Fatalf("remove: %v %+v", err, res)
	}
	check(false, []kadm.DescribeClientQuotaComponent{exact("user", "ok")})

	// The quotas are metadata: a restart keeps them.
	// (The client goes first: a shutdown that meets a request being
	// served can wait for the connection's idle timeout.)
	cl.Close()
	b.Restart(t)
	adm = admin(t, b.Addr())
	check(false, nil, alicePBR, aliceCBR, defUser, aliceApp, defCli, ip)
}
