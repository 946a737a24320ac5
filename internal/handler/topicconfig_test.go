package handler_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/testkit"
)

// createTopicConfigs creates a one-partition topic with configs and fails
// the test unless the broker accepts it.
func (a *adminEnv) createTopicConfigs(name string, configs map[string]*string) {
	a.t.Helper()
	resp, err := a.adm.CreateTopic(ctx(a.t), 1, 1, configs, name)
	if err != nil || resp.Err != nil {
		a.t.Fatalf("create topic %s with %v: %v %v", name, configs, err, resp.Err)
	}
}

// produceAt produces one record with timestamp ts and returns the error.
func (a *adminEnv) produceAt(topic string, ts time.Time) error {
	a.t.Helper()
	r := &kgo.Record{Topic: topic, Value: []byte("v"), Timestamp: ts}
	return a.cl.ProduceSync(ctx(a.t), r).FirstErr()
}

// TestTimestampLimits: message.timestamp.before.max.ms and after.max.ms
// refuse CreateTime records too far from the broker's clock with
// INVALID_TIMESTAMP, naming the record; Kafka 4's default refuses records
// more than an hour ahead.
func TestTimestampLimits(t *testing.T) {
	a := newAdminEnv(t)
	a.createTopicConfigs("ts", map[string]*string{
		"message.timestamp.before.max.ms": str("60000"),
		"message.timestamp.after.max.ms":  str("60000"),
	})
	now := time.Now()
	for _, tc := range []struct {
		what string
		ts   time.Time
		want error
	}{
		{"now", now, nil},
		{"an hour ago", now.Add(-time.Hour), kerr.InvalidTimestamp},
		{"in an hour", now.Add(time.Hour), kerr.InvalidTimestamp},
		{"30s ago", now.Add(-30 * time.Second), nil},
	} {
		if err := a.produceAt("ts", tc.ts); err != tc.want {
			t.Errorf("%s: produce error %v, want %v", tc.what, err, tc.want)
		}
	}

	// The default (Kafka 4: any age, an hour ahead at most).
	a.createTopic("ts-default", 1)
	if err := a.produceAt("ts-default", now.Add(-365*24*time.Hour)); err != nil {
		t.Errorf("a year old: %v", err)
	}
	if err := a.produceAt("ts-default", now.Add(2*time.Hour)); err != kerr.InvalidTimestamp {
		t.Errorf("two hours ahead: %v, want INVALID_TIMESTAMP", err)
	}

	// The raw answer names the record, as Kafka's record_errors do.
	req := kmsg.NewPtrProduceRequest()
	req.Version = 12 // topics by name
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "ts"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = buildBatch(t, now.Add(-time.Hour).UnixMilli(), 2)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRequest[*kmsg.ProduceResponse](t, a.b.Addr(), req)
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.InvalidTimestamp.Code || len(sp.ErrorRecords) != 2 || sp.ErrorRecords[1].RelativeOffset != 1 ||
		!strings.Contains(deref(sp.ErrorRecords[0].ErrorMessage), "is out of range") {
		t.Errorf("raw produce: error %d, record errors %+v", sp.ErrorCode, sp.ErrorRecords)
	}
	// LogAppendTime topics take any producer time.
	a.createTopicConfigs("ts-append", map[string]*string{
		"message.timestamp.type":         str("LogAppendTime"),
		"message.timestamp.after.max.ms": str("0"),
	})
	if err := a.produceAt("ts-append", now.Add(48*time.Hour)); err != nil {
		t.Errorf("LogAppendTime topic: %v", err)
	}
}

// TestSegmentIndexBytes: a segment whose index reaches segment.index.bytes
// is rolled.
func TestSegmentIndexBytes(t *testing.T) {
	a := newAdminEnv(t)
	a.createTopicConfigs("idx", map[string]*string{
		"segment.index.bytes":  str("120"), // fifteen offset-index entries
		"index.interval.bytes": str("1"),   // an entry for every batch
	})
	for i := 0; i < 40; i++ {
		if err := a.produce("idx", 0, 1, 100); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(a.b.Config().DataDir, "idx-0", "*.log"))
	if len(segs) < 3 { // one with the default 10 MiB
		t.Errorf("%d segments after 40 batches with room for 15 index entries each, want at least 3", len(segs))
	}
}

// buildBatch is an uncompressed batch of n records stamped ts.
func buildBatch(t *testing.T, ts int64, n int) []byte {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Key: []byte("k"), Value: []byte("v")}
	}
	b, err := record.AppendBatch(nil, record.BatchOptions{FirstTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawProduce sends one batch to partition 0 of topic at Produce v12 and
// returns the partition's answer.
func rawProduce(t *testing.T, addr, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 12 // topics by name
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return rawRequest[*kmsg.ProduceResponse](t, addr, req).Topics[0].Partitions[0]
}

// storedBatches fetches partition 0 of topic from offset 0 and returns its
// batches' headers and records' values.
func storedBatches(t *testing.T, addr, topic string) ([]record.BatchHeader, []string) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12 // topics by name
	req.ReplicaID, req.MaxBytes, req.MinBytes = -1, 1<<20, 1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp := rawRequest[*kmsg.FetchResponse](t, addr, req)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch %s: %v", topic, kerr.ErrorForCode(p.ErrorCode))
	}
	var hs []record.BatchHeader
	var values []string
	if err := record.Split(p.RecordBatches, func(b []byte, h record.BatchHeader) error {
		if _, err := record.Validate(b); err != nil {
			return err
		}
		hs = append(hs, h)
		return record.Records(b, func(r record.Record) error {
			values = append(values, string(r.Value))
			return nil
		})
	}); err != nil {
		t.Fatalf("fetched batches of %s: %v", topic, err)
	}
	return hs, values
}

// idempotentBatch is a batch of n records of producer pid/epoch starting
// at seq, compressed with codec.
func idempotentBatch(t *testing.T, codec record.Codec, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{Key: []byte("k"), Value: []byte(strings.Repeat(string(rune('a'+int(seq)+i)), 50))}
	}
	b, err := record.AppendBatch(nil, record.BatchOptions{Codec: codec, FirstTimestamp: time.Now().UnixMilli(),
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCompressionType: a topic with compression.type other than producer
// stores every batch with its codec (recompressed, offsets and producer
// sequence kept: a retried idempotent batch is answered as a duplicate);
// producer keeps the producer's codec.
func TestCompressionType(t *testing.T) {
	a := newAdminEnv(t)
	addr := a.b.Addr()
	a.createTopicConfigs("gz", map[string]*string{"compression.type": str("gzip"), "compression.gzip.level": str("9")})
	a.createTopicConfigs("plain", map[string]*string{"compression.type": str("uncompressed")})
	a.createTopicConfigs("zs", map[string]*string{"compression.type": str("zstd"), "compression.zstd.level": str("19")})
	a.createTopic("asis", 1)

	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 4
	init.TransactionTimeoutMillis = -1
	ip := rawRequest[*kmsg.InitProducerIDResponse](t, addr, init)
	if ip.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ip.ErrorCode))
	}
	pid, epoch := ip.ProducerID, ip.ProducerEpoch

	for _, tc := range []struct {
		topic     string
		sent, got record.Codec
	}{
		{"gz", record.CodecNone, record.CodecGzip},
		{"gz", record.CodecLZ4, record.CodecGzip},
		{"plain", record.CodecSnappy, record.CodecNone},
		{"zs", record.CodecGzip, record.CodecZstd},
		{"asis", record.CodecLZ4, record.CodecLZ4},
	} {
		first := idempotentBatch(t, tc.sent, pid, epoch, 0, 3)
		if tc.topic == "gz" && tc.sent == record.CodecLZ4 {
			first = idempotentBatch(t, tc.sent, pid, epoch, 6, 3) // continues the first gz batches
		}
		hs0, _ := storedBatches(t, addr, tc.topic)
		next := int64(0)
		if len(hs0) > 0 {
			next = hs0[len(hs0)-1].LastOffset() + 1
		}
		h, _ := record.ParseHeader(first)
		r1 := rawProduce(t, addr, tc.topic, first)
		r2 := rawProduce(t, addr, tc.topic, first) // a retry: the same offsets
		second := idempotentBatch(t, tc.sent, pid, epoch, h.BaseSequence+3, 3)
		r3 := rawProduce(t, addr, tc.topic, second)
		if r1.ErrorCode != 0 || r2.ErrorCode != 0 || r3.ErrorCode != 0 || r1.BaseOffset != next || r2.BaseOffset != next || r3.BaseOffset != next+3 {
			t.Fatalf("%s (%v): produce answers %v@%d, %v@%d (retry), %v@%d; want offsets %d, %d, %d", tc.topic, tc.sent,
				kerr.ErrorForCode(r1.ErrorCode), r1.BaseOffset, kerr.ErrorForCode(r2.ErrorCode), r2.BaseOffset,
				kerr.ErrorForCode(r3.ErrorCode), r3.BaseOffset, next, next, next+3)
		}
		hs, values := storedBatches(t, addr, tc.topic)
		hs = hs[len(hs0):]
		if len(hs) != 2 {
			t.Fatalf("%s: %d new batches stored, want 2", tc.topic, len(hs))
		}
		for i, bh := range hs {
			if bh.Codec() != tc.got || bh.BaseOffset != next+int64(3*i) || bh.NumRecords != 3 || bh.ProducerID != pid || bh.BaseSequence != h.BaseSequence+int32(3*i) {
				t.Errorf("%s (sent %v): stored batch %+v, want codec %v at %d", tc.topic, tc.sent, bh, tc.got, next+int64(3*i))
			}
		}
		if v := values[len(values)-1]; v != strings.Repeat(string(rune('a'+int(h.BaseSequence)+5)), 50) {
			t.Errorf("%s: last value %q", tc.topic, v)
		}
	}

	// A franz-go consumer reads the recompressed records.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("gz"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for n < 12 {
		fs := cl.PollFetches(ctx(t))
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if n != 12 {
		t.Errorf("consumed %d records of gz, want 12", n)
	}
}

// TestDescribeEveryTopicConfig: DescribeConfigs lists every topic config
// with its type and Kafka's sources and synonyms: the topic's override,
// the node's static config (STATIC_BROKER_CONFIG), the built-in default,
// and none for configs Kafka gives no broker default.
func TestDescribeEveryTopicConfig(t *testing.T) {
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.Log.RetentionMs = 1000
		c.Log.SegmentBytes = 2 << 20
	}))
	a := &adminEnv{t: t, b: b}
	a.connect()
	a.createTopicConfigs("all", map[string]*string{"cleanup.policy": str("compact"), "preallocate": str("true")})
	cs := a.describeTopic("all")
	if len(cs) != len(metadata.TopicConfigDefs) || len(cs) != 33 {
		t.Errorf("%d configs described, want Kafka 4.1's 33", len(cs))
	}
	for name, c := range cs {
		if c.ConfigType == 0 || c.Documentation == nil || c.ReadOnly || c.IsSensitive {
			t.Errorf("%s: type %v, doc %v, read-only %v, sensitive %v", name, c.ConfigType, c.Documentation, c.ReadOnly, c.IsSensitive)
		}
	}
	synonyms := func(name string) string {
		var out []string
		for _, s := range cs[name].ConfigSynonyms {
			out = append(out, fmt.Sprintf("%s=%s(%v)", s.Name, deref(s.Value), s.Source))
		}
		return fmt.Sprintf("%s %v %v", deref(cs[name].Value), cs[name].Source, out)
	}
	for name, want := range map[string]string{
		"retention.ms":          "1000 STATIC_BROKER_CONFIG [log.retention.ms=1000(STATIC_BROKER_CONFIG)]",
		"segment.bytes":         "2097152 STATIC_BROKER_CONFIG [log.segment.bytes=2097152(STATIC_BROKER_CONFIG) log.segment.bytes=1073741824(DEFAULT_CONFIG)]",
		"cleanup.policy":        "compact DYNAMIC_TOPIC_CONFIG [cleanup.policy=compact(DYNAMIC_TOPIC_CONFIG) log.cleanup.policy=delete(DEFAULT_CONFIG)]",
		"preallocate":           "true DYNAMIC_TOPIC_CONFIG [preallocate=true(DYNAMIC_TOPIC_CONFIG) log.preallocate=false(DEFAULT_CONFIG)]",
		"segment.ms":            "604800000 DEFAULT_CONFIG []",
		"remote.storage.enable": "false DEFAULT_CONFIG []",
		"compression.type":      "producer DEFAULT_CONFIG [compression.type=producer(DEFAULT_CONFIG)]",
		"local.retention.ms":    "-2 DEFAULT_CONFIG [log.local.retention.ms=-2(DEFAULT_CONFIG)]",
	} {
		if got := synonyms(name); got != want {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
}
