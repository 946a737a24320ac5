package handler

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// CreatePartitions v0-3.
//
// Grows a topic to Count partitions. A topic named twice in one request is
// INVALID_REQUEST; an unknown one UNKNOWN_TOPIC_OR_PARTITION; a count not
// above the current one INVALID_PARTITIONS. An explicit assignment must
// give one replica list per new partition, each non-empty, without
// duplicates, of the topic's replication factor and naming known brokers,
// or the answer is INVALID_REPLICA_ASSIGNMENT. validate_only checks
// without creating. More than maxPartitionsPerRequest new partitions in
// one request is POLICY_VIOLATION for every topic, Kafka's cap on one
// controller operation. An internal topic is TOPIC_AUTHORIZATION_FAILED
// (metadata.CheckClientOp; Kafka's broker grows it).
//
// Left out: the single-node controller places new partitions itself, so a
// valid assignment is checked but its order is not used.

func init() { register(kmsg.CreatePartitions, 0, 3, serveCreatePartitions) }

// maxPartitionsPerRequest is Kafka's MAX_PARTITIONS_PER_BATCH.
const maxPartitionsPerRequest = 10000

func serveCreatePartitions(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.CreatePartitionsRequest)
	ctx, cancel := within(r, req.TimeoutMillis)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	im := e.Ctrl.Image()
	counts := map[string]int{}
	var added int64
	for _, rt := range req.Topics {
		counts[rt.Topic]++
		if t := im.Topics[rt.Topic]; t != nil && int(rt.Count) > len(t.Partitions) {
			added += int64(int(rt.Count) - len(t.Partitions))
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if added > maxPartitionsPerRequest {
			st.ErrorCode = kerr.PolicyViolation.Code
			st.ErrorMessage = errMsg(fmt.Errorf("excessively large number of partitions per request: %d requested, limit %d", added, maxPartitionsPerRequest))
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if counts[rt.Topic] > 1 {
			err = fmt.Errorf("%w: duplicate topic in request: %s", errInvalidRequest, rt.Topic)
		} else {
			err = e.createPartitions(ctx, r, rt, req.ValidateOnly)
		}
		st.ErrorCode, st.ErrorMessage = e.errCode(err), errMsg(err)
		if errors.Is(err, errThrottled) {
			st.ErrorCode = kerr.ThrottlingQuotaExceeded.Code
		}
		resp.Topics = append(resp.Topics, st)
	}
	return Now(resp)
}

func (e *Env) createPartitions(ctx context.Context, r *Request, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	clientID := r.ClientID
	im := e.Ctrl.Image()
	t := im.Topics[rt.Topic]
	if t == nil {
		return fmt.Errorf("%w: %s", controller.ErrUnknownTopic, rt.Topic)
	}
	if err := metadata.CheckClientOp(t.Name, metadata.OpCreatePartitions, clientID, nil); err != nil {
		return err
	}
	cur := int32(len(t.Partitions))
	switch {
	case rt.Count < cur:
		return fmt.Errorf("%w: topic currently has %d partitions, which is higher than the requested %d", controller.ErrInvalidPartitions, cur, rt.Count)
	case rt.Count == cur:
		return fmt.Errorf("%w: topic already has %d partitions", controller.ErrInvalidPartitions, cur)
	}
	if rt.Assignment != nil {
		if err := checkAssignment(im, t, rt); err != nil {
			return err
		}
	}
	if !r.mutationAllowed(e, int(rt.Count-cur)) {
		return errThrottled
	}
	if validateOnly {
		return nil
	}
	if err := e.Ctrl.CreatePartitions(ctx, rt.Topic, rt.Count); err != nil {
		return err
	}
	e.Logger.Info("created partitions", "topic", rt.Topic, "from", cur, "to", rt.Count)
	return nil
}

// checkAssignment validates explicit replica lists for the new partitions.
func checkAssignment(im *metadata.Image, t *metadata.Topic, rt kmsg.CreatePartitionsRequestTopic) error {
	added := int(rt.Count) - len(t.Partitions)
	if len(rt.Assignment) != added {
		return fmt.Errorf("%w: attempted to add %d additional partitions, but %d assignments were supplied", controller.ErrInvalidReplicaAssignment, added, len(rt.Assignment))
	}
	rf := 0
	if len(t.Partitions) > 0 {
		rf = len(t.Partitions[0].Replicas)
	}
	for i, a := range rt.Assignment {
		if len(a.Replicas) == 0 {
			return fmt.Errorf("%w: assignment %d is empty", controller.ErrInvalidReplicaAssignment, i)
		}
		if rf > 0 && len(a.Replicas) != rf {
			return fmt.Errorf("%w: inconsistent replication factor: assignment %d has %d replicas, the topic %d", controller.ErrInvalidReplicaAssignment, i, len(a.Replicas), rf)
		}
		seen := map[int32]bool{}
		for _, id := range a.Replicas {
			if seen[id] {
				return fmt.Errorf("%w: assignment %d names broker %d twice", controller.ErrInvalidReplicaAssignment, i, id)
			}
			seen[id] = true
			if _, ok := im.Broker(ids.NodeID(id)); !ok {
				return fmt.Errorf("%w: assignment %d names unknown broker %d", controller.ErrInvalidReplicaAssignment, i, id)
			}
		}
	}
	return nil
}
