package group

import (
	"context"
	"time"
)

// GroupStats is one group as the metrics report it.
type GroupStats struct {
	ID       string
	State    string // Kafka's state name
	Protocol string // classic or consumer
	Members  int
	Offsets  map[TopicPartition]Offset
}

// Stats returns every group of the partitions this node coordinates, with
// copies of their committed offsets (for /metrics and the console).
func (c *Coordinator) Stats(ctx context.Context) ([]GroupStats, error) {
	var out []GroupStats
	err := c.do(ctx, func(time.Time) { out = c.m.stats() })
	return out, err
}

func (m *Machine) stats() []GroupStats {
	out := make([]GroupStats, 0, len(m.groups)+len(m.consumers))
	copyOffsets := func(src map[TopicPartition]Offset) map[TopicPartition]Offset {
		dst := make(map[TopicPartition]Offset, len(src))
		for k, v := range src {
			dst[k] = v
		}
		return dst
	}
	for id, g := range m.groups {
		out = append(out, GroupStats{ID: id, State: g.state.String(), Protocol: "classic", Members: len(g.members), Offsets: copyOffsets(g.offsets)})
	}
	for id, cg := range m.consumers {
		out = append(out, GroupStats{ID: id, State: cg.State(), Protocol: "consumer", Members: len(cg.members), Offsets: copyOffsets(cg.offsets)})
	}
	return out
}
