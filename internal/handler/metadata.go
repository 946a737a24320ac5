package handler

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// Metadata v0-13.
//
// Answers from one metadata image (DESIGN.md §2): every broker with its
// advertised address, and every leader and replica id present in that
// list. Topics that do not exist are auto-created when the broker allows
// it and the request asks (always for v0-3), with the default partition
// count. v10+ carries topic ids; v12+ may ask by id (UNKNOWN_TOPIC_ID when
// none matches). Authorized operations, when asked for, are everything,
// as on a Kafka without an authorizer; with one, internal/authz answers
// the principal's.

func init() { register(kmsg.Metadata, 0, 13, serveMetadata) }

func serveMetadata(e *Env, r *Request) Result {
	if !e.Ctrl.Fresh() {
		// Cut off from the metadata quorum: wait briefly for it, then
		// answer without claiming any leadership (DESIGN.md §2 rule 4).
		return Result{Deferred: func() kmsg.Response {
			deadline := time.Now().Add(time.Second)
			for !e.Ctrl.Fresh() && time.Now().Before(deadline) && r.Ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			resp := buildMetadata(e, r)
			if !e.Ctrl.Fresh() {
				withoutLeaders(resp)
			}
			return resp
		}}
	}
	return Now(buildMetadata(e, r))
}

// withoutLeaders turns every partition into a retryable "no leader" answer.
func withoutLeaders(resp *kmsg.MetadataResponse) {
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			p := &resp.Topics[ti].Partitions[pi]
			p.Leader, p.ErrorCode = -1, kerr.LeaderNotAvailable.Code
		}
	}
}

func buildMetadata(e *Env, r *Request) *kmsg.MetadataResponse {
	req := r.Body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	im := e.Ctrl.Image()

	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	autoCreate := e.Cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)

	var out []kmsg.MetadataResponseTopic
	if allTopics {
		for _, name := range im.SortedTopicNames() {
			out = append(out, topicMetadata(im, im.Topics[name], req.Version))
		}
	} else {
		seen := map[string]bool{}
		for _, rt := range req.Topics {
			if rt.Topic == nil || *rt.Topic == "" {
				id := metadata.TopicID(rt.TopicID)
				t := im.TopicsByID[id]
				if t == nil {
					mt := kmsg.NewMetadataResponseTopic()
					mt.TopicID = rt.TopicID
					mt.ErrorCode = kerr.UnknownTopicID.Code
					out = append(out, mt)
					continue
				}
				out = append(out, topicMetadata(im, t, req.Version))
				continue
			}
			name := *rt.Topic
			if seen[name] {
				continue
			}
			seen[name] = true
			t := im.Topics[name]
			if t == nil && autoCreate {
				var err error
				t, err = e.autoCreate(r.Ctx, name)
				if err != nil {
					mt := kmsg.NewMetadataResponseTopic()
					mt.Topic = &name
					mt.ErrorCode = e.errCode(err)
					if errors.Is(err, controller.ErrTopicExists) {
						// Lost a race with another creator: answer from the new image.
						im = e.Ctrl.Image()
						if t = im.Topics[name]; t != nil {
							out = append(out, topicMetadata(im, t, req.Version))
							continue
						}
					}
					out = append(out, mt)
					continue
				}
				im = e.Ctrl.Image()
			}
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = &name
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
				out = append(out, mt)
				continue
			}
			out = append(out, topicMetadata(im, t, req.Version))
		}
	}

	for _, b := range im.LiveBrokers() {
		mb := kmsg.NewMetadataResponseBroker()
		mb.Host, mb.Port = b.Address(r.Listener)
		mb.NodeID, mb.Rack = int32(b.ID), b.Rack
		resp.Brokers = append(resp.Brokers, mb)
	}
	cid := im.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = int32(im.ControllerID)
	if req.IncludeTopicAuthorizedOperations {
		// Every named topic, found or not (Kafka leaves out only unknown
		// topic ids); with an authorizer, internal/authz puts the
		// principal's operations in their place.
		for i := range out {
			if out[i].Topic != nil {
				out[i].AuthorizedOperations = topicOperations
			}
		}
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOperations
	}
	resp.Topics = out
	return resp
}

// autoCreate creates a topic with the broker defaults, as Kafka's
// auto.create.topics.enable does.
func (e *Env) autoCreate(ctx context.Context, name string) (*metadata.Topic, error) {
	if !controller.ValidTopicName(name) {
		return nil, controller.ErrInvalidTopic
	}
	t, err := e.Ctrl.CreateTopic(ctx, controller.TopicSpec{
		Name:              name,
		Partitions:        e.Cfg.DefaultPartitions,
		ReplicationFactor: e.Cfg.DefaultReplicationFactor,
	})
	if err == nil {
		e.Logger.Info("auto-created topic", "topic", name, "partitions", e.Cfg.DefaultPartitions)
	}
	return t, err
}

// topicMetadata renders one topic. A leader that is not in the broker list
// is reported as -1 with LEADER_NOT_AVAILABLE, never as a dangling id.
func topicMetadata(im *metadata.Image, t *metadata.Topic, version int16) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = metadata.IsInternal(t.Name)
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = int32(p.Leader)
		mp.LeaderEpoch = int32(p.LeaderEpoch)
		if _, ok := im.LiveBroker(p.Leader); !ok {
			mp.Leader = -1
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mp.Replicas = known(im, p.Replicas)
		mp.ISR = known(im, p.ISR)
		for _, id := range p.Replicas {
			if _, ok := im.LiveBroker(id); !ok {
				mp.OfflineReplicas = append(mp.OfflineReplicas, int32(id))
			}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// known filters replicas to those present in the broker list (live brokers):
// a client must never see an id it cannot resolve (DESIGN.md §2 rule 2).
func known(im *metadata.Image, replicas []ids.NodeID) []int32 {
	out := make([]int32, 0, len(replicas))
	for _, id := range replicas {
		if _, ok := im.LiveBroker(id); ok {
			out = append(out, int32(id))
		}
	}
	return out
}
