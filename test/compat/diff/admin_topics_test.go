package diff

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestApiVersions(t *testing.T) {
	runScenarios(t, []scenario{{name: "basic", key: 18, short: true, run: apiVersions}})
}

// apiVersions compares the versions advertised for every API Strom serves;
// APIs only Kafka serves are out of Strom's scope and left out.
func apiVersions(s *session, v int16) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = v
	req.ClientSoftwareName, req.ClientSoftwareVersion = "strom-compat", "1.0.0"
	resp, err := s.send(req)
	if err != nil {
		s.record("ApiVersions", transportOutcome(err))
		return
	}
	r := resp.(*kmsg.ApiVersionsResponse)
	keep := r.ApiKeys[:0]
	for _, k := range r.ApiKeys {
		if _, ok := s.p.stromVersions[k.ApiKey]; ok {
			keep = append(keep, k)
		}
	}
	r.ApiKeys = keep
	// Features are compared for those Strom implements, exactly (supported
	// range, finalized levels); Kafka's others describe KRaft internals
	// (docs/compatibility.md#features). The finalized features epoch is a
	// metadata offset in Kafka: only set vs unset is compared.
	var sup []kmsg.ApiVersionsResponseSupportedFeature
	for _, f := range r.SupportedFeatures {
		if stromFeatures[f.Name] {
			sup = append(sup, f)
		}
	}
	var fin []kmsg.ApiVersionsResponseFinalizedFeature
	for _, f := range r.FinalizedFeatures {
		if stromFeatures[f.Name] {
			fin = append(fin, f)
		}
	}
	r.SupportedFeatures, r.FinalizedFeatures = sup, fin
	if r.FinalizedFeaturesEpoch >= 0 {
		r.FinalizedFeaturesEpoch = 0
	}
	s.record("ApiVersions", normalize(r))

	bad := kmsg.NewPtrApiVersionsRequest()
	bad.Version = v
	if v >= 3 {
		bad.ClientSoftwareName, bad.ClientSoftwareVersion = "bad name!", "1"
		s.do("invalid client software name", bad)
	}
}

// stromFeatures are the feature flags Strom advertises in ApiVersions.
var stromFeatures = map[string]bool{"transaction.version": true}

func metadataReq(v int16, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = v
	for _, t := range topics {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, mt)
	}
	return req
}

func TestMetadata(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "topics", key: 3, short: true, run: metadataTopics},
		{name: "auto-create", key: 3, short: false, run: metadataAutoCreate},
	})
}

func metadataTopics(s *session, v int16) {
	a, b := s.topic("a"), s.topic("b")
	s.createTopic(a, 1, nil)
	s.createTopic(b, 3, nil)

	all := metadataReq(v)
	if v == 0 {
		all.Topics = []kmsg.MetadataRequestTopic{} // v0: empty means all
	} else {
		all.Topics = nil
	}
	all.AllowAutoTopicCreation = false
	if resp, err := s.send(all); err != nil {
		s.record("all topics", transportOutcome(err))
	} else {
		// Only this scenario's topics: other tests' topics and internal
		// topics are not part of the comparison.
		r := resp.(*kmsg.MetadataResponse)
		keep := r.Topics[:0]
		for _, t := range r.Topics {
			if t.Topic != nil && strings.HasPrefix(*t.Topic, s.topic("")) {
				keep = append(keep, t)
			}
		}
		r.Topics = keep
		s.record("all topics (this scenario's)", normalize(r))
	}

	named := metadataReq(v, b, a)
	named.AllowAutoTopicCreation = false
	s.do("named topics", named)

	if v >= 4 {
		unknown := metadataReq(v, s.topic("missing"))
		unknown.AllowAutoTopicCreation = false
		s.do("unknown topic, no auto-create", unknown)
	}
	invalid := metadataReq(v, "bad/name")
	invalid.AllowAutoTopicCreation = v >= 4
	s.do("invalid topic name", invalid)

	if v >= 8 && v <= 10 {
		ops := metadataReq(v, a)
		ops.IncludeClusterAuthorizedOperations = true
		ops.IncludeTopicAuthorizedOperations = true
		s.do("authorized operations", ops)
	} else if v >= 11 {
		ops := metadataReq(v, a)
		ops.IncludeTopicAuthorizedOperations = true
		s.do("topic authorized operations", ops)
	}
	if v >= 12 {
		byID := kmsg.NewPtrMetadataRequest()
		byID.Version = v
		mt := kmsg.NewMetadataRequestTopic()
		mt.TopicID = s.topicID(a)
		byID.Topics = append(byID.Topics, mt)
		s.do("by topic id", byID)

		unknownID := kmsg.NewPtrMetadataRequest()
		unknownID.Version = v
		mt.TopicID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
		unknownID.Topics = append(unknownID.Topics, mt)
		s.do("by unknown topic id", unknownID)
	}
}

func metadataAutoCreate(s *session, v int16) {
	name := s.topic("auto")
	req := metadataReq(v, name)
	req.AllowAutoTopicCreation = true
	resp := s.do("unknown topic, auto-create", req)
	if resp == nil {
		return
	}
	s.waitReady(name, 1)
	again := metadataReq(v, name)
	again.AllowAutoTopicCreation = false
	s.do("auto-created topic", again)
}

func createTopicsReq(v int16, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = v
	req.TimeoutMillis = 30000
	req.ValidateOnly = validateOnly
	req.Topics = topics
	return req
}

func newTopic(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		t.Configs = append(t.Configs, c)
	}
	return t
}

func (s *session) doCreate(step string, req *kmsg.CreateTopicsRequest) {
	resp, err := s.send(req)
	step += fmt.Sprintf(" (CreateTopics v%d)", req.Version)
	if err != nil {
		s.record(step, transportOutcome(err))
		return
	}
	// Every config of a created topic is compared, as DescribeConfigs.
	s.record(step, normalize(resp))
}

func TestCreateTopics(t *testing.T) {
	runScenarios(t, []scenario{{name: "errors", key: 19, short: true, run: createTopics}})
}

func createTopics(s *session, v int16) {
	ok := s.topic("ok")
	s.doCreate("create", createTopicsReq(v, false, newTopic(ok, 3, 1, "retention.ms", "123456")))
	s.waitReady(ok, 3)
	s.doCreate("exists", createTopicsReq(v, false, newTopic(ok, 3, 1)))
	s.doCreate("invalid names", createTopicsReq(v, false,
		newTopic("bad/name", 1, 1), newTopic("..", 1, 1), newTopic("", 1, 1),
		newTopic(strings.Repeat("x", 250), 1, 1)))
	s.doCreate("zero partitions", createTopicsReq(v, false, newTopic(s.topic("p0"), 0, 1)))
	s.doCreate("negative partitions", createTopicsReq(v, false, newTopic(s.topic("pneg"), -5, 1)))
	s.doCreate("replication factor above brokers", createTopicsReq(v, false, newTopic(s.topic("rf3"), 1, 3)))
	s.doCreate("replication factor zero", createTopicsReq(v, false, newTopic(s.topic("rf0"), 1, 0)))
	s.doCreate("unknown config", createTopicsReq(v, false, newTopic(s.topic("cfg1"), 1, 1, "no.such.config", "1")))
	s.doCreate("invalid config value", createTopicsReq(v, false, newTopic(s.topic("cfg2"), 1, 1, "retention.ms", "abc")))
	s.doCreate("invalid cleanup.policy", createTopicsReq(v, false, newTopic(s.topic("cfg3"), 1, 1, "cleanup.policy", "sometimes")))
	compacted := s.topic("compacted")
	var kv []string
	for k, v := range compactionConfigs {
		kv = append(kv, k, v)
	}
	s.doCreate("compaction and retention settings", createTopicsReq(v, false, newTopic(compacted, 1, 1, kv...)))
	s.waitReady(compacted, 1)
	// Removed by Kafka 4.0 (KIP-724, KIP-896): unknown names on Kafka 4.1.
	for _, kv := range [][2]string{
		{"message.format.version", "3.0"}, {"message.downconversion.enable", "true"},
		{"message.timestamp.difference.max.ms", "1000"},
		// Values Kafka's validators refuse.
		{"compression.gzip.level", "10"}, {"compression.type", "brotli"}, {"min.cleanable.dirty.ratio", "1.5"},
		{"max.compaction.lag.ms", "0"}, {"segment.bytes", "1000"}, {"segment.index.bytes", "3"},
		{"leader.replication.throttled.replicas", "1-2"}, {"remote.storage.enable", "true"},
		{"unclean.leader.election.enable", "yes"}, {"local.retention.ms", "-3"},
	} {
		s.doCreate(kv[0]+"="+kv[1], createTopicsReq(v, true, newTopic(s.topic("rm"), 1, 1, kv[0], kv[1])))
	}
	s.doCreate("duplicate topic in request", createTopicsReq(v, false, newTopic(s.topic("dup"), 1, 1), newTopic(s.topic("dup"), 1, 1)))
	s.doCreate("validate only", createTopicsReq(v, true, newTopic(s.topic("vo"), 2, 1)))
	s.doCreate("validate only, bad", createTopicsReq(v, true, newTopic(s.topic("vo2"), 0, 1)))
	if v >= 4 {
		s.doCreate("default partitions and replication", createTopicsReq(v, false, newTopic(s.topic("defaults"), -1, -1)))
		s.waitReady(s.topic("defaults"), 1)
	}
	md := metadataReq(s.newest(3), s.topic("vo"), s.topic("p0"))
	md.AllowAutoTopicCreation = false
	s.do("rejected and validate-only topics do not exist", md)
}

func TestDeleteTopics(t *testing.T) {
	runScenarios(t, []scenario{{name: "delete", key: 20, short: false, run: deleteTopics}})
}

func deleteTopics(s *session, v int16) {
	a, b := s.topic("a"), s.topic("b")
	s.createTopic(a, 2, nil)
	s.createTopic(b, 1, nil)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = v
	req.TimeoutMillis = 30000
	for _, name := range []string{a, s.topic("missing")} {
		req.TopicNames = append(req.TopicNames, name)
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, dt)
	}
	s.do("delete existing and unknown", req)
	if v >= 6 {
		byID := kmsg.NewPtrDeleteTopicsRequest()
		byID.Version = v
		byID.TimeoutMillis = 30000
		for _, id := range [][16]byte{s.topicID(b), {9, 9, 9}} {
			dt := kmsg.NewDeleteTopicsRequestTopic()
			dt.TopicID = id
			byID.Topics = append(byID.Topics, dt)
		}
		s.do("delete by id, known and unknown", byID)
	}
	s.waitGone(a)
	md := metadataReq(s.newest(3), a)
	md.AllowAutoTopicCreation = false
	s.do("deleted topic", md)
}

// waitGone polls until the broker no longer lists topic.
func (s *session) waitGone(topic string) {
	for range 300 {
		md := metadataReq(s.newest(3), topic)
		md.AllowAutoTopicCreation = false
		r := s.must("metadata", md).(*kmsg.MetadataResponse)
		if len(r.Topics) == 1 && r.Topics[0].ErrorCode == 3 {
			return
		}
		sleepPoll()
	}
	s.fail("topic %s still listed after deletion", topic)
}

func TestCreatePartitions(t *testing.T) {
	runScenarios(t, []scenario{{name: "grow-shrink", key: 37, short: false, run: createPartitions}})
}

func createPartitions(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, nil)
	req := func(validate bool, counts ...any) *kmsg.CreatePartitionsRequest {
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.Version = v
		r.TimeoutMillis = 30000
		r.ValidateOnly = validate
		for i := 0; i+1 < len(counts); i += 2 {
			t := kmsg.NewCreatePartitionsRequestTopic()
			t.Topic, t.Count = counts[i].(string), int32(counts[i+1].(int))
			r.Topics = append(r.Topics, t)
		}
		return r
	}
	s.do("validate only grow", req(true, name, 5))
	s.do("grow", req(false, name, 3))
	s.waitReady(name, 3)
	s.do("same count", req(false, name, 3))
	s.do("shrink", req(false, name, 2))
	s.do("unknown topic", req(false, s.topic("missing"), 2))
	s.do("duplicate topic", req(false, name, 4, name, 5))
	md := metadataReq(s.newest(3), name)
	md.AllowAutoTopicCreation = false
	s.do("partition count after", md)
}
