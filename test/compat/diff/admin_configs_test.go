package diff

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// namedKeys are topic configs named in a DescribeConfigs: a few and one
// that does not exist. describedKeys (none) asks for every config: the
// scenarios compare the full answer, every entry with its value, source,
// flags, type and synonyms.
var (
	namedKeys     = []string{"retention.ms", "cleanup.policy", "max.message.bytes", "segment.bytes", "no.such.config"}
	describedKeys []string
)

// compactionConfigs are the settings tools create compacted and
// retention-bound topics with (Kafka Connect, Debezium, Strimzi).
var compactionConfigs = map[string]string{
	"cleanup.policy":                          "compact,delete",
	"compression.type":                        "zstd",
	"compression.zstd.level":                  "5",
	"delete.retention.ms":                     "3600000",
	"file.delete.delay.ms":                    "1000",
	"max.compaction.lag.ms":                   "86400000",
	"min.cleanable.dirty.ratio":               "0.1",
	"min.compaction.lag.ms":                   "1000",
	"retention.bytes":                         "1073741824",
	"retention.ms":                            "604800000",
	"segment.bytes":                           "1048576",
	"segment.index.bytes":                     "1048576",
	"segment.jitter.ms":                       "100",
	"message.timestamp.type":                  "LogAppendTime",
	"message.timestamp.before.max.ms":         "86400000",
	"message.timestamp.after.max.ms":          "60000",
	"unclean.leader.election.enable":          "false",
	"preallocate":                             "false",
	"local.retention.ms":                      "-2",
	"remote.storage.enable":                   "false",
	"follower.replication.throttled.replicas": "*",
}

func describeConfigsReq(v int16, topic string, keys []string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = v
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeTopic
	r.ResourceName = topic
	r.ConfigNames = keys
	req.Resources = append(req.Resources, r)
	req.IncludeSynonyms = v >= 1
	req.IncludeDocumentation = v >= 3
	return req
}

func TestConfigs(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "describe", key: 32, short: true, run: describeConfigs},
		{name: "alter", key: 33, short: false, run: alterConfigs},
		{name: "incremental", key: 44, short: true, run: incrementalAlterConfigs},
	})
}

func describeConfigs(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, map[string]string{"retention.ms": "123456"})
	s.do("named keys", describeConfigsReq(v, name, namedKeys))
	s.do("every config", describeConfigsReq(v, name, describedKeys))
	compacted := s.topic("c")
	s.createTopic(compacted, 1, compactionConfigs)
	s.do("every config of a compacted topic", describeConfigsReq(v, compacted, describedKeys))
	s.do("unknown topic", describeConfigsReq(v, s.topic("missing"), namedKeys))
	s.do("invalid topic name", describeConfigsReq(v, "bad/name", namedKeys))
}

func alterConfigs(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, map[string]string{"cleanup.policy": "compact"})
	req := func(topic string, validate bool, kv ...string) *kmsg.AlterConfigsRequest {
		r := kmsg.NewPtrAlterConfigsRequest()
		r.Version = v
		r.ValidateOnly = validate
		res := kmsg.NewAlterConfigsRequestResource()
		res.ResourceType = kmsg.ConfigResourceTypeTopic
		res.ResourceName = topic
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
			res.Configs = append(res.Configs, c)
		}
		r.Resources = append(r.Resources, res)
		return r
	}
	describe := s.newest(32)
	s.do("valid", req(name, false, "retention.ms", "5000"))
	s.waitConfig(name, "retention.ms", "5000")
	s.do("after valid (cleanup.policy reset)", describeConfigsReq(describe, name, describedKeys))
	s.do("invalid value", req(name, false, "retention.ms", "abc"))
	s.do("unknown key", req(name, false, "no.such.config", "1"))
	s.do("validate only", req(name, true, "retention.ms", "7000"))
	s.do("after rejected and validate-only", describeConfigsReq(describe, name, describedKeys))
	s.do("unknown topic", req(s.topic("missing"), false, "retention.ms", "5000"))
}

func incrementalAlterConfigs(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, nil)
	type op struct {
		key   string
		op    kmsg.IncrementalAlterConfigOp
		value string
	}
	req := func(topic string, validate bool, ops ...op) *kmsg.IncrementalAlterConfigsRequest {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.Version = v
		r.ValidateOnly = validate
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType = kmsg.ConfigResourceTypeTopic
		res.ResourceName = topic
		for _, o := range ops {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op, c.Value = o.key, o.op, kmsg.StringPtr(o.value)
			res.Configs = append(res.Configs, c)
		}
		r.Resources = append(r.Resources, res)
		return r
	}
	describe := s.newest(32)
	s.do("set", req(name, false, op{"retention.ms", kmsg.IncrementalAlterConfigOpSet, "4000"}, op{"max.message.bytes", kmsg.IncrementalAlterConfigOpSet, "2000"}))
	s.do("append to a list", req(name, false, op{"cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, "compact"}))
	s.waitConfig(name, "cleanup.policy", "delete,compact")
	s.do("after set and append", describeConfigsReq(describe, name, describedKeys))
	s.do("subtract from a list", req(name, false, op{"cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, "delete"}))
	s.do("delete", req(name, false, op{"max.message.bytes", kmsg.IncrementalAlterConfigOpDelete, ""}))
	s.do("append to a non-list", req(name, false, op{"retention.ms", kmsg.IncrementalAlterConfigOpAppend, "1"}))
	s.do("invalid value", req(name, false, op{"retention.ms", kmsg.IncrementalAlterConfigOpSet, "abc"}))
	s.do("unknown key", req(name, false, op{"no.such.config", kmsg.IncrementalAlterConfigOpSet, "1"}))
	s.do("duplicate key", req(name, false, op{"retention.ms", kmsg.IncrementalAlterConfigOpSet, "1"}, op{"retention.ms", kmsg.IncrementalAlterConfigOpSet, "2"}))
	s.do("validate only", req(name, true, op{"retention.ms", kmsg.IncrementalAlterConfigOpSet, "9000"}))
	s.waitConfig(name, "cleanup.policy", "compact")
	s.do("after all", describeConfigsReq(describe, name, describedKeys))
	s.do("unknown topic", req(s.topic("missing"), false, op{"retention.ms", kmsg.IncrementalAlterConfigOpSet, "1"}))
}

func TestDeleteRecords(t *testing.T) {
	runScenarios(t, []scenario{{name: "truncate", key: 21, short: true, run: deleteRecords}})
}

func deleteRecords(s *session, v int16) {
	name := s.topic("t")
	threeBatches(s, name)
	req := func(topic string, partition int32, offset int64) *kmsg.DeleteRecordsRequest {
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.Version = v
		r.TimeoutMillis = 30000
		t := kmsg.NewDeleteRecordsRequestTopic()
		t.Topic = topic
		p := kmsg.NewDeleteRecordsRequestTopicPartition()
		p.Partition, p.Offset = partition, offset
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}
	s.do("inside a batch", req(name, 0, 4))
	s.do("below the log start", req(name, 0, 1))
	s.do("beyond the high watermark", req(name, 0, 100))
	s.do("to the high watermark (-1)", req(name, 0, -1))
	s.do("negative offset", req(name, 0, -7))
	s.do("unknown partition", req(name, 3, 0))
	s.do("unknown topic", req(s.topic("missing"), 0, 0))
	s.do("earliest after", listOffsetsReq(s, s.newest(2), name, 0, -2))
	s.do("fetch below the log start", fetchReq(s, s.newest(1), name, 0, 0))
}

func TestDescribeCluster(t *testing.T) {
	runScenarios(t, []scenario{{name: "basic", key: 60, short: true, run: describeCluster}})
}

func describeCluster(s *session, v int16) {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version = v
	s.do("plain", req)
	ops := kmsg.NewPtrDescribeClusterRequest()
	ops.Version = v
	ops.IncludeClusterAuthorizedOperations = true
	s.do("authorized operations", ops)
	if v >= 1 {
		ctl := kmsg.NewPtrDescribeClusterRequest()
		ctl.Version = v
		ctl.EndpointType = 2 // controllers
		s.do("controller endpoints", ctl)
	}
}

func TestInitProducerID(t *testing.T) {
	runScenarios(t, []scenario{{name: "idempotent", key: 22, short: false, run: initProducerIDScenario}})
}

func initProducerIDScenario(s *session, v int16) {
	s.initProducerID() // the coordinator is loaded
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = v
	req.TransactionTimeoutMillis = 60000
	resp := s.do("idempotent", req)
	if v >= 3 {
		bump := kmsg.NewPtrInitProducerIDRequest()
		bump.Version = v
		bump.TransactionTimeoutMillis = 60000
		if r, ok := resp.(*kmsg.InitProducerIDResponse); ok {
			bump.ProducerID, bump.ProducerEpoch = r.ProducerID, r.ProducerEpoch
		}
		s.do("idempotent with a producer id", bump)
	}
	long := kmsg.NewPtrInitProducerIDRequest()
	long.Version = v
	long.TransactionalID = kmsg.StringPtr(s.topic("txn"))
	long.TransactionTimeoutMillis = 3600000 // above transaction.max.timeout.ms
	s.do("transactional, timeout too long", long)
}

// waitConfig polls until the broker describes key of topic as want: Kafka
// answers an alter once the controller committed it, and its own
// DescribeConfigs may lag behind (docs/compatibility.md#config-read-after-write).
func (s *session) waitConfig(topic, key, want string) {
	var got string
	for range 300 {
		r := s.must("describe configs", describeConfigsReq(s.newest(32), topic, []string{key})).(*kmsg.DescribeConfigsResponse)
		if len(r.Resources) == 1 && len(r.Resources[0].Configs) == 1 && r.Resources[0].Configs[0].Value != nil {
			if got = *r.Resources[0].Configs[0].Value; got == want {
				return
			}
		}
		sleepPoll()
	}
	s.fail("config %s of %s is %q, want %q", key, topic, got, want)
}
