package diff

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetsTopic is the group coordinator's internal topic on both brokers.
const offsetsTopic = "__consumer_offsets"

// TestInternalTopics sends each request that could change or lose an
// internal topic's data to __consumer_offsets. Kafka's broker refuses
// Produce and DeleteRecords; Strom also refuses deletion, partition
// changes and an end to compaction (the internal-topic-* allow-list
// entries, docs/compatibility.md#internal-topics). Requests that Kafka
// would carry out go with validate_only where the API has it; DeleteTopics
// has none and runs once, at the newest version, in the full suite only;
// Kafka then re-creates the topic.
func TestInternalTopics(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "metadata", key: 3, short: true, run: internalMetadata},
		{name: "produce", key: 0, short: true, run: internalProduce},
		{name: "delete-records", key: 21, short: true, run: internalDeleteRecords},
		{name: "incremental-alter-configs", key: 44, short: true, run: internalIncrementalAlterConfigs},
		{name: "alter-configs", key: 33, short: true, run: internalAlterConfigs},
		{name: "create-partitions", key: 37, short: true, run: internalCreatePartitions},
		{name: "delete-topics", key: -1, short: false, run: internalDeleteTopics},
	})
}

// internalTopicView is what is compared of the internal topic's Metadata:
// the partition counts are each broker's setting.
func (s *session) internalTopicView(step string, v int16) {
	md := metadataReq(v, offsetsTopic)
	md.AllowAutoTopicCreation = false
	resp, err := s.send(md)
	if err != nil {
		s.record(step, transportOutcome(err))
		return
	}
	r := resp.(*kmsg.MetadataResponse)
	view := map[string]any{}
	for _, t := range r.Topics {
		view["ErrorCode"] = errorName(t.ErrorCode)
		view["IsInternal"] = t.IsInternal
		view["HasPartitions"] = len(t.Partitions) > 0
	}
	s.record(step+" (Metadata v"+itoa(int(v))+")", view)
}

func internalMetadata(s *session, v int16) {
	s.waitCoordinator(s.topic("g"))
	s.internalTopicView("internal topic", v)
}

func internalProduce(s *session, v int16) {
	s.waitCoordinator(s.topic("g"))
	s.do("produce to an internal topic", s.produceReq(v, offsetsTopic, 0, makeBatch(plain, "x")))
}

func internalDeleteRecords(s *session, v int16) {
	s.waitCoordinator(s.topic("g"))
	for _, offset := range []int64{-1, 0} {
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.Version = v
		r.TimeoutMillis = 30000
		t := kmsg.NewDeleteRecordsRequestTopic()
		t.Topic = offsetsTopic
		p := kmsg.NewDeleteRecordsRequestTopicPartition()
		p.Partition, p.Offset = 0, offset
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		s.do("delete records of an internal topic to "+itoa(int(offset)), r)
	}
}

func internalIncrementalAlterConfigs(s *session, v int16) {
	s.waitCoordinator(s.topic("g"))
	type op struct {
		key string
		op  kmsg.IncrementalAlterConfigOp
		val string
	}
	req := func(ops ...op) *kmsg.IncrementalAlterConfigsRequest {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.Version = v
		r.ValidateOnly = true
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, offsetsTopic
		for _, o := range ops {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op = o.key, o.op
			if o.op != kmsg.IncrementalAlterConfigOpDelete {
				c.Value = kmsg.StringPtr(o.val)
			}
			rr.Configs = append(rr.Configs, c)
		}
		r.Resources = append(r.Resources, rr)
		return r
	}
	s.do("internal topic: cleanup.policy=delete", req(op{"cleanup.policy", kmsg.IncrementalAlterConfigOpSet, "delete"}))
	s.do("internal topic: cleanup.policy=compact,delete", req(op{"cleanup.policy", kmsg.IncrementalAlterConfigOpSet, "compact,delete"}))
	s.do("internal topic: append delete to cleanup.policy", req(op{"cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, "delete"}))
	s.do("internal topic: delete cleanup.policy", req(op{"cleanup.policy", kmsg.IncrementalAlterConfigOpDelete, ""}))
	s.do("internal topic: segment.bytes", req(op{"segment.bytes", kmsg.IncrementalAlterConfigOpSet, "52428800"}))
}

func internalAlterConfigs(s *session, v int16) {
	s.waitCoordinator(s.topic("g"))
	req := func(kv ...string) *kmsg.AlterConfigsRequest {
		r := kmsg.NewPtrAlterConfigsRequest()
		r.Version = v
		r.ValidateOnly = true
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, offsetsTopic
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
			rr.Configs = append(rr.Configs, c)
		}
		r.Resources = append(r.Resources, rr)
		return r
	}
	s.do("internal topic: cleanup.policy=delete", req("cleanup.policy", "delete"))
	s.do("internal topic: without cleanup.policy", req("segment.bytes", "104857600"))
	s.do("internal topic: compact kept", req("cleanup.policy", "compact", "segment.bytes", "104857600"))
}

func internalCreatePartitions(s *session, v int16) {
	s.waitCoordinator(s.topic("g"))
	md := metadataReq(s.newest(3), offsetsTopic)
	md.AllowAutoTopicCreation = false
	r := s.must("metadata", md).(*kmsg.MetadataResponse)
	if len(r.Topics) != 1 {
		s.fail("no metadata for %s", offsetsTopic)
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version = v
	req.TimeoutMillis = 30000
	req.ValidateOnly = true
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic, t.Count = offsetsTopic, int32(len(r.Topics[0].Partitions)+1)
	req.Topics = append(req.Topics, t)
	s.do("grow an internal topic (validate only)", req)
}

// internalDeleteTopics deletes __consumer_offsets by name. Where the
// broker deletes it (Kafka), the scenario waits until it is gone and has
// the next FindCoordinator create it again, so the suite's later group
// scenarios find Kafka as before.
func internalDeleteTopics(s *session, _ int16) {
	s.waitCoordinator(s.topic("g"))
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = s.newest(20)
	req.TimeoutMillis = 30000
	req.TopicNames = []string{offsetsTopic}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(offsetsTopic)
	req.Topics = append(req.Topics, dt)
	resp := s.do("delete an internal topic", req)
	if r, ok := resp.(*kmsg.DeleteTopicsResponse); ok && len(r.Topics) == 1 && r.Topics[0].ErrorCode == 0 {
		s.waitGone(offsetsTopic)
		s.waitCoordinator(s.topic("g2"))
	}
	s.internalTopicView("internal topic after", s.newest(3))
}
