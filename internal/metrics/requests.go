package metrics

import (
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Requests are one node's request metrics
// (kafka.network:type=RequestMetrics): counts, error codes and latencies
// per API key and version, and connections per listener.
type Requests struct {
	total    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	local    *prometheus.HistogramVec
	send     *prometheus.HistogramVec
	overall  *prometheus.HistogramVec
	conns    *prometheus.GaugeVec
	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec // connections.go
	blocked  prometheus.Counter     // connections.go

	// series caches the label-resolved instruments of each key and
	// version, so the request path does no label hashing.
	series sync.Map // seriesKey -> *requestSeries
}

type seriesKey struct {
	listener string
	key      kmsg.Key
	version  int16
}

type requestSeries struct {
	total                prometheus.Counter
	local, send, overall prometheus.Observer
	api, version         string
}

func newRequests() *Requests {
	labels := []string{"listener", "api", "version"}
	return &Requests{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strom_requests_total",
			Help: "Requests received, by listener, API and version (RequestsPerSec).",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strom_request_errors_total",
			Help: "Error codes in responses, by API and Kafka error name (ErrorsPerSec).",
		}, []string{"api", "error"}),
		local: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strom_request_local_seconds",
			Help:    "Time from a request's arrival to its response being ready: the handler, including waits for replication and long polls (LocalTimeMs + RemoteTimeMs).",
			Buckets: latencyBuckets,
		}, labels),
		send: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strom_request_queue_send_seconds",
			Help:    "Time from a response being ready to its being written: waiting for earlier responses of the connection, then the write (ResponseQueueTimeMs + ResponseSendTimeMs).",
			Buckets: latencyBuckets,
		}, labels),
		overall: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strom_request_seconds",
			Help:    "Time from a request's arrival to its response being written (TotalTimeMs).",
			Buckets: latencyBuckets,
		}, labels),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strom_connections",
			Help: "Open client connections, by listener (connection-count).",
		}, []string{"listener"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strom_connections_accepted_total",
			Help: "Connections accepted, by listener (connection-creation-total).",
		}, []string{"listener"}),
		rejected: newRejected(),
		blocked:  newAcceptorBlocked(),
	}
}

func (r *Requests) collectors() []prometheus.Collector {
	return []prometheus.Collector{r.total, r.errors, r.local, r.send, r.overall, r.conns, r.accepted, r.rejected, r.blocked}
}

// Listener returns the instruments of one listener; nil-safe, so a server
// without metrics passes a nil *Requests.
func (r *Requests) Listener(name string) *ListenerRequests {
	if r == nil {
		return nil
	}
	return &ListenerRequests{r: r, name: name, conns: r.conns.WithLabelValues(name), accepted: r.accepted.WithLabelValues(name)}
}

// ListenerRequests are the request metrics of one listener. A nil value
// records nothing.
type ListenerRequests struct {
	r        *Requests
	name     string
	conns    prometheus.Gauge
	accepted prometheus.Counter
}

// ConnOpened and ConnClosed track the listener's open connections.
func (l *ListenerRequests) ConnOpened() {
	if l != nil {
		l.conns.Inc()
		l.accepted.Inc()
	}
}

// ConnClosed is ConnOpened's counterpart.
func (l *ListenerRequests) ConnClosed() {
	if l != nil {
		l.conns.Dec()
	}
}

func (l *ListenerRequests) series(key kmsg.Key, version int16) *requestSeries {
	k := seriesKey{l.name, key, version}
	if s, ok := l.r.series.Load(k); ok {
		return s.(*requestSeries)
	}
	api, v := key.Name(), strconv.Itoa(int(version))
	s := &requestSeries{
		total:   l.r.total.WithLabelValues(l.name, api, v),
		local:   l.r.local.WithLabelValues(l.name, api, v),
		send:    l.r.send.WithLabelValues(l.name, api, v),
		overall: l.r.overall.WithLabelValues(l.name, api, v),
		api:     api, version: v,
	}
	actual, _ := l.r.series.LoadOrStore(k, s)
	return actual.(*requestSeries)
}

// Done records one request: when it arrived, when its response was ready
// and when it was written, and the error codes of the response (nil for a
// request answered with nothing, as acks=0 produce).
func (l *ListenerRequests) Done(key kmsg.Key, version int16, arrived, ready, written time.Time, resp kmsg.Response) {
	if l == nil {
		return
	}
	s := l.series(key, version)
	s.total.Inc()
	s.local.Observe(ready.Sub(arrived).Seconds())
	s.send.Observe(written.Sub(ready).Seconds())
	s.overall.Observe(written.Sub(arrived).Seconds())
	if resp != nil {
		forEachErrorCode(resp, func(code int16) {
			l.r.errors.WithLabelValues(s.api, errorName(code)).Inc()
		})
	}
}

// errorName is Kafka's name of an error code (NOT_LEADER_OR_FOLLOWER), or
// the number for a code franz-go does not know.
func errorName(code int16) string {
	if e := kerr.TypedErrorForCode(code); e != nil && (e.Code == code) {
		return e.Message
	}
	return strconv.Itoa(int(code))
}

// forEachErrorCode calls fn with every non-zero ErrorCode field of resp,
// at any depth (as Kafka's AbstractResponse.errorCounts). Which fields
// hold codes is worked out once per response type: reflection by hand
// because kmsg has no generic accessor for nested error codes.
func forEachErrorCode(resp kmsg.Response, fn func(int16)) {
	v := reflect.ValueOf(resp)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	v = v.Elem()
	p := planFor(v.Type())
	if p != nil {
		p.walk(v, fn)
	}
}

// plan lists where a struct type keeps error codes: its own ErrorCode
// field and the slices and structs below it that do.
type plan struct {
	code   int // index of an int16 ErrorCode field, or -1
	fields []fieldPlan
}

type fieldPlan struct {
	index int
	slice bool
	ptr   bool
	elem  *plan
}

var plans sync.Map // reflect.Type -> *plan (nil when the type has no codes)

func planFor(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := buildPlan(t, map[reflect.Type]bool{})
	plans.Store(t, p)
	return p
}

func buildPlan(t reflect.Type, seen map[reflect.Type]bool) *plan {
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	p := &plan{code: -1}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
			p.code = i
			continue
		}
		switch f.Type.Kind() {
		case reflect.Struct:
			if sub := buildPlan(f.Type, seen); sub != nil {
				p.fields = append(p.fields, fieldPlan{index: i, elem: sub})
			}
		case reflect.Pointer:
			if sub := buildPlan(f.Type.Elem(), seen); sub != nil {
				p.fields = append(p.fields, fieldPlan{index: i, ptr: true, elem: sub})
			}
		case reflect.Slice:
			if f.Type.Elem().Kind() == reflect.Struct {
				if sub := buildPlan(f.Type.Elem(), seen); sub != nil {
					p.fields = append(p.fields, fieldPlan{index: i, slice: true, elem: sub})
				}
			}
		}
	}
	if p.code < 0 && len(p.fields) == 0 {
		return nil
	}
	return p
}

func (p *plan) walk(v reflect.Value, fn func(int16)) {
	if p.code >= 0 {
		if c := int16(v.Field(p.code).Int()); c != 0 {
			fn(c)
		}
	}
	for _, f := range p.fields {
		fv := v.Field(f.index)
		if f.ptr {
			if !fv.IsNil() {
				f.elem.walk(fv.Elem(), fn)
			}
			continue
		}
		if !f.slice {
			f.elem.walk(fv, fn)
			continue
		}
		for i := 0; i < fv.Len(); i++ {
			f.elem.walk(fv.Index(i), fn)
		}
	}
}
