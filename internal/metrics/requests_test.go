package metrics

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// embedding wraps a response as the hand-encoded Fetch response does.
type embedding struct {
	*kmsg.FetchResponse
	other []int
}

func TestForEachErrorCodeFindsNestedCodes(t *testing.T) {
	fr := kmsg.NewPtrFetchResponse()
	fr.ErrorCode = 0
	tp := kmsg.NewFetchResponseTopic()
	p1, p2 := kmsg.NewFetchResponseTopicPartition(), kmsg.NewFetchResponseTopicPartition()
	p1.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER
	p2.ErrorCode = 1 // OFFSET_OUT_OF_RANGE
	tp.Partitions = append(tp.Partitions, p1, p2)
	fr.Topics = append(fr.Topics, tp)

	var got []int16
	forEachErrorCode(fr, func(c int16) { got = append(got, c) })
	if !slices.Equal(got, []int16{6, 1}) {
		t.Fatalf("codes = %v, want [6 1]", got)
	}
	got = got[:0]
	forEachErrorCode(&embedding{FetchResponse: fr}, func(c int16) { got = append(got, c) })
	if !slices.Equal(got, []int16{6, 1}) {
		t.Fatalf("codes through an embedded pointer = %v, want [6 1]", got)
	}

	cr := kmsg.NewPtrCreateTopicsResponse()
	ct := kmsg.NewCreateTopicsResponseTopic()
	ct.ErrorCode = 36 // TOPIC_ALREADY_EXISTS
	cr.Topics = append(cr.Topics, ct)
	got = got[:0]
	forEachErrorCode(cr, func(c int16) { got = append(got, c) })
	if !slices.Equal(got, []int16{36}) {
		t.Fatalf("create topics codes = %v", got)
	}
	if errorName(36) != "TOPIC_ALREADY_EXISTS" || errorName(-99) != "-99" {
		t.Fatalf("errorName: %q %q", errorName(36), errorName(-99))
	}
}

// countingCollector counts how often it is collected.
type countingCollector struct {
	desc  *prometheus.Desc
	calls int
}

func (c *countingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *countingCollector) Collect(ch chan<- prometheus.Metric) {
	c.calls++
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.calls))
}

func TestCachedCollectorReplaysWithinTTL(t *testing.T) {
	inner := &countingCollector{desc: prometheus.NewDesc("x", "x", nil, nil)}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&cachedCollector{c: inner, ttl: time.Hour})
	for i := 0; i < 3; i++ {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if v := fams[0].Metric[0].GetGauge().GetValue(); v != 1 {
			t.Fatalf("gather %d saw %v, want the cached 1", i, v)
		}
	}
	if inner.calls != 1 {
		t.Fatalf("collected %d times within the TTL, want 1", inner.calls)
	}
}
