// Package handler implements the Kafka APIs, one file per API key. It is
// the only place Kafka error codes are chosen: by the request checks in
// each file, and for internal errors by errcode's table (Env.errCode).
// Handlers know no sockets or files: the server decodes a request with
// kmsg and calls Serve; the handler works against the broker's Env
// (metadata, partitions, controller) and returns a response, possibly
// deferred.
//
// Each API registers itself with its supported version range in an init
// function, so ApiVersions is built from the code and can never advertise
// an API that has no handler (DESIGN.md §2 rule 7).
//
// Concurrency: Serve is called from a connection's reader goroutine, in
// request arrival order; a Result's Deferred function runs on its own
// goroutine and may block (long-poll fetch, acks=all).
package handler

import (
	"context"
	"sort"
	"time"

	"github.com/strom-broker/strom/internal/authz"
	"github.com/strom-broker/strom/internal/quota"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded request and what is known of its connection.
type Request struct {
	Ctx           context.Context // cancelled when the connection closes or the broker stops
	Key           kmsg.Key
	Version       int16
	CorrelationID int32
	ClientID      string
	ClientAddr    string
	Body          kmsg.Request
	// Listener is the name of the listener the request came in on;
	// Metadata and FindCoordinator answer with that listener's addresses.
	Listener string
	// Principal is who the connection authenticated as ("User:alice",
	// auth.Anonymous without authentication): what an authorizer checks.
	Principal string
	// Visible, set by the authorizer's check, says whether the principal
	// may describe a topic, for a handler that lists topics page by page
	// (DescribeTopicPartitions); nil: every topic.
	Visible func(topic string) bool
	// Size is the request's size in bytes (header and body): what a
	// producer quota counts.
	Size int

	mutation *quota.Mutation // controller mutation quota (quotas.go)
}

// Result is a handler's answer: a response now, a function that produces
// it later (run on its own goroutine), or nothing at all (acks=0).
type Result struct {
	Resp       kmsg.Response
	Deferred   func() kmsg.Response
	NoResponse bool
	// Throttle is a throttle time known when the request is handled
	// (a produce over its quota): the server mutes the connection from
	// then, before the answer, which carries it too, is sent; with
	// NoResponse (acks=0) this is the only mute.
	Throttle time.Duration
}

// Now wraps an immediate response.
func Now(r kmsg.Response) Result { return Result{Resp: r} }

type api struct {
	key      kmsg.Key
	min, max int16
	serve    func(e *Env, r *Request) Result
}

var apis = map[kmsg.Key]*api{}

// register adds an API; called from each API file's init.
func register(key kmsg.Key, min, max int16, serve func(e *Env, r *Request) Result) {
	if _, dup := apis[key]; dup {
		panic("handler: duplicate registration of key " + key.Name())
	}
	if max > key.Request().MaxVersion() {
		panic("handler: " + key.Name() + " registered above kmsg's max version")
	}
	apis[key] = &api{key: key, min: min, max: max, serve: serve}
}

// VersionRange is one supported API.
type VersionRange struct {
	Key      kmsg.Key
	Min, Max int16
}

// Supported lists the registered APIs in key order.
func Supported() []VersionRange {
	out := make([]VersionRange, 0, len(apis))
	for _, a := range apis {
		out = append(out, VersionRange{a.key, a.min, a.max})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Lookup reports whether key is served and its version range.
func Lookup(key kmsg.Key) (VersionRange, bool) {
	a, ok := apis[key]
	if !ok {
		return VersionRange{}, false
	}
	return VersionRange{a.key, a.min, a.max}, true
}

// Serve runs the handler for r. The caller has checked Lookup and the
// version range (ApiVersions excepted: it answers unknown versions itself).
//
// With an authorizer the request is checked first, once, by the table of
// internal/authz: a refused request is answered without running its
// handler; a partly refused one (some topics) is served without the
// refused part, which is added back to the answer with its error code.
func (e *Env) Serve(r *Request) Result {
	if e.Quotas.Any() {
		return e.serveWithQuotas(r)
	}
	return e.serve(r)
}

func (e *Env) serve(r *Request) Result {
	if e.Authz == nil {
		return apis[r.Key].serve(e, r)
	}
	s := authz.Subject{Authorizer: e.Authz, Image: e.Ctrl.Image(), Principal: r.Principal, Host: authz.HostOf(r.ClientAddr), AutoCreate: e.Cfg.AutoCreateTopics}
	v := authz.Check(s, r.Key, r.Body)
	if v.Deny {
		if p, ok := r.Body.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
			return Result{NoResponse: true}
		}
		resp := r.Body.ResponseKind()
		resp.SetVersion(r.Version)
		v.Fix(resp)
		return Now(resp)
	}
	r.Visible = v.Visible
	res := apis[r.Key].serve(e, r)
	if v.Fix == nil || res.NoResponse {
		return res
	}
	fix := func(resp kmsg.Response) {
		// A fetch answer carries its body beside the file ranges; added
		// partitions come last, with no range (their records are empty).
		if fr, ok := resp.(*FetchResponse); ok {
			resp = fr.FetchResponse
		}
		v.Fix(resp)
	}
	if res.Deferred != nil {
		deferred := res.Deferred
		res.Deferred = func() kmsg.Response {
			resp := deferred()
			fix(resp)
			return resp
		}
		return res
	}
	fix(res.Resp)
	return res
}
