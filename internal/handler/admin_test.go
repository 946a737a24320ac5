package handler_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/testkit"
)

// adminEnv is a running broker with a franz-go client and admin client.
type adminEnv struct {
	t   *testing.T
	b   *testkit.Broker
	cl  *kgo.Client
	adm *kadm.Client
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	b := testkit.StartBroker(t)
	a := &adminEnv{t: t, b: b}
	a.connect()
	return a
}

// connect (re)creates the clients; they are closed by the test's cleanup.
func (a *adminEnv) connect() {
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.b.Addr()), kgo.RecordRetries(3), kgo.RequestRetries(3),
		// Sizes in these tests are exact: no compression, and the record's
		// own partition.
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(cl.Close)
	a.cl, a.adm = cl, kadm.NewClient(cl)
}

func (a *adminEnv) restart() {
	a.t.Helper()
	a.cl.Close()
	a.b.Restart(a.t)
	a.connect()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (a *adminEnv) createTopic(name string, partitions int32) {
	a.t.Helper()
	resp, err := a.adm.CreateTopic(ctx(a.t), partitions, 1, nil, name)
	if err != nil || resp.Err != nil {
		a.t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

// produce writes n records of size bytes each to topic/partition and
// returns the produce error of the last one.
func (a *adminEnv) produce(topic string, partition int32, n, size int) error {
	a.t.Helper()
	var last error
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: partition, Value: bytes.Repeat([]byte{'x'}, size)}
		last = a.cl.ProduceSync(ctx(a.t), r).FirstErr()
	}
	return last
}

// request sends one request through the client at the highest version both
// sides support.
func request[R kmsg.Response](a *adminEnv, req kmsg.Request) R {
	a.t.Helper()
	resp, err := a.cl.Request(ctx(a.t), req)
	if err != nil {
		a.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

// rawRequest sends req at exactly its set version over a fresh connection
// and decodes the answer.
func rawRequest[R kmsg.Response](t *testing.T, addr string, req kmsg.Request) R {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("admin-test")).AppendRequest(nil, req, 7)
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatalf("%s v%d: read response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatal(err)
	}
	rd := kbin.Reader{Src: body}
	if corr := rd.Int32(); corr != 7 {
		t.Fatalf("correlation id %d, want 7", corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		for n := rd.Uvarint(); n > 0; n-- {
			rd.Uvarint()
			rd.Span(int(rd.Uvarint()))
		}
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		t.Fatalf("decode %s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp.(R)
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if got != want.Code {
		t.Errorf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

func wantOK(t *testing.T, what string, got int16) {
	t.Helper()
	if got != 0 {
		t.Errorf("%s: error %v", what, kerr.ErrorForCode(got))
	}
}

func str(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// describeTopic describes one topic's configs with synonyms and docs.
func (a *adminEnv) describeTopic(topic string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	a.t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, rr)
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	resp := request[*kmsg.DescribeConfigsResponse](a, req)
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		a.t.Fatalf("describe %s: %+v", topic, resp.Resources)
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

func checkConfig(t *testing.T, cs map[string]kmsg.DescribeConfigsResponseResourceConfig, name, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := cs[name]
	if !ok {
		t.Fatalf("config %s not described", name)
	}
	if c.Value == nil || *c.Value != value || c.Source != source {
		t.Errorf("%s = %v (source %v), want %s (source %v)", name, deref(c.Value), c.Source, value, source)
	}
	// Kafka lists no synonym for a default whose broker key has no
	// default of its own (retention.ms, segment.ms, ...).
	if len(c.ConfigSynonyms) == 0 && source == kmsg.ConfigSourceDefaultConfig {
		return
	}
	if len(c.ConfigSynonyms) == 0 || c.ConfigSynonyms[0].Source != source || *c.ConfigSynonyms[0].Value != value {
		t.Errorf("%s synonyms %+v do not start with the value", name, c.ConfigSynonyms)
	}
}

func incrementalAlter(typ kmsg.ConfigResourceType, name string, validateOnly bool, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) *kmsg.IncrementalAlterConfigsRequest {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = typ, name, ops
	req.Resources = append(req.Resources, rr)
	return req
}

func op(o kmsg.IncrementalAlterConfigOp, name string, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name, c.Value = o, name, value
	return c
}

func (a *adminEnv) incremental(typ kmsg.ConfigResourceType, name string, validateOnly bool, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) int16 {
	a.t.Helper()
	req := incrementalAlter(typ, name, validateOnly, ops...)
	req.SetVersion(1)
	resp := rawRequest[*kmsg.IncrementalAlterConfigsResponse](a.t, a.b.Addr(), req)
	if len(resp.Resources) != 1 {
		a.t.Fatalf("incremental alter: %d resources answered", len(resp.Resources))
	}
	return resp.Resources[0].ErrorCode
}

func TestTopicConfigs(t *testing.T) {
	a := newAdminEnv(t)
	const topic = "cfg"
	a.createTopic(topic, 1)

	cs := a.describeTopic(topic)
	checkConfig(t, cs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	if c := cs["retention.ms"]; c.ConfigType != kmsg.ConfigTypeLong || c.Documentation == nil || c.ReadOnly {
		t.Errorf("retention.ms: type %v doc %v read-only %v", c.ConfigType, c.Documentation, c.ReadOnly)
	}
	if c := cs["cleanup.policy"]; c.ConfigType != kmsg.ConfigTypeList {
		t.Errorf("cleanup.policy type %v, want LIST", c.ConfigType)
	}
	if syn := cs["max.message.bytes"].ConfigSynonyms; len(syn) != 1 || syn[0].Name != "message.max.bytes" {
		t.Errorf("max.message.bytes synonyms %+v, want the broker key message.max.bytes", syn)
	}

	// Alter through kadm (IncrementalAlterConfigs) and see it described.
	alt, err := a.adm.AlterTopicConfigs(ctx(t), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: str("3600000")},
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: str("1000")},
	}, topic)
	if err != nil || alt[0].Err != nil {
		t.Fatalf("alter: %v %v", err, alt)
	}
	cs = a.describeTopic(topic)
	checkConfig(t, cs, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	checkConfig(t, cs, "max.message.bytes", "1000", kmsg.ConfigSourceDynamicTopicConfig)
	// Kafka derives log.retention.ms's default from log.retention.hours
	// and lists neither.
	if syn := cs["retention.ms"].ConfigSynonyms; len(syn) != 1 || syn[0].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms synonyms %+v, want the override alone", syn)
	}
	if syn := cs["max.message.bytes"].ConfigSynonyms; len(syn) != 2 || syn[1].Source != kmsg.ConfigSourceDefaultConfig || syn[1].Name != "message.max.bytes" {
		t.Errorf("max.message.bytes synonyms %+v, want the override then message.max.bytes default", syn)
	}

	// The lowered max.message.bytes takes effect on produce.
	if err := a.produce(topic, 0, 1, 2000); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("produce over max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := a.produce(topic, 0, 1, 10); err != nil {
		t.Errorf("small produce: %v", err)
	}

	// ... and survives a restart on the same data dir.
	a.restart()
	cs = a.describeTopic(topic)
	checkConfig(t, cs, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	checkConfig(t, cs, "max.message.bytes", "1000", kmsg.ConfigSourceDynamicTopicConfig)
	if err := a.produce(topic, 0, 1, 2000); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("produce over max.message.bytes after restart: %v, want MESSAGE_TOO_LARGE", err)
	}

	// Errors, by raw request.
	set := kmsg.IncrementalAlterConfigOpSet
	for _, tc := range []struct {
		what string
		typ  kmsg.ConfigResourceType
		name string
		ops  []kmsg.IncrementalAlterConfigsRequestResourceConfig
		want *kerr.Error
	}{
		{"bad value", kmsg.ConfigResourceTypeTopic, topic, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", str("soon"))}, kerr.InvalidConfig},
		{"out of range", kmsg.ConfigResourceTypeTopic, topic, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "segment.bytes", str("1"))}, kerr.InvalidConfig},
		{"unknown config", kmsg.ConfigResourceTypeTopic, topic, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "no.such.config", str("1"))}, kerr.InvalidConfig},
		{"unknown topic", kmsg.ConfigResourceTypeTopic, "nope", []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", str("1"))}, kerr.UnknownTopicOrPartition},
		{"bad resource type", kmsg.ConfigResourceType(99), topic, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", str("1"))}, kerr.InvalidRequest},
		{"append to a non-list", kmsg.ConfigResourceTypeTopic, topic, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(kmsg.IncrementalAlterConfigOpAppend, "retention.ms", str("1"))}, kerr.InvalidConfig},
		{"null set", kmsg.ConfigResourceTypeTopic, topic, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", nil)}, kerr.InvalidRequest},
		{"duplicate key", kmsg.ConfigResourceTypeTopic, topic, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(set, "retention.ms", str("1")), op(set, "retention.ms", str("2"))}, kerr.InvalidRequest},
		{"unknown op", kmsg.ConfigResourceTypeTopic, topic, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op(9, "retention.ms", str("1"))}, kerr.InvalidRequest},
	} {
		wantCode(t, tc.what, a.incremental(tc.typ, tc.name, false, tc.ops...), tc.want)
	}
	// None of the failed alters changed anything.
	checkConfig(t, a.describeTopic(topic), "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)

	// The same resource twice in one request.
	dup := incrementalAlter(kmsg.ConfigResourceTypeTopic, topic, false, op(set, "retention.ms", str("5")))
	dup.Resources = append(dup.Resources, dup.Resources[0])
	for _, r := range request[*kmsg.IncrementalAlterConfigsResponse](a, dup).Resources {
		wantCode(t, "duplicate resource", r.ErrorCode, kerr.InvalidRequest)
	}

	// validate_only checks without applying.
	wantOK(t, "validate only", a.incremental(kmsg.ConfigResourceTypeTopic, topic, true, op(set, "segment.ms", str("60000"))))
	checkConfig(t, a.describeTopic(topic), "segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantCode(t, "validate only, bad value", a.incremental(kmsg.ConfigResourceTypeTopic, topic, true, op(set, "segment.ms", str("x"))), kerr.InvalidConfig)

	// APPEND and SUBTRACT work on the list config, from its effective value.
	wantOK(t, "append", a.incremental(kmsg.ConfigResourceTypeTopic, topic, false, op(kmsg.IncrementalAlterConfigOpAppend, "cleanup.policy", str("compact"))))
	checkConfig(t, a.describeTopic(topic), "cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)
	wantOK(t, "subtract", a.incremental(kmsg.ConfigResourceTypeTopic, topic, false, op(kmsg.IncrementalAlterConfigOpSubtract, "cleanup.policy", str("delete"))))
	checkConfig(t, a.describeTopic(topic), "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
	// DELETE drops the override.
	wantOK(t, "delete", a.incremental(kmsg.ConfigResourceTypeTopic, topic, false, op(kmsg.IncrementalAlterConfigOpDelete, "cleanup.policy", nil)))
	checkConfig(t, a.describeTopic(topic), "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	// Legacy AlterConfigs replaces every override.
	legacy := kmsg.NewPtrAlterConfigsRequest()
	lr := kmsg.NewAlterConfigsRequestResource()
	lr.ResourceType, lr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	lc := kmsg.NewAlterConfigsRequestResourceConfig()
	lc.Name, lc.Value = "segment.bytes", str("1048576")
	lr.Configs = append(lr.Configs, lc)
	legacy.Resources = append(legacy.Resources, lr)
	if r := request[*kmsg.AlterConfigsResponse](a, legacy).Resources; len(r) != 1 || r[0].ErrorCode != 0 {
		t.Fatalf("legacy alter: %+v", r)
	}
	cs = a.describeTopic(topic)
	checkConfig(t, cs, "segment.bytes", "1048576", kmsg.ConfigSourceDynamicTopicConfig)
	checkConfig(t, cs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	checkConfig(t, cs, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
	// Legacy errors: bad value, null value, unknown topic.
	for _, tc := range []struct {
		what  string
		name  string
		value *string
		want  *kerr.Error
	}{
		{"legacy bad value", topic, str("-5"), kerr.InvalidConfig},
		{"legacy null value", topic, nil, kerr.InvalidRequest},
		{"legacy unknown topic", "nope", str("1048576"), kerr.UnknownTopicOrPartition},
	} {
		req := kmsg.NewPtrAlterConfigsRequest()
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, tc.name
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "segment.bytes", tc.value
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		wantCode(t, tc.what, request[*kmsg.AlterConfigsResponse](a, req).Resources[0].ErrorCode, tc.want)
	}
	checkConfig(t, a.describeTopic(topic), "segment.bytes", "1048576", kmsg.ConfigSourceDynamicTopicConfig)

	// Describe errors and the name filter, at every version.
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.SetVersion(v)
		req.IncludeSynonyms, req.IncludeDocumentation = v >= 1, v >= 3
		for _, name := range []string{topic, "nope", ""} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
			if name == topic {
				rr.ConfigNames = []string{"segment.bytes", "no.such.config"}
			}
			req.Resources = append(req.Resources, rr)
		}
		bad := kmsg.NewDescribeConfigsRequestResource()
		bad.ResourceType, bad.ResourceName = 99, topic
		req.Resources = append(req.Resources, bad)
		all := kmsg.NewDescribeConfigsRequestResource()
		all.ResourceType, all.ResourceName, all.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{}
		req.Resources = append(req.Resources, all)
		resp := rawRequest[*kmsg.DescribeConfigsResponse](t, a.b.Addr(), req)
		if len(resp.Resources) != 5 {
			t.Fatalf("v%d: %d resources answered, want 5", v, len(resp.Resources))
		}
		if n := len(resp.Resources[4].Configs); n != len(metadata.TopicConfigDefs) {
			t.Errorf("v%d: an empty name list described %d configs, want all %d", v, n, len(metadata.TopicConfigDefs))
		}
		r0 := resp.Resources[0]
		if r0.ErrorCode != 0 || len(r0.Configs) != 1 || r0.Configs[0].Name != "segment.bytes" || *r0.Configs[0].Value != "1048576" {
			t.Errorf("v%d filtered describe: %+v", v, r0)
		} else {
			c := r0.Configs[0]
			if v == 0 && c.IsDefault {
				t.Errorf("v0: an override reported as default")
			}
			if v >= 1 && (c.Source != kmsg.ConfigSourceDynamicTopicConfig || len(c.ConfigSynonyms) != 2) {
				t.Errorf("v%d: source %v synonyms %+v", v, c.Source, c.ConfigSynonyms)
			}
			if v >= 3 && (c.ConfigType != kmsg.ConfigTypeInt || c.Documentation == nil) {
				t.Errorf("v%d: type %v doc %v", v, c.ConfigType, c.Documentation)
			}
		}
		wantCode(t, fmt.Sprintf("v%d describe unknown topic", v), resp.Resources[1].ErrorCode, kerr.UnknownTopicOrPartition)
		wantCode(t, fmt.Sprintf("v%d describe invalid topic name", v), resp.Resources[2].ErrorCode, kerr.InvalidTopicException)
		wantCode(t, fmt.Sprintf("v%d describe bad resource type", v), resp.Resources[3].ErrorCode, kerr.InvalidRequest)
	}
}

func (a *adminEnv) describeBroker(name string) (int16, map[string]kmsg.DescribeConfigsResponseResourceConfig) {
	a.t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
	req.Resources = append(req.Resources, rr)
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	req.SetVersion(4)
	// Raw: the client routes a numbered broker resource to that broker,
	// and refuses ids it does not know.
	resp := rawRequest[*kmsg.DescribeConfigsResponse](a.t, a.b.Addr(), req)
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return resp.Resources[0].ErrorCode, out
}

func TestBrokerConfigs(t *testing.T) {
	a := newAdminEnv(t)
	const topic = "bcfg"
	a.createTopic(topic, 1)

	// Through kadm: every broker config of node 1.
	rcs, err := a.adm.DescribeBrokerConfigs(ctx(t), 1)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker configs: %v %+v", err, rcs)
	}
	got := map[string]kadm.Config{}
	for _, c := range rcs[0].Configs {
		got[c.Key] = c
	}
	for name, want := range map[string]string{
		"node.id": "1", "broker.id": "1", "num.partitions": "1", "auto.create.topics.enable": "true",
		"default.replication.factor": "1", "socket.request.max.bytes": "104857600",
		"message.max.bytes": "1048588", "log.retention.ms": "604800000", "log.segment.bytes": "1073741824",
	} {
		if c, ok := got[name]; !ok || c.MaybeValue() != want {
			t.Errorf("broker config %s = %q, want %q", name, c.MaybeValue(), want)
		}
	}
	if got["node.id"].Source != kmsg.ConfigSourceStaticBrokerConfig || got["num.partitions"].Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("sources: node.id %v num.partitions %v", got["node.id"].Source, got["num.partitions"].Source)
	}
	code, cs := a.describeBroker("1")
	if code != 0 || !cs["num.partitions"].ReadOnly || cs["log.retention.ms"].ReadOnly || cs["auto.create.topics.enable"].ConfigType != kmsg.ConfigTypeBoolean {
		t.Errorf("broker describe: code %d, read-only num.partitions %v log.retention.ms %v", code, cs["num.partitions"].ReadOnly, cs["log.retention.ms"].ReadOnly)
	}
	if code, cs := a.describeBroker(""); code != 0 || len(cs) != 0 {
		t.Errorf("cluster default describe before any change: code %d configs %v", code, cs)
	}
	for _, name := range []string{"2", "one"} {
		code, _ := a.describeBroker(name)
		wantCode(t, "describe broker "+name, code, kerr.InvalidRequest)
	}

	// A cluster-wide dynamic default, through kadm (no broker = "").
	alt, err := a.adm.AlterBrokerConfigs(ctx(t), []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "log.retention.ms", Value: str("1234567")},
		{Op: kadm.SetConfig, Name: "message.max.bytes", Value: str("700")},
	})
	if err != nil || len(alt) != 1 || alt[0].Err != nil {
		t.Fatalf("alter cluster broker configs: %v %+v", err, alt)
	}
	check := func() {
		t.Helper()
		_, cs := a.describeBroker("")
		checkConfig(t, cs, "log.retention.ms", "1234567", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		_, cs = a.describeBroker("1")
		checkConfig(t, cs, "log.retention.ms", "1234567", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		tcs := a.describeTopic(topic)
		checkConfig(t, tcs, "retention.ms", "1234567", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		checkConfig(t, tcs, "max.message.bytes", "700", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		// The dynamic default reaches partitions without an override.
		if err := a.produce(topic, 0, 1, 1500); !errors.Is(err, kerr.MessageTooLarge) {
			t.Errorf("produce over dynamic message.max.bytes: %v, want MESSAGE_TOO_LARGE", err)
		}
	}
	check()
	a.restart()
	check()

	set := kmsg.IncrementalAlterConfigOpSet
	for _, tc := range []struct {
		what, name string
		o          kmsg.IncrementalAlterConfigsRequestResourceConfig
	}{
		{"non-dynamic config", "", op(set, "num.partitions", str("3"))},
		{"unknown config", "", op(set, "no.such.config", str("3"))},
		{"bad value", "", op(set, "log.retention.ms", str("soon"))},
		{"per-broker config", "1", op(set, "log.retention.ms", str("5"))},
		{"other broker", "2", op(set, "log.retention.ms", str("5"))},
		{"non-integer broker", "x", op(set, "log.retention.ms", str("5"))},
	} {
		wantCode(t, tc.what, a.incremental(kmsg.ConfigResourceTypeBroker, tc.name, false, tc.o), kerr.InvalidRequest)
	}
	// validate_only leaves the value alone.
	wantOK(t, "validate only", a.incremental(kmsg.ConfigResourceTypeBroker, "", true, op(set, "log.retention.ms", str("99"))))
	_, cs = a.describeBroker("")
	checkConfig(t, cs, "log.retention.ms", "1234567", kmsg.ConfigSourceDynamicDefaultBrokerConfig)

	// Deleting the defaults restores the static ones, and produce accepts again.
	wantOK(t, "delete", a.incremental(kmsg.ConfigResourceTypeBroker, "", false,
		op(kmsg.IncrementalAlterConfigOpDelete, "log.retention.ms", nil),
		op(kmsg.IncrementalAlterConfigOpDelete, "message.max.bytes", nil)))
	tcs := a.describeTopic(topic)
	checkConfig(t, tcs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	checkConfig(t, tcs, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
	if err := a.produce(topic, 0, 1, 1500); err != nil {
		t.Errorf("produce after dropping the dynamic default: %v", err)
	}
}

func TestCreatePartitions(t *testing.T) {
	a := newAdminEnv(t)
	const topic = "grow"
	a.createTopic(topic, 2)

	partitions := func() int {
		t.Helper()
		td, err := a.adm.ListTopics(ctx(t), topic)
		if err != nil {
			t.Fatal(err)
		}
		return len(td[topic].Partitions)
	}

	if r, err := a.adm.ValidateUpdatePartitions(ctx(t), 6, topic); err != nil || r[topic].Err != nil {
		t.Fatalf("validate-only grow: %v %+v", err, r)
	}
	if n := partitions(); n != 2 {
		t.Fatalf("validate-only grow created partitions: %d", n)
	}
	if r, err := a.adm.UpdatePartitions(ctx(t), 4, topic); err != nil || r[topic].Err != nil {
		t.Fatalf("grow: %v %+v", err, r)
	}
	if n := partitions(); n != 4 {
		t.Fatalf("after grow: %d partitions, want 4", n)
	}
	if err := a.produce(topic, 3, 1, 10); err != nil {
		t.Errorf("produce to a new partition: %v", err)
	}

	req := func(name string, count int32, assign ...[]int32) *kmsg.CreatePartitionsRequest {
		r := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, count
		for _, reps := range assign {
			as := kmsg.NewCreatePartitionsRequestTopicAssignment()
			as.Replicas = reps
			rt.Assignment = append(rt.Assignment, as)
		}
		r.Topics = append(r.Topics, rt)
		return r
	}
	for _, tc := range []struct {
		what string
		r    *kmsg.CreatePartitionsRequest
		want *kerr.Error
	}{
		{"shrink", req(topic, 2), kerr.InvalidPartitions},
		{"same count", req(topic, 4), kerr.InvalidPartitions},
		{"unknown topic", req("nope", 4), kerr.UnknownTopicOrPartition},
		{"unknown broker", req(topic, 5, []int32{99}), kerr.InvalidReplicaAssignment},
		{"too few assignments", req(topic, 6, []int32{1}), kerr.InvalidReplicaAssignment},
		{"empty assignment", req(topic, 5, []int32{}), kerr.InvalidReplicaAssignment},
		{"wrong replication factor", req(topic, 5, []int32{1, 1}), kerr.InvalidReplicaAssignment},
		{"too many at once", req(topic, 4+10001), kerr.PolicyViolation},
	} {
		resp := request[*kmsg.CreatePartitionsResponse](a, tc.r)
		wantCode(t, tc.what, resp.Topics[0].ErrorCode, tc.want)
	}
	dup := req(topic, 8)
	dup.Topics = append(dup.Topics, dup.Topics[0])
	for _, rt := range request[*kmsg.CreatePartitionsResponse](a, dup).Topics {
		wantCode(t, "duplicate topic", rt.ErrorCode, kerr.InvalidRequest)
	}
	// A valid explicit assignment, at every version.
	for v := int16(0); v <= 3; v++ {
		r := req(topic, int32(5+v), []int32{1})
		r.SetVersion(v)
		resp := rawRequest[*kmsg.CreatePartitionsResponse](t, a.b.Addr(), r)
		wantOK(t, fmt.Sprintf("v%d assigned grow", v), resp.Topics[0].ErrorCode)
	}
	if n := partitions(); n != 8 {
		t.Fatalf("after assigned grows: %d partitions, want 8", n)
	}
}

func TestDeleteRecords(t *testing.T) {
	a := newAdminEnv(t)
	const topic = "trim"
	a.createTopic(topic, 1)
	if err := a.produce(topic, 0, 10, 10); err != nil {
		t.Fatal(err)
	}

	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
	dr, err := a.adm.DeleteRecords(ctx(t), os)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := dr.Lookup(topic, 0); !ok || r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete before 4: %+v", r)
	}
	start, err := a.adm.ListStartOffsets(ctx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup(topic, 0); o.Offset != 4 {
		t.Errorf("start offset %d after delete, want 4", o.Offset)
	}

	del := func(v int16, name string, part int32, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
		t.Helper()
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.SetVersion(v)
		r.TimeoutMillis = 5000
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = name
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = part, offset
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return rawRequest[*kmsg.DeleteRecordsResponse](t, a.b.Addr(), r).Topics[0].Partitions[0]
	}
	for v := int16(0); v <= 2; v++ {
		if p := del(v, topic, 0, 11); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LowWatermark != -1 {
			t.Errorf("v%d beyond the high watermark: %v low %d", v, kerr.ErrorForCode(p.ErrorCode), p.LowWatermark)
		}
		if p := del(v, topic, 0, 2); p.ErrorCode != 0 || p.LowWatermark != 4 {
			t.Errorf("v%d below the start: %v low %d, want 4", v, kerr.ErrorForCode(p.ErrorCode), p.LowWatermark)
		}
		wantCode(t, "unknown partition", del(v, topic, 1, 0).ErrorCode, kerr.UnknownTopicOrPartition)
		wantCode(t, "unknown topic", del(v, "nope", 0, 0).ErrorCode, kerr.UnknownTopicOrPartition)
	}
	if p := del(2, topic, 0, -1); p.ErrorCode != 0 || p.LowWatermark != 10 {
		t.Errorf("delete to the high watermark: %v low %d, want 10", kerr.ErrorForCode(p.ErrorCode), p.LowWatermark)
	}
	// The trimmed start survives a restart.
	a.restart()
	start, err = a.adm.ListStartOffsets(ctx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup(topic, 0); o.Offset != 10 {
		t.Errorf("start offset %d after restart, want 10", o.Offset)
	}
}

func TestDescribeCluster(t *testing.T) {
	a := newAdminEnv(t)
	_, port, _ := net.SplitHostPort(a.b.Addr())
	var clusterID string
	for v := int16(0); v <= 2; v++ {
		r := kmsg.NewPtrDescribeClusterRequest()
		r.SetVersion(v)
		r.IncludeClusterAuthorizedOperations = true
		resp := rawRequest[*kmsg.DescribeClusterResponse](t, a.b.Addr(), r)
		if resp.ErrorCode != 0 || resp.ClusterID == "" || resp.ControllerID != 1 || len(resp.Brokers) != 1 {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if clusterID != "" && resp.ClusterID != clusterID {
			t.Errorf("cluster id changed: %s then %s", clusterID, resp.ClusterID)
		}
		clusterID = resp.ClusterID
		b := resp.Brokers[0]
		if b.NodeID != 1 || b.Host != "127.0.0.1" || strconv.Itoa(int(b.Port)) != port || b.IsFenced {
			t.Errorf("v%d broker %+v, want 1 at %s", v, b, a.b.Addr())
		}
		if resp.ClusterAuthorizedOperations&(1<<8) == 0 {
			t.Errorf("v%d: DESCRIBE not among the authorized cluster operations %b", v, resp.ClusterAuthorizedOperations)
		}
		if v >= 1 && resp.EndpointType != 1 {
			t.Errorf("v%d endpoint type %d, want 1 (brokers)", v, resp.EndpointType)
		}
	}
	r := kmsg.NewPtrDescribeClusterRequest()
	r.SetVersion(1)
	r.EndpointType = 2
	wantCode(t, "controller endpoint", rawRequest[*kmsg.DescribeClusterResponse](t, a.b.Addr(), r).ErrorCode, kerr.MismatchedEndpointType)
	r.EndpointType = 7
	wantCode(t, "unknown endpoint", rawRequest[*kmsg.DescribeClusterResponse](t, a.b.Addr(), r).ErrorCode, kerr.UnsupportedEndpointType)

	// The same id as Metadata reports.
	md := request[*kmsg.MetadataResponse](a, kmsg.NewPtrMetadataRequest())
	if md.ClusterID == nil || *md.ClusterID != clusterID {
		t.Errorf("metadata cluster id %v, describe cluster %s", md.ClusterID, clusterID)
	}
}

func TestDescribeLogDirs(t *testing.T) {
	a := newAdminEnv(t)
	a.createTopic("dirs", 2)
	a.createTopic("other", 1)
	if err := a.produce("dirs", 1, 5, 100); err != nil {
		t.Fatal(err)
	}

	all, err := a.adm.DescribeAllLogDirs(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[1]
	if len(dirs) != 1 {
		t.Fatalf("%d log dirs, want 1", len(dirs))
	}
	for dir, d := range dirs {
		if dir != a.b.Config().DataDir || d.Err != nil {
			t.Errorf("dir %s err %v, want %s", dir, d.Err, a.b.Config().DataDir)
		}
		if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
			t.Errorf("total %d usable %d", d.TotalBytes, d.UsableBytes)
		}
		p, ok := d.Topics.Lookup("dirs", 1)
		if !ok || p.Size < 500 {
			t.Errorf("dirs-1: %+v, want a size of at least the 500 value bytes", p)
		}
		if p, ok := d.Topics.Lookup("dirs", 0); !ok || p.Size != 0 {
			t.Errorf("dirs-0: %+v, want an empty log", p)
		}
		if _, ok := d.Topics.Lookup("other", 0); !ok {
			t.Errorf("other-0 missing from an all-topics describe")
		}
	}

	for v := int16(0); v <= 4; v++ {
		r := kmsg.NewPtrDescribeLogDirsRequest()
		r.SetVersion(v)
		rt := kmsg.NewDescribeLogDirsRequestTopic()
		rt.Topic, rt.Partitions = "dirs", []int32{1, 7}
		r.Topics = append(r.Topics, rt)
		resp := rawRequest[*kmsg.DescribeLogDirsResponse](t, a.b.Addr(), r)
		if len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) != 1 || len(resp.Dirs[0].Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: %+v", v, resp.Dirs)
		}
		if p := resp.Dirs[0].Topics[0].Partitions[0]; p.Partition != 1 || p.Size < 500 {
			t.Errorf("v%d: %+v", v, p)
		}
		if total := resp.Dirs[0].TotalBytes; (v >= 4) != (total > 0) {
			t.Errorf("v%d total bytes %d", v, total)
		}
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	a := newAdminEnv(t)
	a.createTopic("epochs", 2)
	if err := a.produce("epochs", 0, 3, 10); err != nil {
		t.Fatal(err)
	}

	ask := func(v int16, topic string, part, current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		r.SetVersion(v)
		r.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = part, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return rawRequest[*kmsg.OffsetForLeaderEpochResponse](t, a.b.Addr(), r).Topics[0].Partitions[0]
	}
	for v := int16(0); v <= 4; v++ {
		p := ask(v, "epochs", 0, -1, 0)
		if p.ErrorCode != 0 || p.EndOffset != 3 || (v >= 1 && p.LeaderEpoch != 0) {
			t.Errorf("v%d epoch 0: %v epoch %d end %d, want 0 3", v, kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset)
		}
		// An empty partition: the current epoch ends at the log end.
		if p := ask(v, "epochs", 1, -1, 0); p.ErrorCode != 0 || p.EndOffset != 0 {
			t.Errorf("v%d empty partition: %v end %d, want 0", v, kerr.ErrorForCode(p.ErrorCode), p.EndOffset)
		}
		if p := ask(v, "epochs", 0, -1, 5); p.ErrorCode != 0 || p.EndOffset != -1 || p.LeaderEpoch != -1 {
			t.Errorf("v%d unknown epoch: %v epoch %d end %d, want -1 -1", v, kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset)
		}
		wantCode(t, fmt.Sprintf("v%d unknown topic", v), ask(v, "nope", 0, -1, 0).ErrorCode, kerr.UnknownTopicOrPartition)
		wantCode(t, fmt.Sprintf("v%d unknown partition", v), ask(v, "epochs", 9, -1, 0).ErrorCode, kerr.UnknownTopicOrPartition)
	}
	for v := int16(2); v <= 4; v++ {
		wantCode(t, fmt.Sprintf("v%d newer current epoch", v), ask(v, "epochs", 0, 3, 0).ErrorCode, kerr.UnknownLeaderEpoch)
		if p := ask(v, "epochs", 0, 0, 0); p.ErrorCode != 0 || p.EndOffset != 3 {
			t.Errorf("v%d matching current epoch: %v end %d", v, kerr.ErrorForCode(p.ErrorCode), p.EndOffset)
		}
	}

	// Through kadm as well.
	var req kadm.OffsetForLeaderEpochRequest
	req.Add("epochs", 0, 0)
	res, err := a.adm.OffsetForLeaderEpoch(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := res["epochs"][0]; !ok || o.Err != nil || o.EndOffset != 3 {
		t.Errorf("kadm offset for leader epoch: %+v", o)
	}
}
