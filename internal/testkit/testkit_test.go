package testkit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) { Main(m) }

// recordingT records failures instead of failing the test, so the checkers'
// own failures can be asserted on.
type recordingT struct {
	testing.TB
	msgs []string
}

type fatal struct{}

func (r *recordingT) Helper() {}
func (r *recordingT) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recordingT) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(fatal{})
}
func (r *recordingT) FailNow() { panic(fatal{}) }

// run calls f with a recordingT and returns what it reported.
func run(f func(t testing.TB)) string {
	r := &recordingT{}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(fatal); !ok {
					panic(v)
				}
			}
		}()
		f(r)
	}()
	return strings.Join(r.msgs, "\n")
}

func rec(p int32, o int64, v string) *kgo.Record {
	return &kgo.Record{Topic: "t", Partition: p, Offset: o, Key: []byte("k"), Value: []byte(v)}
}

func TestCheckerVerify(t *testing.T) {
	newChk := func() *Checker {
		c := NewChecker()
		for i, v := range []string{"a", "b", "c"} {
			c.Attempt(rec(0, -1, v))
			if v != "c" { // c was attempted but its outcome is unknown
				c.Done(rec(0, int64(i), v), nil)
			}
		}
		return c
	}
	for _, tc := range []struct {
		name string
		read []*kgo.Record
		want string // substring of the report; "" means it must pass
	}{
		{"all acked read", []*kgo.Record{rec(0, 0, "a"), rec(0, 1, "b")}, ""},
		{"unacked attempt present", []*kgo.Record{rec(0, 0, "a"), rec(0, 1, "b"), rec(0, 2, "c")}, ""},
		{"acked lost", []*kgo.Record{rec(0, 0, "a")}, "acknowledged record lost"},
		{"duplicate", []*kgo.Record{rec(0, 0, "a"), rec(0, 1, "b"), rec(0, 2, "b")}, "appears twice"},
		{"moved", []*kgo.Record{rec(0, 0, "b"), rec(0, 1, "a")}, "acknowledged at 0/1, read at 0/0"},
		{"gap", []*kgo.Record{rec(0, 0, "a"), rec(0, 2, "b")}, "gap"},
		{"never produced", []*kgo.Record{rec(0, 0, "a"), rec(0, 1, "b"), rec(0, 2, "z")}, "never produced"},
		{"offset twice", []*kgo.Record{rec(0, 0, "a"), rec(0, 0, "b")}, "read twice"},
		{"two leaders", []*kgo.Record{rec(0, 0, "a"), rec(0, 1, "b")}, "offset 1 acknowledged for two records"},
		{"changed bytes", []*kgo.Record{rec(0, 0, "a"), {Partition: 0, Offset: 1, Key: []byte("K"), Value: []byte("b")}}, `key "K", want "k"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(func(rt testing.TB) { newChk().Verify(rt, tc.read) })
			if tc.name == "two leaders" {
				got = run(func(rt testing.TB) {
					c := newChk()
					// d was acknowledged at b's offset by another leader.
					c.Attempt(rec(0, -1, "d"))
					c.Done(rec(0, 1, "d"), nil)
					c.Verify(rt, tc.read)
				})
			}
			if tc.want == "" && got != "" {
				t.Fatalf("Verify reported a violation on a valid read:\n%s", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("Verify report lacks %q:\n%s", tc.want, got)
			}
		})
	}
}

func TestRequireSameRecords(t *testing.T) {
	want := []*kgo.Record{rec(0, 0, "a"), rec(0, 1, "b"), rec(1, 0, "c")}
	if got := run(func(rt testing.TB) {
		RequireSameRecords(rt, want, []*kgo.Record{rec(1, 0, "c"), rec(0, 0, "a"), rec(0, 1, "b")})
	}); got != "" {
		t.Fatalf("identical records reported as different:\n%s", got)
	}
	withHeader := rec(0, 1, "b")
	withHeader.Headers = []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}
	for name, tc := range map[string]struct {
		got  []*kgo.Record
		want string
	}{
		"missing":  {[]*kgo.Record{rec(0, 0, "a"), rec(1, 0, "c")}, "not read back: partition 0 offset 1"},
		"value":    {[]*kgo.Record{rec(0, 0, "a"), rec(0, 1, "B"), rec(1, 0, "c")}, `value "B", want "b"`},
		"header":   {[]*kgo.Record{rec(0, 0, "a"), withHeader, rec(1, 0, "c")}, "1 headers, want 0"},
		"extra":    {[]*kgo.Record{rec(0, 0, "a"), rec(0, 1, "b"), rec(0, 2, "x"), rec(1, 0, "c")}, "never acknowledged"},
		"twice":    {[]*kgo.Record{rec(0, 0, "a"), rec(0, 0, "a"), rec(0, 1, "b"), rec(1, 0, "c")}, "read twice"},
		"not next": {[]*kgo.Record{rec(0, 1, "b"), rec(0, 0, "a"), rec(1, 0, "c")}, "not contiguous"},
	} {
		if got := run(func(rt testing.TB) { RequireSameRecords(rt, want, tc.got) }); !strings.Contains(got, tc.want) {
			t.Errorf("%s: report lacks %q:\n%s", name, tc.want, got)
		}
	}
}

func TestBrokerRestartKeepsRecords(t *testing.T) {
	b := StartBroker(t)
	addr := b.Addr()
	topic := TopicName(t, "")
	CreateTopic(t, addr, topic, 2, nil)
	recs := MakeRecords(topic, "restart", 50, 2)
	cl := NewClient(t, addr, ManualPartitioner())
	ProduceSync(t, cl, recs)
	cl.Close()
	b.Restart(t)
	if b.Addr() != addr {
		t.Fatalf("restarted broker on %s, want the same address %s", b.Addr(), addr)
	}
	RequireSameRecords(t, recs, ConsumePartitions(t, addr, topic, 2))
}

func TestProcessKillRestart(t *testing.T) {
	p := StartProcess(t, ProcessOptions{})
	if p.PID() == 0 {
		t.Fatal("started process has no pid")
	}
	topic := TopicName(t, "")
	CreateTopic(t, p.Addr(), topic, 1, nil)
	recs := MakeRecords(topic, "proc", 20, 1)
	cl := NewClient(t, p.Addr(), ManualPartitioner())
	ProduceSync(t, cl, recs)
	cl.Close()
	p.Kill(t)
	if p.PID() != 0 {
		t.Fatal("killed process still reported running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := apiVersions(ctx, p.Addr()); err == nil {
		t.Fatal("ApiVersions answered after SIGKILL")
	}
	p.Restart(t)
	RequireSameRecords(t, recs, ConsumePartitions(t, p.Addr(), topic, 1))
	p.Stop(t)
}
