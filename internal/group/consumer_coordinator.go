package group

import (
	"context"
	"time"

	"github.com/strom-broker/strom/internal/metadata"
)

// topicMetas lists the image's topics for the consumer-group assignors.
func topicMetas(im *metadata.Image) []TopicMeta {
	out := make([]TopicMeta, 0, len(im.Topics))
	for name, t := range im.Topics {
		out = append(out, TopicMeta{Name: name, ID: TopicID(t.ID), Partitions: int32(len(t.Partitions))})
	}
	return out
}

// ConsumerHeartbeat handles a ConsumerGroupHeartbeat.
func (c *Coordinator) ConsumerHeartbeat(ctx context.Context, req ConsumerHeartbeatRequest) *ConsumerHeartbeatResult {
	v, err := c.call(ctx, func(now time.Time, to ReplyID) { c.m.ConsumerHeartbeat(now, to, req) })
	if err != nil {
		return &ConsumerHeartbeatResult{Err: err}
	}
	return v.(*ConsumerHeartbeatResult)
}

// DescribeConsumerGroup describes a KIP-848 group; the string is Kafka's
// error message when there is one.
func (c *Coordinator) DescribeConsumerGroup(ctx context.Context, groupID string) (ConsumerGroupDescription, string, error) {
	var d ConsumerGroupDescription
	var msg string
	var derr error
	if err := c.do(ctx, func(time.Time) { d, msg, derr = c.m.DescribeConsumerGroup(groupID) }); err != nil {
		return ConsumerGroupDescription{ID: groupID}, "", err
	}
	return d, msg, derr
}
