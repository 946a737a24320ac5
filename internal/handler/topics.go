package handler

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// CreateTopics v0-7 and DeleteTopics v0-6.
//
// CreateTopics: -1 partitions or replication factor take the broker
// defaults; an explicit replica assignment must name known brokers and may
// not be combined with a partition count (INVALID_REQUEST); configs are
// validated (INVALID_CONFIG); a name repeated in one request is
// INVALID_REQUEST; validate_only checks without creating. Every topic is
// answered within the request's timeout: created, or a retriable
// REQUEST_TIMED_OUT / NOT_CONTROLLER when the metadata log did not apply
// it in time (it may still be created, as in Kafka). v5+ answers with
// the topic's configs, v7+ with its id.
//
// DeleteTopics: by name, or (v6+) by id; unknown ones get
// UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID. An internal topic is
// TOPIC_AUTHORIZATION_FAILED (metadata.CheckClientOp; Kafka's broker
// deletes it).

func init() {
	register(kmsg.CreateTopics, 0, 7, serveCreateTopics)
	register(kmsg.DeleteTopics, 0, 6, serveDeleteTopics)
}

// Config sources as DescribeConfigs reports them.
const (
	sourceTopic        int8 = 1 // DYNAMIC_TOPIC_CONFIG
	sourceStaticBroker int8 = 4 // STATIC_BROKER_CONFIG
	sourceDefault      int8 = 5 // DEFAULT_CONFIG
)

func serveCreateTopics(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := within(r, req.TimeoutMillis)
	defer cancel()
	counts := map[string]int{}
	newPartitions := int64(0)
	for _, rt := range req.Topics {
		counts[rt.Topic]++
		n := int64(rt.NumPartitions)
		if len(rt.ReplicaAssignment) > 0 {
			n = int64(len(rt.ReplicaAssignment))
		}
		newPartitions += max(n, 0)
	}
	// Kafka's controller refuses more than 10,000 new partitions in one
	// request: each is a directory and open files on every replica.
	if newPartitions > maxPartitionsPerRequest {
		for _, rt := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic = rt.Topic
			st.NumPartitions, st.ReplicationFactor = -1, -1
			st.ErrorCode = kerr.PolicyViolation.Code
			st.ErrorMessage = errMsg(fmt.Errorf("excessively large number of partitions per request"))
			resp.Topics = append(resp.Topics, st)
		}
		return Now(resp)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if counts[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = errMsg(fmt.Errorf("create topics request must not contain duplicate topic name %s", rt.Topic))
			if req.Version >= 5 {
				st.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		spec, code, err := e.topicSpec(rt)
		if code == 0 && !r.mutationAllowed(e, int(spec.Partitions)) {
			code, err = kerr.ThrottlingQuotaExceeded.Code, errThrottled
		}
		if code == 0 && !req.ValidateOnly {
			var t *metadata.Topic
			t, err = e.Ctrl.CreateTopic(ctx, spec)
			code = e.errCode(err)
			if t != nil {
				st.TopicID = t.ID
			}
		} else if code == 0 {
			im := e.Ctrl.Image()
			if _, exists := im.Topics[spec.Name]; exists {
				err = fmt.Errorf("%w: %s", controller.ErrTopicExists, spec.Name)
				code = e.errCode(err)
			} else if !controller.ValidTopicName(spec.Name) {
				err = controller.ErrInvalidTopic
				code = e.errCode(err)
			}
		}
		st.ErrorCode = code
		if code != 0 {
			st.ErrorMessage = errMsg(err)
			if req.Version >= 5 {
				st.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
			}
		} else {
			if req.ValidateOnly {
				// Kafka names the id the topic would get.
				st.TopicID = metadata.NewTopicID()
			}
			st.NumPartitions, st.ReplicationFactor = spec.Partitions, spec.ReplicationFactor
			if req.Version >= 5 {
				st.Configs = e.createdConfigs(spec.Configs)
			}
			e.Logger.Info("created topic", "topic", spec.Name, "partitions", spec.Partitions, "validate_only", req.ValidateOnly)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}

// topicSpec turns a request topic into a spec, applying defaults and
// validating what the controller does not.
func (e *Env) topicSpec(rt kmsg.CreateTopicsRequestTopic) (controller.TopicSpec, int16, error) {
	spec := controller.TopicSpec{Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, Configs: map[string]string{}}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return spec, kerr.InvalidRequest.Code, fmt.Errorf("both numPartitions or replicationFactor and replicasAssignments were set")
		}
		im := e.Ctrl.Image()
		for i, a := range rt.ReplicaAssignment {
			if a.Partition != int32(i) || len(a.Replicas) == 0 {
				return spec, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("partitions must be numbered from 0 with at least one replica each")
			}
			for _, id := range a.Replicas {
				if _, ok := im.Broker(ids.NodeID(id)); !ok {
					return spec, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("replica %d is not a known broker", id)
				}
			}
		}
		for _, a := range rt.ReplicaAssignment {
			spec.Assignment = append(spec.Assignment, nodeIDs(a.Replicas))
		}
		spec.Partitions = int32(len(rt.ReplicaAssignment))
		spec.ReplicationFactor = int16(len(rt.ReplicaAssignment[0].Replicas))
	}
	if spec.Partitions == -1 {
		spec.Partitions = e.Cfg.DefaultPartitions
	}
	if spec.ReplicationFactor == -1 {
		spec.ReplicationFactor = e.Cfg.DefaultReplicationFactor
	}
	if spec.Partitions <= 0 {
		return spec, kerr.InvalidPartitions.Code, fmt.Errorf("number of partitions must be larger than 0")
	}
	if spec.ReplicationFactor <= 0 {
		return spec, kerr.InvalidReplicationFactor.Code, fmt.Errorf("replication factor must be larger than 0")
	}
	for _, c := range rt.Configs {
		if c.Value == nil {
			return spec, kerr.InvalidConfig.Code, fmt.Errorf("null value not supported for topic configs: %s", c.Name)
		}
		if err := metadata.ValidateTopicConfig(c.Name, *c.Value); err != nil {
			return spec, e.errCode(err), err
		}
		spec.Configs[c.Name] = *c.Value
	}
	return spec, 0, nil
}

// createdConfigs are a new topic's configs: its overrides, else the value
// DescribeConfigs gives the broker default.
func (e *Env) createdConfigs(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	im := e.Ctrl.Image()
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, d := range metadata.TopicConfigDefs {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		ce := e.topicConfigEntry(im, d, overrides)
		v := ce.value
		c.Name, c.Value, c.Source = d.Name, &v, ce.source
		out = append(out, c)
	}
	return out
}

func serveDeleteTopics(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := within(r, req.TimeoutMillis)
	defer cancel()
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version < 6 {
		for i := range req.TopicNames {
			targets = append(targets, target{name: &req.TopicNames[i]})
		}
	} else {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		im := e.Ctrl.Image()
		var t *metadata.Topic
		if tg.name != nil {
			t = im.Topics[*tg.name]
		} else {
			t = im.TopicsByID[metadata.TopicID(tg.id)]
		}
		switch {
		case t == nil && tg.name == nil:
			st.ErrorCode = kerr.UnknownTopicID.Code
		case t == nil:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
			err := metadata.CheckClientOp(name, metadata.OpDeleteTopic, r.ClientID, nil)
			throttled := err == nil && !r.mutationAllowed(e, len(t.Partitions))
			if throttled {
				err = errThrottled
			} else if err == nil {
				err = e.Ctrl.DeleteTopic(ctx, name)
			}
			if throttled {
				st.ErrorCode, st.ErrorMessage = kerr.ThrottlingQuotaExceeded.Code, errMsg(err)
			} else if err != nil {
				st.ErrorCode = e.errCode(err)
				st.ErrorMessage = errMsg(err)
			} else {
				e.Logger.Info("deleted topic", "topic", name)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}
