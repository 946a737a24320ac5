package txn

import (
	"context"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
)

// TestAppendOnFollowerIsNotCoordinator: a state write to a partition of
// __transaction_state that this node no longer leads (its leadership
// moved away) is answered NOT_COORDINATOR, so clients find the new
// coordinator, as Kafka's TransactionStateManager maps
// NOT_LEADER_OR_FOLLOWER; never NOT_LEADER_OR_FOLLOWER itself, which
// AddPartitionsToTxn, AddOffsetsToTxn and EndTxn callers do not retry.
func TestAppendOnFollowerIsNotCoordinator(t *testing.T) {
	tp := &metadata.Topic{Name: Topic, ID: metadata.TopicID{15: 9}, Partitions: []metadata.Partition{
		{Index: 0, Leader: 2, LeaderEpoch: 1, Replicas: []ids.NodeID{1, 2}, ISR: []ids.NodeID{1, 2}},
	}}
	im := &metadata.Image{Topics: map[string]*metadata.Topic{Topic: tp}, TopicsByID: map[metadata.TopicID]*metadata.Topic{tp.ID: tp}}
	for _, id := range []ids.NodeID{1, 2} {
		im.Brokers = append(im.Brokers, metadata.Broker{ID: id, Host: "127.0.0.1", Port: 9000 + int32(id)})
	}
	logger := slog.New(slog.DiscardHandler)
	reg := partition.NewRegistry(t.TempDir(), 1, config.Default().Log, logger)
	if err := reg.Apply(im); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Error(err)
		}
	})
	c := NewCoordinator(Config{Partitions: 1}, 1, reg, nil, func() *metadata.Image { return im }, nil, logger)
	err := c.appendDurable(context.Background(), 0, []byte("k"), []byte("v"))
	if code := errcode.Code(err); code != kerr.NotCoordinator.Code {
		t.Fatalf("append on a follower: %v, code %d, want NOT_COORDINATOR (%d)", err, code, kerr.NotCoordinator.Code)
	}
}
