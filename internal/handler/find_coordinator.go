package handler

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/txn"
)

// FindCoordinator v0-6.
//
// v0-3 ask for one key, v4+ for a batch. The coordinator of a group
// (key type 0) is the leader of its __consumer_offsets partition, that of a
// transactional id (type 1) the leader of its __transaction_state
// partition, with Kafka's partitioning (abs(javaHash(key)) % partitions)
// for both; the answer carries the same host:port Metadata gives for that
// node (DESIGN.md §2 rule 6). While the internal topic does not exist or
// the partition has no live leader the answer is COORDINATOR_NOT_AVAILABLE
// (retryable), as Kafka's is. Share groups (type 2) are not served:
// INVALID_REQUEST.

func init() { register(kmsg.FindCoordinator, 0, 6, serveFindCoordinator) }

func serveFindCoordinator(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.Version < 4 {
		c := e.findCoordinator(r.Ctx, r.Listener, req.CoordinatorType, req.CoordinatorKey)
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if req.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
		return Now(resp)
	}
	for _, key := range req.CoordinatorKeys {
		resp.Coordinators = append(resp.Coordinators, e.findCoordinator(r.Ctx, r.Listener, req.CoordinatorType, key))
	}
	return Now(resp)
}

func (e *Env) findCoordinator(ctx context.Context, listener string, keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID, c.Port = key, -1, -1
	fail := func(err *kerr.Error) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode = err.Code
		msg := err.Message
		c.ErrorMessage = &msg
		return c
	}
	var topic string
	switch keyType {
	case 0:
		topic = group.OffsetsTopic
		if e.Groups == nil {
			return fail(kerr.CoordinatorNotAvailable)
		}
	case 1:
		topic = metadata.TransactionStateTopic
		if e.Txns == nil {
			return fail(kerr.CoordinatorNotAvailable)
		}
	default:
		return fail(kerr.InvalidRequest)
	}
	im := e.Ctrl.Image()
	t := im.Topics[topic]
	if t == nil {
		// Created on first use, as Kafka does, once brokers have
		// registered (a topic created at start-up would get too few
		// replicas).
		spec := group.OffsetsTopicSpec(e.Cfg.OffsetsTopicPartitions, len(im.Brokers))
		if keyType == 1 {
			spec = txn.TopicSpec(e.Cfg.TransactionStatePartitions, len(im.Brokers))
		}
		_, err := e.Ctrl.CreateTopic(ctx, spec)
		if err != nil && !errors.Is(err, controller.ErrTopicExists) {
			e.Logger.Warn("creating "+topic, "err", err)
		}
		im = e.Ctrl.Image()
		t = im.Topics[topic]
	}
	if t == nil || len(t.Partitions) == 0 {
		return fail(kerr.CoordinatorNotAvailable)
	}
	p := t.Partitions[group.PartitionFor(key, int32(len(t.Partitions)))]
	b, ok := im.LiveBroker(p.Leader)
	if !ok {
		return fail(kerr.CoordinatorNotAvailable)
	}
	c.Host, c.Port = b.Address(listener)
	c.NodeID = int32(b.ID)
	return c
}
