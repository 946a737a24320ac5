package handler_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/record"
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
