package handler

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/quota"
)

// Client quotas (internal/quota) as Kafka's KafkaApis applies them: a
// request's throttle time is the largest of its byte-rate quota
// (Produce: the request's bytes; Fetch: the answer's bytes), its
// request_percentage (the handler's time), and, for CreateTopics,
// CreatePartitions and DeleteTopics, its controller_mutation_rate. It
// goes in the answer's throttle_time_ms, and the server mutes the
// connection that long once the answer is sent (KIP-219). A client no
// quota applies to is never measured and never throttled.

// errThrottled refuses a topic's mutation under a strict controller
// mutation quota: THROTTLING_QUOTA_EXCEEDED.
var errThrottled = errors.New(kerr.ThrottlingQuotaExceeded.Description)

// quotaExempt are the APIs Kafka leaves out of the request quota: those
// a client needs before it can be throttled, and those between brokers.
var quotaExempt = map[kmsg.Key]bool{
	kmsg.ApiVersions:        true,
	kmsg.SASLHandshake:      true,
	kmsg.SASLAuthenticate:   true,
	kmsg.WriteTxnMarkers:    true,
	kmsg.AlterPartition:     true,
	kmsg.BrokerHeartbeat:    true,
	kmsg.BrokerRegistration: true,
}

// strictMutationSince is the first version of each mutating API whose
// answer can carry THROTTLING_QUOTA_EXCEEDED per topic (KIP-599): below
// it the quota is permissive.
var strictMutationSince = map[kmsg.Key]int16{
	kmsg.CreateTopics:     6,
	kmsg.CreatePartitions: 3,
	kmsg.DeleteTopics:     5,
}

// mutationAllowed takes n partitions from the request's controller
// mutation quota; false: refused (strict quota exceeded).
func (r *Request) mutationAllowed(e *Env, n int) bool {
	if r.mutation == nil {
		return true
	}
	return r.mutation.Record(float64(n), e.Now())
}

// serveWithQuotas serves r and sets its answer's throttle time.
func (e *Env) serveWithQuotas(r *Request) Result {
	q := e.Quotas
	c := quota.ClientOf(r.Principal, r.ClientID)
	if since, ok := strictMutationSince[r.Key]; ok && q.Enabled(quota.ControllerMutation) {
		r.mutation = q.Mutation(c, r.Version >= since)
	}
	if fr, ok := r.Body.(*kmsg.FetchRequest); ok && replicaID(fr) < 0 {
		// A consumer is never sent more than its quota allows within the
		// measured windows (Kafka's maxQuotaWindowBytes).
		if w, ok := q.MaxValueInWindow(quota.Fetch, c); ok && float64(fr.MaxBytes) > w {
			fr.MaxBytes = int32(max(w, 1))
			fr.MinBytes = min(fr.MinBytes, fr.MaxBytes)
		}
	}
	start := time.Now()
	res := e.serve(r)
	spent := time.Since(start)
	var produceT time.Duration
	if r.Key == kmsg.Produce {
		// Counted when the request is read, so the connection is muted
		// at once: Kafka reads one request of a connection at a time, so
		// nothing pipelined behind a throttled produce gets in first.
		// acks=0 has no answer to carry it, but is muted all the same.
		produceT = q.Record(quota.Produce, c, float64(r.Size), e.Now())
		res.Throttle = produceT
	}
	if res.NoResponse {
		return res
	}
	finish := func(resp kmsg.Response) kmsg.Response {
		return e.throttle(r, c, spent, produceT, resp)
	}
	if res.Deferred != nil {
		deferred := res.Deferred
		res.Deferred = func() kmsg.Response { return finish(deferred()) }
		return res
	}
	res.Resp = finish(res.Resp)
	return res
}

// throttle records the request against c's quotas at the time of its
// answer (as Kafka does in each API's response callback; a produce's
// bytes were counted on arrival) and sets the throttle time in resp.
func (e *Env) throttle(r *Request, c quota.Client, spent, produceT time.Duration, resp kmsg.Response) kmsg.Response {
	if resp == nil {
		return nil
	}
	q, now := e.Quotas, e.Now()
	if fr, ok := r.Body.(*kmsg.FetchRequest); ok && replicaID(fr) >= 0 {
		return resp // replication: between brokers, exempt from every quota
	}
	var reqT time.Duration
	if !quotaExempt[r.Key] {
		reqT = q.RequestTime(c, spent, now)
	}
	t := reqT
	switch r.Key {
	case kmsg.Produce:
		t = max(t, produceT)
	case kmsg.Fetch:
		size := fetchResponseBytes(resp)
		if ft := q.Record(quota.Fetch, c, float64(size), now); ft > 0 || t > 0 {
			t = max(t, ft)
			// A throttled fetch answers no data, and its bytes are not
			// counted (Kafka's unrecordQuotaSensor, getThrottledResponse).
			q.Unrecord(quota.Fetch, c, float64(size), now)
			resp = throttledFetch(resp)
		}
	default:
		if r.mutation != nil {
			t = max(t, r.mutation.ThrottleTime(now))
		}
	}
	if t <= 0 {
		return resp
	}
	if st, ok := resp.(kmsg.SetThrottleResponse); ok {
		ms := int32(min(t.Milliseconds(), 1<<31-1))
		if cur, _ := resp.(kmsg.ThrottleResponse).Throttle(); cur < ms {
			st.SetThrottle(ms)
		}
	}
	return resp
}

// fetchResponseBytes is the size of a fetch answer's records.
func fetchResponseBytes(resp kmsg.Response) int {
	n := 0
	var body *kmsg.FetchResponse
	switch fr := resp.(type) {
	case *FetchResponse:
		body = fr.FetchResponse
		for i := range fr.Ranges {
			n += fr.Ranges[i].Size()
		}
	case *kmsg.FetchResponse:
		body = fr
	default:
		return 0
	}
	for _, t := range body.Topics {
		for _, p := range t.Partitions {
			n += len(p.RecordBatches)
		}
	}
	return n
}

// throttledFetch is the answer to a throttled fetch: no partitions, the
// session kept (Kafka's FetchContext.getThrottledResponse).
func throttledFetch(resp kmsg.Response) kmsg.Response {
	var body *kmsg.FetchResponse
	switch fr := resp.(type) {
	case *FetchResponse:
		fr.Release()
		fr.Ranges = fr.Ranges[:0]
		body = fr.FetchResponse
	case *kmsg.FetchResponse:
		body = fr
	}
	if body != nil && body.ErrorCode == 0 {
		body.Topics = nil
	}
	return resp
}
