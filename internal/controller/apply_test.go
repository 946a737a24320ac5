package controller

import (
	"errors"
	"slices"
	"testing"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

func threeBrokers(t *testing.T) *metadata.Image {
	t.Helper()
	im := emptyImage()
	for id := ids.NodeID(1); id <= 3; id++ {
		var err error
		im, _, err = (&RegisterBroker{Broker: &metadata.Broker{ID: id, Host: "h", Port: 9000 + int32(id)}}).apply(im)
		if err != nil {
			t.Fatal(err)
		}
	}
	return im
}

func mustApply(t *testing.T, im *metadata.Image, cmd command) *metadata.Image {
	t.Helper()
	next, _, err := cmd.apply(im)
	if err != nil {
		t.Fatalf("%s: %v", cmd.op(), err)
	}
	return next
}

func TestCreateTopicLeadsWithFirstLiveReplica(t *testing.T) {
	im := threeBrokers(t)
	im = mustApply(t, im, &FenceBroker{BrokerID: 2})
	im = mustApply(t, im, &CreateTopic{Topic: "t", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{2, 3, 1}, {1, 2, 3}}})
	p0, p1 := im.Topics["t"].Partitions[0], im.Topics["t"].Partitions[1]
	if p0.Leader != 3 || !slices.Equal(p0.ISR, []ids.NodeID{3, 1}) {
		t.Fatalf("p0 = %+v, want leader 3 ISR [3 1]", p0)
	}
	if p1.Leader != 1 || p1.LeaderEpoch != 0 {
		t.Fatalf("p1 = %+v, want leader 1 epoch 0", p1)
	}
	if _, _, err := (&CreateTopic{Topic: "t", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{1}}}).apply(im); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, _, err := (&CreateTopic{Topic: "u", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{7}}}).apply(im); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Fatalf("unknown broker in assignment: %v", err)
	}
}

func TestFenceMovesLeadershipAndBumpsEpoch(t *testing.T) {
	im := threeBrokers(t)
	im = mustApply(t, im, &CreateTopic{Topic: "t", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{1, 2, 3}, {2}}})
	before := im
	im = mustApply(t, im, &FenceBroker{BrokerID: 1})
	p := im.Topics["t"].Partitions[0]
	if p.Leader != 2 || p.LeaderEpoch != 1 || !slices.Equal(p.ISR, []ids.NodeID{2, 3}) {
		t.Fatalf("after fencing 1: %+v, want leader 2 epoch 1 ISR [2 3]", p)
	}
	if before.Topics["t"].Partitions[0].Leader != 1 {
		t.Fatal("apply modified its input image")
	}
	// The sole replica of p1 is fenced: no leader, but it stays in the ISR
	// so that no out-of-sync replica can be elected (no unclean election).
	im = mustApply(t, im, &FenceBroker{BrokerID: 2})
	p1 := im.Topics["t"].Partitions[1]
	if p1.Leader != -1 || p1.LeaderEpoch != 1 || !slices.Equal(p1.ISR, []ids.NodeID{2}) {
		t.Fatalf("p1 after fencing its only replica: %+v", p1)
	}
	p0 := im.Topics["t"].Partitions[0]
	if p0.Leader != 3 || p0.LeaderEpoch != 2 {
		t.Fatalf("p0 after fencing 2: %+v, want leader 3 epoch 2", p0)
	}
	if _, ok := im.LiveBroker(2); ok {
		t.Fatal("fenced broker reported live")
	}
	// Re-registering the last ISR member brings the partition back.
	im = mustApply(t, im, &RegisterBroker{Broker: &metadata.Broker{ID: 2, Host: "h", Port: 9002}})
	p1 = im.Topics["t"].Partitions[1]
	if p1.Leader != 2 || p1.LeaderEpoch != 2 {
		t.Fatalf("p1 after its replica returned: %+v, want leader 2 epoch 2", p1)
	}
}

func TestAlterISRChecksLeaderAndEpoch(t *testing.T) {
	im := threeBrokers(t)
	im = mustApply(t, im, &CreateTopic{Topic: "t", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{1, 2, 3}}})
	for _, tc := range []struct {
		name string
		cmd  AlterISR
		want error
	}{
		{"not leader", AlterISR{BrokerID: 2, LeaderEpoch: 0, ISR: []ids.NodeID{2}}, ErrStaleLeaderEpoch},
		{"old epoch", AlterISR{BrokerID: 1, LeaderEpoch: -1, ISR: []ids.NodeID{1}}, ErrStaleLeaderEpoch},
		{"leader missing", AlterISR{BrokerID: 1, LeaderEpoch: 0, ISR: []ids.NodeID{2, 3}}, ErrInvalidISR},
		{"not a replica", AlterISR{BrokerID: 1, LeaderEpoch: 0, ISR: []ids.NodeID{1, 4}}, ErrInvalidISR},
	} {
		tc.cmd.Topic = "t"
		if _, _, err := tc.cmd.apply(im); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	im = mustApply(t, im, &AlterISR{Topic: "t", BrokerID: 1, LeaderEpoch: 0, ISR: []ids.NodeID{1, 3}})
	if p := im.Topics["t"].Partitions[0]; !slices.Equal(p.ISR, []ids.NodeID{1, 3}) || p.LeaderEpoch != 0 {
		t.Fatalf("after shrink: %+v", p)
	}
	if _, _, err := (&ElectLeader{Topic: "t", BrokerID: 2}).apply(im); !errors.Is(err, ErrNotInISR) {
		t.Fatalf("electing an out-of-sync replica: %v", err)
	}
	im = mustApply(t, im, &ElectLeader{Topic: "t", BrokerID: 3})
	if p := im.Topics["t"].Partitions[0]; p.Leader != 3 || p.LeaderEpoch != 1 {
		t.Fatalf("after election: %+v", p)
	}
}

func TestImageCodecRoundTrip(t *testing.T) {
	im := threeBrokers(t)
	im = mustApply(t, im, &CreateTopic{Topic: "t", TopicID: metadata.NewTopicID(), Configs: map[string]string{"retention.ms": "5"}, Assignment: [][]ids.NodeID{{1, 2}}})
	raw, err := encodeImage(im)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeImage(raw)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := encodeImage(back)
	if string(raw) != string(again) {
		t.Fatalf("round trip differs:\n%s\n%s", raw, again)
	}
	if back.TopicsByID[im.Topics["t"].ID] == nil {
		t.Fatal("topic id index not rebuilt")
	}
}

// A replica reported offline (a failed sync, a damaged log) leaves the ISR
// and its leadership moves to the next live in-sync replica with a new
// epoch; the last in-sync member stays (no unclean election) and its
// partition is leaderless until it registers again.
func TestReplicaOfflineMovesLeadership(t *testing.T) {
	im := threeBrokers(t)
	im = mustApply(t, im, &CreateTopic{Topic: "t", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{1, 2, 3}, {1}}})
	before := im
	im = mustApply(t, im, &ReplicaOffline{Topic: "t", Partition: 0, BrokerID: 1})
	p := im.Topics["t"].Partitions[0]
	if p.Leader != 2 || p.LeaderEpoch != 1 || !slices.Equal(p.ISR, []ids.NodeID{2, 3}) {
		t.Fatalf("after 1 went offline: %+v, want leader 2 epoch 1 ISR [2 3]", p)
	}
	if before.Topics["t"].Partitions[0].Leader != 1 {
		t.Fatal("apply modified its input image")
	}
	if _, ok := im.LiveBroker(1); !ok {
		t.Fatal("one offline replica fenced the whole broker")
	}
	// A follower's report: it leaves the ISR, the leader stays.
	im = mustApply(t, im, &ReplicaOffline{Topic: "t", Partition: 0, BrokerID: 3})
	if p := im.Topics["t"].Partitions[0]; p.Leader != 2 || p.LeaderEpoch != 1 || !slices.Equal(p.ISR, []ids.NodeID{2}) {
		t.Fatalf("after follower 3 went offline: %+v, want leader 2 epoch 1 ISR [2]", p)
	}
	// Reported again: nothing changes.
	if again := mustApply(t, im, &ReplicaOffline{Topic: "t", Partition: 0, BrokerID: 3}); again != im {
		t.Fatal("a repeated report changed the image")
	}
	// The only replica: leaderless, still in the ISR, back on registration.
	im = mustApply(t, im, &ReplicaOffline{Topic: "t", Partition: 1, BrokerID: 1})
	if p := im.Topics["t"].Partitions[1]; p.Leader != -1 || p.LeaderEpoch != 1 || !slices.Equal(p.ISR, []ids.NodeID{1}) {
		t.Fatalf("sole replica offline: %+v, want leader -1 epoch 1 ISR [1]", p)
	}
	im = mustApply(t, im, &RegisterBroker{Broker: &metadata.Broker{ID: 1, Host: "h", Port: 9001}})
	if p := im.Topics["t"].Partitions[1]; p.Leader != 1 || p.LeaderEpoch != 2 {
		t.Fatalf("after re-registration: %+v, want leader 1 epoch 2", p)
	}
	if _, _, err := (&ReplicaOffline{Topic: "t", Partition: 1, BrokerID: 2}).apply(im); !errors.Is(err, ErrInvalidISR) {
		t.Fatalf("report from a non-replica: %v", err)
	}
	// Through the log's codec, as a proposal travels.
	raw, err := encodeCommand(&ReplicaOffline{Topic: "t", Partition: 1, BrokerID: 1})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := decodeCommand(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := cmd.(*ReplicaOffline); !ok || *got != (ReplicaOffline{Topic: "t", Partition: 1, BrokerID: 1}) {
		t.Fatalf("decoded %#v", cmd)
	}
}

// TestUncleanLeaderElection: with unclean.leader.election.enable a
// partition whose in-sync replicas are all fenced is led by a live replica
// outside the ISR (on the fencing, on a replica's registration, or when
// the config is turned on); without it, it stays leaderless.
func TestUncleanLeaderElection(t *testing.T) {
	im := threeBrokers(t)
	on := "true"
	im = mustApply(t, im, &CreateTopic{Topic: "u", TopicID: metadata.NewTopicID(), Configs: map[string]string{"unclean.leader.election.enable": "true"},
		Assignment: [][]ids.NodeID{{1, 2}}})
	im = mustApply(t, im, &CreateTopic{Topic: "c", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{1, 2}}})
	// 2 falls out of both ISRs; then 1, the last in-sync replica, is fenced.
	for _, topic := range []string{"u", "c"} {
		im = mustApply(t, im, &AlterISR{Topic: topic, Partition: 0, BrokerID: 1, LeaderEpoch: 0, ISR: []ids.NodeID{1}})
	}
	im = mustApply(t, im, &FenceBroker{BrokerID: 1})
	if p := im.Topics["u"].Partitions[0]; p.Leader != 2 || p.LeaderEpoch != 1 || !slices.Equal(p.ISR, []ids.NodeID{2}) {
		t.Fatalf("unclean topic after fencing its last in-sync replica: %+v, want leader 2 epoch 1 ISR [2]", p)
	}
	if p := im.Topics["c"].Partitions[0]; p.Leader != -1 || !slices.Equal(p.ISR, []ids.NodeID{1}) {
		t.Fatalf("clean topic after fencing its last in-sync replica: %+v, want leader -1 ISR [1]", p)
	}
	// Turning the config on elects at once.
	im = mustApply(t, im, &AlterTopicConfigs{Topic: "c", Changes: []ConfigChange{{Name: "unclean.leader.election.enable", Value: &on}}})
	if p := im.Topics["c"].Partitions[0]; p.Leader != 2 || p.LeaderEpoch != 2 || !slices.Equal(p.ISR, []ids.NodeID{2}) {
		t.Fatalf("after enabling unclean election: %+v, want leader 2 epoch 2 ISR [2]", p)
	}
	// The cluster-wide default applies too, when a replica comes back.
	im = mustApply(t, im, &CreateTopic{Topic: "d", TopicID: metadata.NewTopicID(), Assignment: [][]ids.NodeID{{3, 2}}})
	im = mustApply(t, im, &AlterISR{Topic: "d", Partition: 0, BrokerID: 3, LeaderEpoch: 0, ISR: []ids.NodeID{3}})
	im = mustApply(t, im, &FenceBroker{BrokerID: 2})
	im = mustApply(t, im, &FenceBroker{BrokerID: 3})
	if p := im.Topics["d"].Partitions[0]; p.Leader != -1 {
		t.Fatalf("d with every replica fenced: %+v", p)
	}
	im = mustApply(t, im, &AlterBrokerConfigs{Changes: []ConfigChange{{Name: "unclean.leader.election.enable", Value: &on}}})
	im = mustApply(t, im, &RegisterBroker{Broker: &metadata.Broker{ID: 2, Host: "h", Port: 9002}})
	if p := im.Topics["d"].Partitions[0]; p.Leader != 2 || !slices.Equal(p.ISR, []ids.NodeID{2}) {
		t.Fatalf("d after its out-of-sync replica returned with the cluster default on: %+v, want leader 2 ISR [2]", p)
	}
}
