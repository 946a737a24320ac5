package group

import (
	"cmp"
	"slices"
)

// Server-side assignors for consumer groups (group.consumer.assignors).
const (
	// AssignorUniform spreads the partitions of the subscribed topics
	// evenly over the members, keeping each member's previous target
	// where balance allows (Kafka's UniformAssignor).
	AssignorUniform = "uniform"
	// AssignorRange gives each member a contiguous range of every topic it
	// subscribes to (Kafka's RangeAssignor), so members of equal rank get
	// the same partition numbers of co-partitioned topics.
	AssignorRange = "range"
)

// computeTarget is the target assignment of a group: member id -> the
// partitions it should own. prev (the last target) keeps the uniform
// assignor sticky. It is deterministic: members and partitions are visited
// in sorted order.
func computeTarget(assignor string, members map[string]*consumerMember, topics map[string]TopicMeta, prev map[string]partSet) map[string]partSet {
	ids := sortedKeys(members)
	out := make(map[string]partSet, len(ids))
	for _, id := range ids {
		out[id] = partSet{}
	}
	names := sortedKeys(topics)
	if assignor == AssignorRange {
		for _, name := range names {
			t := topics[name]
			var subs []string
			for _, id := range ids {
				if members[id].subscribes(name) {
					subs = append(subs, id)
				}
			}
			if len(subs) == 0 {
				continue
			}
			n := int(t.Partitions)
			per, extra := n/len(subs), n%len(subs)
			p := 0
			for i, id := range subs {
				k := per
				if i < extra {
					k++
				}
				for j := 0; j < k; j++ {
					out[id][TopicIDPartition{t.ID, int32(p)}] = struct{}{}
					p++
				}
			}
		}
		return out
	}
	return assignUniform(ids, members, names, topics, prev, out)
}

// assignUniform: keep previous targets up to each member's fair share,
// give out the rest to the least-loaded subscriber, then move partitions
// from the most to the least loaded while that narrows the gap.
func assignUniform(ids []string, members map[string]*consumerMember, names []string, topics map[string]TopicMeta, prev map[string]partSet, out map[string]partSet) map[string]partSet {
	type part struct {
		name string
		tp   TopicIDPartition
	}
	var all []part
	subscribers := map[string][]string{}
	for _, name := range names {
		t := topics[name]
		for _, id := range ids {
			if members[id].subscribes(name) {
				subscribers[name] = append(subscribers[name], id)
			}
		}
		if len(subscribers[name]) == 0 {
			continue
		}
		for p := int32(0); p < t.Partitions; p++ {
			all = append(all, part{name, TopicIDPartition{t.ID, p}})
		}
	}
	if len(all) == 0 || len(ids) == 0 {
		return out
	}
	quota := (len(all) + len(ids) - 1) / len(ids)
	prevOwner := map[TopicIDPartition]string{}
	for id, s := range prev {
		if members[id] == nil {
			continue
		}
		for p := range s {
			prevOwner[p] = id
		}
	}
	var rest []part
	for _, p := range all {
		if id, ok := prevOwner[p.tp]; ok && members[id].subscribes(p.name) && len(out[id]) < quota {
			out[id][p.tp] = struct{}{}
			continue
		}
		rest = append(rest, p)
	}
	least := func(cands []string) string {
		best := ""
		for _, id := range cands {
			if best == "" || len(out[id]) < len(out[best]) {
				best = id
			}
		}
		return best
	}
	for _, p := range rest {
		out[least(subscribers[p.name])][p.tp] = struct{}{}
	}
	// Balance: a member with two or more partitions more than another
	// subscriber of one of its topics hands one over.
	for moved := true; moved; {
		moved = false
		order := slices.Clone(ids)
		slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(len(out[b]), len(out[a])) })
		for _, from := range order {
			for _, p := range sortedParts(out[from]) {
				name := nameOf(topics, p.Topic)
				to := least(subscribers[name])
				if to != "" && len(out[to])+1 < len(out[from]) {
					delete(out[from], p)
					out[to][p] = struct{}{}
					moved = true
					break
				}
			}
			if moved {
				break
			}
		}
	}
	return out
}

func nameOf(topics map[string]TopicMeta, id TopicID) string {
	for name, t := range topics {
		if t.ID == id {
			return name
		}
	}
	return ""
}

// sortedParts lists s highest partition first, so balancing moves the
// partitions a sticky previous owner got last.
func sortedParts(s partSet) []TopicIDPartition {
	out := make([]TopicIDPartition, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b TopicIDPartition) int {
		return cmp.Or(cmp.Compare(b.Partition, a.Partition), slices.Compare(a.Topic[:], b.Topic[:]))
	})
	return out
}
