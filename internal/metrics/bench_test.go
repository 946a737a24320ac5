package metrics

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The request path's share of the metrics: what one request costs the
// broker in clock reads, the series lookup, three histogram observations
// and the walk of the response for error codes, and what the per-topic
// counters cost a produce or fetch. docs/benchmarks.md sets these against
// a whole request's CPU time.

func produceResponse(partitions int) *kmsg.ProduceResponse {
	r := kmsg.NewPtrProduceResponse()
	r.Version = 9
	t := kmsg.NewProduceResponseTopic()
	t.Topic = "bench"
	for i := 0; i < partitions; i++ {
		p := kmsg.NewProduceResponseTopicPartition()
		p.Partition = int32(i)
		t.Partitions = append(t.Partitions, p)
	}
	r.Topics = append(r.Topics, t)
	return r
}

func fetchResponse(partitions int) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.Version = 12
	t := kmsg.NewFetchResponseTopic()
	t.Topic = "bench"
	for i := 0; i < partitions; i++ {
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = int32(i)
		t.Partitions = append(t.Partitions, p)
	}
	r.Topics = append(r.Topics, t)
	return r
}

// BenchmarkRequestDone: the conn's clock reads (arrived, ready, written)
// and ListenerRequests.Done for a response of one partition and of 100.
func BenchmarkRequestDone(b *testing.B) {
	for _, c := range []struct {
		name string
		key  kmsg.Key
		resp kmsg.Response
	}{
		{"produce-1", kmsg.Produce, produceResponse(1)},
		{"fetch-1", kmsg.Fetch, fetchResponse(1)},
		{"fetch-100", kmsg.Fetch, fetchResponse(100)},
	} {
		b.Run(c.name, func(b *testing.B) {
			l := newRequests().Listener("bench")
			b.ReportAllocs()
			for b.Loop() {
				arrived := time.Now()
				ready := time.Now()
				l.Done(c.key, c.resp.GetVersion(), arrived, ready, time.Now(), c.resp)
			}
		})
	}
}

// BenchmarkTopicCounters: the per-topic counters a produce (bytes and
// records in) and a fetch (bytes out) add per partition served.
func BenchmarkTopicCounters(b *testing.B) {
	b.Run("produce", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			TopicBytesIn.WithLabelValues("bench").Add(10000)
			TopicRecordsIn.WithLabelValues("bench").Add(100)
		}
	})
	b.Run("fetch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			TopicBytesOut.WithLabelValues("bench").Add(1 << 20)
		}
	})
}
