package groups_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// consumeGroup runs one franz-go group member until it has read want
// records (by key), commits what it read and leaves. It returns what it
// read.
func consumeGroupFranz(t *testing.T, addr, group, topic string, want int, opts ...kgo.Opt) map[string]recordID {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)
	cl := testkit.NewClient(t, addr, opts...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]recordID{}
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group %s read %d of %d records: %v", group, len(got), want, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = recordID{r.Partition, r.Offset} })
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return got
}

func TestFranzResume(t *testing.T) {
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	first := produce(t, b.Addr(), topic, "a", 300)
	g := groupName(t)
	requireExactly(t, first, consumeGroupFranz(t, b.Addr(), g, topic, len(first)))
	if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
		t.Fatalf("committed %v, want the high watermarks %v", got, want)
	}
	second := produce(t, b.Addr(), topic, "b", 90)
	requireExactly(t, second, consumeGroupFranz(t, b.Addr(), g, topic, len(second)))
}

func equalOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
