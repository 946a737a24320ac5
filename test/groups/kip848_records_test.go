package groups_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

// TestKIP848RecordsReadFromKafka runs a consumer-protocol group on Apache
// Kafka, reads the records Kafka's coordinator wrote to its
// __consumer_offsets, and replays them with Strom's loader: Strom must
// rebuild the group Kafka describes (group and assignment epochs, every
// member with its epoch and partitions). Strom writes the same record
// types and schemas, so a log written by either reads the same. It starts
// a JVM, so it runs with STROM_COMPAT=full (make compat).
func TestKIP848RecordsReadFromKafka(t *testing.T) {
	if os.Getenv("STROM_COMPAT") != "full" {
		t.Skip("STROM_COMPAT=full runs it (make compat)")
	}
	ref := kafkaref.Start(t, kafkaref.Options{})
	addr := ref.Addr()
	topic := "kip848-records"
	testkit.CreateTopic(t, addr, topic, partitions848, nil)
	g := groupName(t)
	produce848(t, addr, topic, "a", 40)
	_, stop1 := runFranz848(t, addr, g, topic, "m1", kgo.CooperativeStickyBalancer())
	_, stop2 := runFranz848(t, addr, g, topic, "m2", kgo.CooperativeStickyBalancer())
	want := waitAssigned(t, addr, g, 2)

	// Every record Kafka wrote to __consumer_offsets so far.
	adm := testkit.NewAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	topics, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	nparts := int32(0)
	remaining := map[int32]int64{} // partition -> end offset
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		nparts++
		end[o.Partition] = o.Offset
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	cl := testkit.NewClient(t, addr, kgo.ConsumeTopics("__consumer_offsets"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cfg := group.DefaultConfig()
	cfg.Partitions = nparts
	loaders := map[int32]*group.Loader{}
	types := map[int16]int{} // record type -> records
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading __consumer_offsets: %v left", remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= end[r.Partition] {
				delete(remaining, r.Partition)
			}
			if r.Key == nil || r.Offset >= end[r.Partition] {
				return // written after the group was described
			}
			if len(r.Key) >= 2 {
				types[int16(r.Key[0])<<8|int16(r.Key[1])]++
			}
			l := loaders[r.Partition]
			if l == nil {
				l = group.NewLoader(r.Partition)
				loaders[r.Partition] = l
			}
			if err := l.Apply(r.Key, r.Value); err != nil {
				t.Fatalf("Kafka's record at %d/%d: %v", r.Partition, r.Offset, err)
			}
		})
	}

	stop1()
	stop2()
	t.Logf("record types Kafka wrote (type: count): %v", types)
	m := group.NewMachine(cfg)
	td := topics[topic]
	m.SetTopics(time.Now(), []group.TopicMeta{{Name: topic, ID: group.TopicID(td.ID), Partitions: int32(len(td.Partitions))}})
	p := m.PartitionFor(g)
	l := loaders[p]
	if l == nil {
		t.Fatalf("no records of %s in partition %d", g, p)
	}
	m.BeginLoad(p)
	if err := m.CompleteLoad(time.Now(), p, l); err != nil {
		t.Fatal(err)
	}
	got, _, err := m.DescribeConsumerGroup(g)
	if err != nil {
		t.Fatal(err)
	}
	if w, s := view848Kafka(want), view848Strom(got); w != s {
		t.Fatalf("group replayed from Kafka's records:\n strom: %s\n kafka: %s", s, w)
	}
}

func view848Kafka(g kmsg.ConsumerGroupDescribeResponseGroup) string {
	var ms []string
	for _, m := range g.Members {
		var ps []string
		for _, tp := range m.Assignment.TopicPartitions {
			for _, p := range tp.Partitions {
				ps = append(ps, fmt.Sprintf("%x/%d", tp.TopicID[:4], p))
			}
		}
		slices.Sort(ps)
		ms = append(ms, fmt.Sprintf("%s@%d[%s]", m.MemberID, m.MemberEpoch, strings.Join(ps, ",")))
	}
	slices.Sort(ms)
	return fmt.Sprintf("epoch %d/%d %s", g.Epoch, g.AssignmentEpoch, strings.Join(ms, " "))
}

func view848Strom(d group.ConsumerGroupDescription) string {
	var ms []string
	for _, m := range d.Members {
		var ps []string
		for _, ta := range m.Assignment {
			for _, p := range ta.Partitions {
				ps = append(ps, fmt.Sprintf("%x/%d", ta.Topic[:4], p))
			}
		}
		slices.Sort(ps)
		ms = append(ms, fmt.Sprintf("%s@%d[%s]", m.ID, m.Epoch, strings.Join(ps, ",")))
	}
	slices.Sort(ms)
	return fmt.Sprintf("epoch %d/%d %s", d.Epoch, d.AssignmentEpoch, strings.Join(ms, " "))
}
