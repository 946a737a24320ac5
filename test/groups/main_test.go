// Package groups_test runs unmodified Kafka clients' consumer groups
// (classic protocol) against a Strom broker: franz-go (eager and
// cooperative balancers, static membership), IBM/sarama, segmentio/kafka-go
// and confluent-kafka-go. Each consumes a produced topic fully, commits,
// and a restarted consumer resumes from the committed offsets, across
// broker restarts and a SIGKILL of a strom process too.
package groups_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const partitions = 3

// startBroker starts a broker with a short initial rebalance delay so
// groups form quickly, and few __consumer_offsets partitions.
func startBroker(t *testing.T) *testkit.Broker {
	return testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.GroupInitialRebalanceDelay = 100 * time.Millisecond
		c.OffsetsTopicPartitions = 5
	}))
}

// produce writes n records with ids prefix-0.. spread over the partitions
// and returns them with their offsets.
func produce(t *testing.T, addr, topic, prefix string, n int) []*kgo.Record {
	t.Helper()
	recs := testkit.MakeRecords(topic, prefix, n, partitions)
	testkit.ProduceSync(t, testkit.NewClient(t, addr, testkit.ManualPartitioner()), recs)
	return recs
}

// recordID identifies a record across clients: topic, partition, offset.
type recordID struct {
	partition int32
	offset    int64
}

// keysOf lists the keys of recs.
func keysOf(recs []*kgo.Record) map[string]recordID {
	out := make(map[string]recordID, len(recs))
	for _, r := range recs {
		out[string(r.Key)] = recordID{r.Partition, r.Offset}
	}
	return out
}

// requireExactly checks that got holds each wanted key at its offset, no
// other key, and each at most dup times... every wanted key at least once
// and nothing that was not wanted.
// mergeDisjoint joins what each member read, failing if a record was read
// by two members.
func mergeDisjoint(t *testing.T, gots ...map[string]recordID) map[string]recordID {
	t.Helper()
	both := map[string]recordID{}
	for _, got := range gots {
		for k, v := range got {
			if _, ok := both[k]; ok {
				t.Fatalf("record %q read by both members", k)
			}
			both[k] = v
		}
	}
	return both
}

// readAllOf reports whether snapshot holds every record of recs.
func readAllOf(snapshot map[string]recordID, recs []*kgo.Record) bool {
	for k := range keysOf(recs) {
		if _, ok := snapshot[k]; !ok {
			return false
		}
	}
	return true
}

func requireExactly(t *testing.T, want []*kgo.Record, got map[string]recordID) {
	t.Helper()
	w := keysOf(want)
	for k, id := range got {
		wid, ok := w[k]
		if !ok {
			t.Errorf("consumed record %q (partition %d offset %d) that should not have been read", k, id.partition, id.offset)
			continue
		}
		if wid != id {
			t.Errorf("record %q read at %v, produced at %v", k, id, wid)
		}
	}
	for k := range w {
		if _, ok := got[k]; !ok {
			t.Errorf("record %q (%v) never consumed", k, w[k])
		}
	}
}

// committed fetches the group's committed offsets for topic.
func committed(t *testing.T, addr, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := testkit.NewAdmin(t, addr).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Errorf("offset %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// ends returns the high watermarks of topic.
func ends(t *testing.T, addr, topic string) map[int32]int64 {
	return testkit.HighWatermarks(t, addr, topic)
}

func groupName(t *testing.T) string {
	return "g-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}

func pollUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var _ = fmt.Sprintf
