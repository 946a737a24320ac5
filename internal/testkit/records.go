package testkit

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Codecs are the record batch compression codecs every client test covers,
// by their Kafka config names.
var Codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// KgoCodec maps a Kafka codec name to franz-go's producer option value.
func KgoCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	default:
		return kgo.NoCompression()
	}
}

// NewClient returns a franz-go client seeded with addr, closed by the test's
// cleanup. Options after the seed override the defaults.
func NewClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("strom-testkit")}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// NewAdmin returns a kadm client over its own franz-go client.
func NewAdmin(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(NewClient(t, addr))
}

// CreateTopic creates a topic with replication factor 1 and fails the test
// unless the broker confirms it.
func CreateTopic(t testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := NewAdmin(t, addr).CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s: %v (%s)", topic, resp.Err, resp.ErrMessage)
	}
}

// TopicName derives a topic name from the test name: unique per test and
// legal as a Kafka topic name.
func TopicName(t testing.TB, suffix string) string {
	r := strings.NewReplacer("/", ".", " ", "_", "#", "_", ":", "_", "=", "_")
	name := r.Replace(t.Name())
	if suffix != "" {
		name += "." + suffix
	}
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	return name
}

// MakeRecords returns n keyed records with two headers each (one with an
// empty value), spread over partitions round-robin. Values are distinct,
// carry id as a prefix, and compress well. Every field is set so that a
// byte-exact comparison after a round trip means something.
func MakeRecords(topic, id string, n int, partitions int32) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Topic:     topic,
			Partition: int32(i) % partitions,
			Key:       []byte(fmt.Sprintf("key-%s-%d", id, i)),
			Value:     []byte(fmt.Sprintf("%s-%06d-%s", id, i, strings.Repeat("v", 50+i%97))),
			Headers: []kgo.RecordHeader{
				{Key: "index", Value: []byte(fmt.Sprint(i))},
				{Key: "empty", Value: []byte{}},
			},
		}
	}
	return recs
}

// ManualPartitioner makes franz-go honour Record.Partition.
func ManualPartitioner() kgo.Opt { return kgo.RecordPartitioner(kgo.ManualPartitioner()) }

// ProduceSync produces recs with cl and fails the test on the first error.
// On return each record holds the partition and offset it was acknowledged at.
func ProduceSync(t testing.TB, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records: %v", len(recs), err)
	}
}

// ConsumePartitions reads each listed partition of topic from its start until
// it has read up to the partition's high watermark, as ListOffsets reports it
// when the call begins, using direct assignment (no consumer group). Records
// come back in per-partition offset order.
func ConsumePartitions(t testing.TB, addr, topic string, partitions int32, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends := HighWatermarks(t, addr, topic)
	if int32(len(ends)) != partitions {
		t.Fatalf("ListOffsets for %s: %d partitions, want %d", topic, len(ends), partitions)
	}
	want := map[int32]int64{}
	assign := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > 0 {
			want[p] = end
			assign[p] = kgo.NewOffset().AtStart()
		}
	}
	if len(want) == 0 {
		return nil
	}
	opts = append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign})}, opts...)
	cl := NewClient(t, addr, opts...)
	defer cl.Close()
	var out []*kgo.Record
	done := map[int32]bool{}
	for len(done) < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: read %d records, partitions done %v of high watermarks %v: %v", topic, len(out), done, want, ctx.Err())
		}
		// Stop on this call's fetch errors only: a test that already
		// reported a failure may still read what the broker holds.
		fetchFailed := false
		fs.EachError(func(topic string, p int32, err error) {
			t.Errorf("fetch %s/%d: %v", topic, p, err)
			fetchFailed = true
		})
		if fetchFailed {
			t.FailNow()
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < want[r.Partition] {
				out = append(out, r)
			}
			if r.Offset+1 >= want[r.Partition] {
				done[r.Partition] = true
			}
		})
	}
	return out
}

// HighWatermarks lists the end offset of every partition of topic.
func HighWatermarks(t testing.TB, addr, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := NewAdmin(t, addr).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets %s: %v", topic, err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("list end offsets %s/%d: %v", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

// RequireSameRecords fails the test unless got holds exactly the records in
// want (matched by partition and offset, which want must carry from the
// acknowledgement) with byte-identical keys, values and headers, and the
// offsets of each partition in got are contiguous.
func RequireSameRecords(t testing.TB, want, got []*kgo.Record) {
	t.Helper()
	type at struct {
		p int32
		o int64
	}
	byAt := map[at]*kgo.Record{}
	for _, r := range want {
		byAt[at{r.Partition, r.Offset}] = r
	}
	if len(byAt) != len(want) {
		t.Fatalf("acknowledged offsets are not unique: %d records acknowledged at %d distinct partition/offset pairs", len(want), len(byAt))
	}
	errs := 0
	fail := func(format string, args ...any) {
		errs++
		if errs <= 20 {
			t.Errorf(format, args...)
		}
	}
	next := map[int32]int64{}
	seen := map[at]bool{}
	for _, r := range got {
		k := at{r.Partition, r.Offset}
		if seen[k] {
			fail("partition %d offset %d read twice", r.Partition, r.Offset)
			continue
		}
		seen[k] = true
		if n, ok := next[r.Partition]; ok && r.Offset != n {
			fail("partition %d: offset %d follows %d (not contiguous)", r.Partition, r.Offset, n-1)
		}
		next[r.Partition] = r.Offset + 1
		w, ok := byAt[k]
		if !ok {
			fail("partition %d offset %d: read a record that was never acknowledged there (key %q)", r.Partition, r.Offset, r.Key)
			continue
		}
		if d := DiffRecord(w, r); d != "" {
			fail("partition %d offset %d: %s", r.Partition, r.Offset, d)
		}
	}
	for k, w := range byAt {
		if !seen[k] {
			fail("acknowledged record not read back: partition %d offset %d key %q", k.p, k.o, w.Key)
		}
	}
	if errs > 20 {
		t.Errorf("... and %d more mismatches", errs-20)
	}
	if errs > 0 {
		t.FailNow()
	}
}

// DiffRecord describes how got differs from want in key, value or headers
// (byte-exact; a nil and an empty value are the same on the wire only for
// headers of length 0), or returns "".
func DiffRecord(want, got *kgo.Record) string {
	var d []string
	if !bytes.Equal(want.Key, got.Key) || (want.Key == nil) != (got.Key == nil) {
		d = append(d, fmt.Sprintf("key %q, want %q", got.Key, want.Key))
	}
	if !bytes.Equal(want.Value, got.Value) || (want.Value == nil) != (got.Value == nil) {
		d = append(d, fmt.Sprintf("value %q, want %q", trunc(got.Value), trunc(want.Value)))
	}
	if len(want.Headers) != len(got.Headers) {
		d = append(d, fmt.Sprintf("%d headers, want %d", len(got.Headers), len(want.Headers)))
	} else {
		for i := range want.Headers {
			if want.Headers[i].Key != got.Headers[i].Key || !bytes.Equal(want.Headers[i].Value, got.Headers[i].Value) {
				d = append(d, fmt.Sprintf("header %d = %q:%q, want %q:%q", i,
					got.Headers[i].Key, got.Headers[i].Value, want.Headers[i].Key, want.Headers[i].Value))
			}
		}
	}
	return strings.Join(d, "; ")
}

func trunc(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
