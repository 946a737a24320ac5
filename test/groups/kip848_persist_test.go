package groups_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// memberView is what a KIP-848 member looks like from ConsumerGroupDescribe:
// its epoch and assigned partitions.
type memberView struct {
	epoch int32
	parts string
}

// groupView summarizes a described group: its epoch and each member.
func groupView(g kmsg.ConsumerGroupDescribeResponseGroup) (int32, map[string]memberView) {
	out := map[string]memberView{}
	for _, m := range g.Members {
		var ps []string
		for _, tp := range m.Assignment.TopicPartitions {
			for _, p := range tp.Partitions {
				ps = append(ps, fmt.Sprintf("%x/%d", tp.TopicID[:4], p))
			}
		}
		slices.Sort(ps)
		out[m.MemberID] = memberView{m.MemberEpoch, strings.Join(ps, ",")}
	}
	return g.Epoch, out
}

// requireSameGroup checks that a group kept its epoch, members, member
// epochs and assignments across a coordinator change: no member rejoined
// (a rejoin bumps the group epoch and restarts the member's epoch).
func requireSameGroup(t *testing.T, before, after kmsg.ConsumerGroupDescribeResponseGroup) {
	t.Helper()
	be, bm := groupView(before)
	ae, am := groupView(after)
	if be != ae || fmt.Sprint(bm) != fmt.Sprint(am) {
		t.Fatalf("group changed across the coordinator change:\n before: epoch %d %v\n after:  epoch %d %v", be, bm, ae, am)
	}
}

// TestKIP848FranzMembersSurviveBrokerRestart: two franz-go members of a
// consumer-protocol group keep running while their (standalone) broker
// restarts. The coordinator reloads the members, their epochs and
// assignments from __consumer_offsets, so after the restart the group is
// the same (no member rejoins, nothing is reassigned) and every record,
// before and after, is read exactly once.
func TestKIP848FranzMembersSurviveBrokerRestart(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions848, nil)
	g := groupName(t)
	first := produce848(t, b.Addr(), topic, "a", 200)
	m1, stop1 := runFranz848(t, b.Addr(), g, topic, "m1", kgo.CooperativeStickyBalancer())
	m2, stop2 := runFranz848(t, b.Addr(), g, topic, "m2", kgo.CooperativeStickyBalancer())
	before := waitAssigned(t, b.Addr(), g, 2)
	pollUntil(t, "the first batch read", 60*time.Second, func() bool {
		g1, _ := m1.snapshot()
		g2, _ := m2.snapshot()
		return len(g1)+len(g2) >= len(first)
	})

	b.Restart(t)
	var after kmsg.ConsumerGroupDescribeResponseGroup
	pollUntil(t, "the group reloaded and stable", 60*time.Second, func() bool {
		d, err := describe848(t, b.Addr(), g)
		after = d
		return err == nil && d.State == "Stable" && len(d.Members) == 2
	})
	requireSameGroup(t, before, after)

	second := produce848(t, b.Addr(), topic, "b", 200)
	pollUntil(t, "the second batch read", 60*time.Second, func() bool {
		g1, _ := m1.snapshot()
		g2, _ := m2.snapshot()
		return readAllOf(mergeDisjointLoose(g1, g2), second)
	})
	// Still the same group: nobody rejoined after the restart either.
	final, err := describe848(t, b.Addr(), g)
	if err != nil {
		t.Fatal(err)
	}
	requireSameGroup(t, before, final)
	stop1()
	stop2()
	g1, d1 := m1.snapshot()
	g2, d2 := m2.snapshot()
	if len(d1)+len(d2) > 0 {
		t.Fatalf("records read twice: %v %v", d1, d2)
	}
	requireExactly(t, append(first, second...), mergeDisjoint(t, g1, g2))
}

// mergeDisjointLoose joins two members' reads for polling (duplicates are
// checked at the end).
func mergeDisjointLoose(gots ...map[string]recordID) map[string]recordID {
	out := map[string]recordID{}
	for _, got := range gots {
		for k, v := range got {
			out[k] = v
		}
	}
	return out
}
