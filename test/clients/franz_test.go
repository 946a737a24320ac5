package clients_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

func TestFranzGoProduceConsumeCodecs(t *testing.T) {
	b := testkit.StartBroker(t)
	for _, codec := range testkit.Codecs {
		t.Run(codec, func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
			// kgo defaults: acks=all, idempotent producer.
			cl := testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner(),
				kgo.ProducerBatchCompression(testkit.KgoCodec(codec)), kgo.ProducerLinger(5*time.Millisecond))
			recs := testkit.MakeRecords(topic, "franz-"+codec, recordsPerCodec, partitions)
			testkit.ProduceSync(t, cl, recs)
			got := testkit.ConsumePartitions(t, b.Addr(), topic, partitions)
			testkit.RequireSameRecords(t, recs, got)
		})
	}
}

func TestFranzGoAdmin(t *testing.T) {
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) { c.AutoCreateTopics = false }))
	// kgo caches Metadata answers for MetadataMinAge; admin checks want fresh ones.
	adm := kadm.NewClient(testkit.NewClient(t, b.Addr(), kgo.MetadataMinAge(10*time.Millisecond)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topicA, topicB := testkit.TopicName(t, "a"), testkit.TopicName(t, "b")

	// CreateTopics, with a topic config, and a duplicate create.
	created, err := adm.CreateTopics(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, topicA, topicB)
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	for _, c := range created.Sorted() {
		if c.Err != nil {
			t.Fatalf("CreateTopics %s: %v (%s)", c.Topic, c.Err, c.ErrMessage)
		}
		if c.NumPartitions != 2 || c.ReplicationFactor != 1 {
			t.Errorf("CreateTopics %s: %d partitions, rf %d; want 2, 1", c.Topic, c.NumPartitions, c.ReplicationFactor)
		}
	}
	dup, err := adm.CreateTopics(ctx, 2, 1, nil, topicA)
	if err != nil {
		t.Fatalf("CreateTopics (duplicate): %v", err)
	}
	if err := dup[topicA].Err; !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("CreateTopics on an existing topic: err %v, want TOPIC_ALREADY_EXISTS", err)
	}

	t.Run("Metadata", func(t *testing.T) {
		// ListTopics / Metadata.
		listed, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatalf("ListTopics: %v", err)
		}
		for _, topic := range []string{topicA, topicB} {
			td, ok := listed[topic]
			if !ok {
				t.Fatalf("ListTopics lacks %s; has %v", topic, listed.Names())
			}
			if td.Err != nil || len(td.Partitions) != 2 {
				t.Errorf("ListTopics %s: err %v, %d partitions; want nil, 2", topic, td.Err, len(td.Partitions))
			}
			for _, p := range td.Partitions {
				if p.Leader != 1 || p.LeaderEpoch < 0 || !slices.Equal(p.Replicas, []int32{1}) || !slices.Equal(p.ISR, []int32{1}) {
					t.Errorf("ListTopics %s/%d: leader %d epoch %d replicas %v isr %v; want leader 1, epoch >= 0, [1], [1]",
						topic, p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR)
				}
			}
		}
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			t.Fatalf("Metadata: %v", err)
		}
		if len(md.Brokers) != 1 || md.Brokers[0].NodeID != 1 || md.Brokers[0].Host != "127.0.0.1" {
			t.Errorf("Metadata brokers = %+v, want one broker, node 1 on 127.0.0.1", md.Brokers)
		}
	})
	t.Run("DescribeCluster", func(t *testing.T) {
		// DescribeCluster.
		dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, testkit.NewClient(t, b.Addr()))
		if err != nil {
			t.Fatalf("DescribeCluster: %v", err)
		}
		if dc.ErrorCode != 0 || dc.ClusterID == "" || len(dc.Brokers) != 1 || dc.Brokers[0].NodeID != 1 || dc.Brokers[0].Host != "127.0.0.1" {
			t.Errorf("DescribeCluster: error %d, cluster id %q, brokers %+v; want no error, an id, node 1 on 127.0.0.1", dc.ErrorCode, dc.ClusterID, dc.Brokers)
		}
	})
	t.Run("CreatePartitions", func(t *testing.T) {
		// CreatePartitions: 2 -> 4.
		cp, err := adm.UpdatePartitions(ctx, 4, topicA)
		if err != nil {
			t.Fatalf("CreatePartitions: %v", err)
		}
		if r := cp[topicA]; r.Err != nil {
			t.Fatalf("CreatePartitions %s: %v (%s)", topicA, r.Err, r.ErrMessage)
		}
		dt, err := adm.ListTopics(ctx, topicA)
		if err != nil || len(dt[topicA].Partitions) != 4 {
			t.Fatalf("after CreatePartitions: err %v, %d partitions, want 4", err, len(dt[topicA].Partitions))
		}
	})
	t.Run("DescribeAlterConfigs", func(t *testing.T) {
		// DescribeConfigs shows the create-time config as a dynamic topic config.
		wantConfig := func(key, want string) {
			t.Helper()
			rcs, err := adm.DescribeTopicConfigs(ctx, topicA)
			if err != nil {
				t.Fatalf("DescribeConfigs: %v", err)
			}
			rc, err := rcs.On(topicA, nil)
			if err != nil || rc.Err != nil {
				t.Fatalf("DescribeConfigs %s: %v %v", topicA, err, rc.Err)
			}
			for _, c := range rc.Configs {
				if c.Key == key {
					if c.MaybeValue() != want {
						t.Errorf("DescribeConfigs %s: %s = %q, want %q", topicA, key, c.MaybeValue(), want)
					}
					return
				}
			}
			t.Errorf("DescribeConfigs %s: no %s among %d configs", topicA, key, len(rc.Configs))
		}
		wantConfig("retention.ms", "3600000")

		// IncrementalAlterConfigs, then legacy AlterConfigs (full state).
		alt, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")}}, topicA)
		if err != nil || alt[0].Err != nil {
			t.Fatalf("IncrementalAlterConfigs: %v %v", err, alt)
		}
		wantConfig("retention.ms", "7200000")
		alt, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: kadm.StringPtr("1048576")}}, topicA)
		if err != nil || alt[0].Err != nil {
			t.Fatalf("AlterConfigs: %v %v", err, alt)
		}
		wantConfig("segment.bytes", "1048576")
	})
	t.Run("ListOffsetsDeleteRecords", func(t *testing.T) {
		// ListOffsets and DeleteRecords on a partition with 10 records.
		cl := testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner())
		recs := testkit.MakeRecords(topicB, "admin", 10, 1)
		testkit.ProduceSync(t, cl, recs)
		ends, err := adm.ListEndOffsets(ctx, topicB)
		if err != nil {
			t.Fatalf("ListOffsets(latest): %v", err)
		}
		if o, _ := ends.Lookup(topicB, 0); o.Err != nil || o.Offset != 10 {
			t.Errorf("ListOffsets(latest) %s/0 = %d (%v), want 10", topicB, o.Offset, o.Err)
		}
		if o, _ := ends.Lookup(topicB, 1); o.Err != nil || o.Offset != 0 {
			t.Errorf("ListOffsets(latest) %s/1 = %d (%v), want 0", topicB, o.Offset, o.Err)
		}
		afterMilli, err := adm.ListOffsetsAfterMilli(ctx, recs[0].Timestamp.UnixMilli(), topicB)
		if err != nil {
			t.Fatalf("ListOffsets(timestamp): %v", err)
		}
		if o, _ := afterMilli.Lookup(topicB, 0); o.Err != nil || o.Offset != 0 {
			t.Errorf("ListOffsets(timestamp of first record) %s/0 = %d (%v), want 0", topicB, o.Offset, o.Err)
		}
		var dro kadm.Offsets
		dro.Add(kadm.Offset{Topic: topicB, Partition: 0, At: 6})
		dr, err := adm.DeleteRecords(ctx, dro)
		if err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		if r, _ := dr.Lookup(topicB, 0); r.Err != nil || r.LowWatermark != 6 {
			t.Errorf("DeleteRecords %s/0 before 6: low watermark %d (%v), want 6", topicB, r.LowWatermark, r.Err)
		}
		starts, err := adm.ListStartOffsets(ctx, topicB)
		if err != nil {
			t.Fatalf("ListOffsets(earliest): %v", err)
		}
		if o, _ := starts.Lookup(topicB, 0); o.Err != nil || o.Offset != 6 {
			t.Errorf("ListOffsets(earliest) after DeleteRecords = %d (%v), want 6", o.Offset, o.Err)
		}
		got := testkit.ConsumePartitions(t, b.Addr(), topicB, 2)
		testkit.RequireSameRecords(t, recs[6:], got)
	})
	t.Run("DescribeLogDirs", func(t *testing.T) {
		// DescribeLogDirs lists every partition of both topics.
		topics, err := adm.ListTopics(ctx, topicA, topicB)
		if err != nil {
			t.Fatalf("ListTopics: %v", err)
		}
		want := len(topics[topicA].Partitions) + len(topics[topicB].Partitions)
		dirs, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			t.Fatalf("DescribeLogDirs: %v", err)
		}
		found := 0
		dirs.Each(func(d kadm.DescribedLogDir) {
			if d.Err != nil {
				t.Errorf("DescribeLogDirs %s: %v", d.Dir, d.Err)
			}
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				if p.Topic == topicA || p.Topic == topicB {
					found++
				}
			})
		})
		if found != want {
			t.Errorf("DescribeLogDirs: %d partitions of %s and %s, want %d", found, topicA, topicB, want)
		}
	})
	t.Run("DeleteTopics", func(t *testing.T) {
		// DeleteTopics, then the topic is gone and a second delete fails.
		del, err := adm.DeleteTopics(ctx, topicA)
		if err != nil || del[topicA].Err != nil {
			t.Fatalf("DeleteTopics: %v %v", err, del[topicA].Err)
		}
		// As in Kafka, metadata may show the deletion a moment later.
		deadline := time.Now().Add(10 * time.Second)
		for {
			listed, err := adm.ListTopics(ctx)
			if err != nil {
				t.Fatalf("ListTopics: %v", err)
			}
			if !listed.Has(topicB) {
				t.Fatalf("after deleting %s, %s is gone too: topics %v", topicA, topicB, listed.Names())
			}
			if !listed.Has(topicA) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still listed 10s after DeleteTopics succeeded: topics %v", topicA, listed.Names())
			}
			time.Sleep(50 * time.Millisecond)
		}
		del, err = adm.DeleteTopics(ctx, topicA)
		if err != nil {
			t.Fatalf("DeleteTopics (again): %v", err)
		}
		if !errors.Is(del[topicA].Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("DeleteTopics on a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", del[topicA].Err)
		}
	})
}
