package handler

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// DescribeTopicPartitions v0 (KIP-966), what Kafka 4's AdminClient
// describeTopics sends.
//
// As Kafka's DescribeTopicPartitionsRequestHandler: the named topics (an
// empty list: every topic) from the cursor's topic on, in name order,
// each with its partitions from the cursor's partition, until the
// response holds ResponsePartitionLimit partitions (capped at 2000, at
// least 1); NextCursor then names where to go on. A named topic that does
// not exist answers UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION
// for an invalid name); in an all-topics listing none is reported. A
// cursor on a topic not in a named list, or a negative cursor partition,
// is INVALID_REQUEST for every named topic. Partitions carry no error:
// a leader that is not live is -1. Strom has no eligible leader replicas
// (KIP-966 ELR): both lists are empty.
//
// Topic authorized operations are every operation (as Kafka without an
// authorizer); with one, the check in internal/authz narrows them, and
// r.Visible leaves out (all topics) or refuses (named) the topics the
// principal may not describe. As in Kafka, a page ends the walk: topics
// past it are not refused either.

func init() { register(kmsg.DescribeTopicPartitions, 0, 0, serveDescribeTopicPartitions) }

// maxRequestPartitionSizeLimit is Kafka's
// max.request.partition.size.limit default.
const maxRequestPartitionSizeLimit = 2000

func serveDescribeTopicPartitions(e *Env, r *Request) Result {
	if !e.Ctrl.Fresh() {
		// As Metadata: cut off from the metadata quorum, wait briefly,
		// then answer without claiming any leadership (DESIGN.md §2
		// rule 4).
		return Result{Deferred: func() kmsg.Response {
			deadline := time.Now().Add(time.Second)
			for !e.Ctrl.Fresh() && time.Now().Before(deadline) && r.Ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			resp := describeTopicPartitionsPage(e, r)
			if !e.Ctrl.Fresh() {
				for ti := range resp.Topics {
					for pi := range resp.Topics[ti].Partitions {
						resp.Topics[ti].Partitions[pi].LeaderID = -1
					}
				}
			}
			return resp
		}}
	}
	return Now(describeTopicPartitionsPage(e, r))
}

// describeTopicPartitionsPage answers r from the current image.
func describeTopicPartitionsPage(e *Env, r *Request) *kmsg.DescribeTopicPartitionsResponse {
	req := r.Body.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	im := e.Ctrl.Image()
	all := len(req.Topics) == 0
	cursorTopic := ""
	if req.Cursor != nil {
		cursorTopic = req.Cursor.Topic
	}
	names := map[string]bool{}
	if all {
		for name := range im.Topics {
			if name >= cursorTopic {
				names[name] = true
			}
		}
	} else {
		for _, t := range req.Topics {
			if t.Topic >= cursorTopic {
				names[t.Topic] = true
			}
		}
	}
	if req.Cursor != nil && ((!all && !names[req.Cursor.Topic]) || req.Cursor.Partition < 0) {
		for _, t := range req.Topics {
			rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
			name := t.Topic
			rt.Topic, rt.ErrorCode = &name, kerr.InvalidRequest.Code
			rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)

	var refused []kmsg.DescribeTopicPartitionsResponseTopic
	remaining := int(min(max(req.ResponsePartitionLimit, 1), maxRequestPartitionSizeLimit))
	for _, name := range sorted {
		if r.Visible != nil && !r.Visible(name) {
			if !all {
				rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				n := name
				rt.Topic, rt.ErrorCode = &n, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
				refused = append(refused, rt)
			}
			continue
		}
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name}
			break
		}
		t := im.Topics[name]
		if t == nil {
			if !all {
				rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				n := name
				rt.Topic, rt.ErrorCode = &n, kerr.UnknownTopicOrPartition.Code
				if !controller.ValidTopicName(name) {
					rt.ErrorCode = kerr.InvalidTopicException.Code
				}
				rt.IsInternal = metadata.IsInternal(name)
				rt.AuthorizedOperations = topicOperations
				resp.Topics = append(resp.Topics, rt)
			}
			continue
		}
		start := 0
		if name == cursorTopic && req.Cursor != nil {
			start = int(req.Cursor.Partition)
		}
		rt := describeTopicPartitions(im, t, start, remaining)
		remaining -= len(rt.Partitions)
		if next := start + len(rt.Partitions); next < len(t.Partitions) {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: int32(next)}
			resp.Topics = append(resp.Topics, rt)
			break
		}
		resp.Topics = append(resp.Topics, rt)
	}
	resp.Topics = append(resp.Topics, refused...)
	return resp
}

// describeTopicPartitions describes at most n partitions of t from index
// start.
func describeTopicPartitions(im *metadata.Image, t *metadata.Topic, start, n int) kmsg.DescribeTopicPartitionsResponseTopic {
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	name := t.Name
	rt.Topic, rt.TopicID, rt.IsInternal = &name, t.ID, metadata.IsInternal(t.Name)
	rt.AuthorizedOperations = topicOperations
	rt.Partitions = []kmsg.DescribeTopicPartitionsResponseTopicPartition{}
	parts := append([]metadata.Partition(nil), t.Partitions...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].Index < parts[j].Index })
	for i := start; i < len(parts) && i < start+n; i++ {
		p := parts[i]
		rp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
		rp.Partition, rp.LeaderID, rp.LeaderEpoch = p.Index, int32(p.Leader), int32(p.LeaderEpoch)
		if _, ok := im.LiveBroker(p.Leader); !ok {
			rp.LeaderID = -1
		}
		rp.Replicas, rp.ISR = int32s(p.Replicas), int32s(p.ISR)
		rp.EligibleLeaderReplicas, rp.LastKnownELR = []int32{}, []int32{}
		rp.OfflineReplicas = []int32{}
		for _, id := range p.Replicas {
			if _, ok := im.LiveBroker(id); !ok {
				rp.OfflineReplicas = append(rp.OfflineReplicas, int32(id))
			}
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	return rt
}

func int32s(nodes []ids.NodeID) []int32 {
	out := make([]int32, len(nodes))
	for i, id := range nodes {
		out[i] = int32(id)
	}
	return out
}
