package handler_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestDescribeTopicPartitions pages through two topics with franz-go's
// request as Kafka's handler does (test/compat/diff compares the same
// with Apache Kafka): named topics in name order from the cursor, a page
// ending mid-topic names the next partition, unknown and invalid names
// are reported, bad cursors are INVALID_REQUEST, and without an
// authorizer every topic operation is set.
func TestDescribeTopicPartitions(t *testing.T) {
	a := newAdminEnv(t)
	x, y := testkit.TopicName(t, "a"), testkit.TopicName(t, "b")
	a.createTopic(x, 3)
	a.createTopic(y, 2)
	req := func(limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsResponse {
		r := kmsg.NewPtrDescribeTopicPartitionsRequest()
		r.ResponsePartitionLimit, r.Cursor = limit, cursor
		for _, n := range topics {
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = n
			r.Topics = append(r.Topics, rt)
		}
		return request[*kmsg.DescribeTopicPartitionsResponse](a, r)
	}
	type part struct {
		topic string
		p     int32
	}
	parts := func(r *kmsg.DescribeTopicPartitionsResponse) []part {
		var out []part
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				out = append(out, part{*t.Topic, p.Partition})
			}
		}
		return out
	}

	all := req(100, nil, y, x, "missing-"+x, "bad/name")
	codes := map[string]int16{}
	for _, rt := range all.Topics {
		codes[*rt.Topic] = rt.ErrorCode
		if rt.AuthorizedOperations != 3576 {
			t.Errorf("%s: operations %d, want every topic operation (3576)", *rt.Topic, rt.AuthorizedOperations)
		}
	}
	if codes[x] != 0 || codes[y] != 0 || codes["missing-"+x] != kerr.UnknownTopicOrPartition.Code || codes["bad/name"] != kerr.InvalidTopicException.Code {
		t.Errorf("named topics: codes %v", codes)
	}
	if all.NextCursor != nil {
		t.Errorf("one page: next cursor %+v", all.NextCursor)
	}

	first := req(2, nil, x, y)
	if got := parts(first); len(got) != 2 || got[0] != (part{x, 0}) || got[1] != (part{x, 1}) {
		t.Errorf("first page %v", got)
	}
	if c := first.NextCursor; c == nil || c.Topic != x || c.Partition != 2 {
		t.Fatalf("first page cursor %+v, want %s/2", c, x)
	}
	second := req(2, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: x, Partition: 2}, x, y)
	if got := parts(second); len(got) != 2 || got[0] != (part{x, 2}) || got[1] != (part{y, 0}) {
		t.Errorf("second page %v", got)
	}
	if c := second.NextCursor; c == nil || c.Topic != y || c.Partition != 1 {
		t.Errorf("second page cursor %+v, want %s/1", c, y)
	}

	for name, cursor := range map[string]*kmsg.DescribeTopicPartitionsRequestCursor{
		"cursor on a topic not named": {Topic: y},
		"negative cursor partition":   {Topic: x, Partition: -1},
	} {
		r := req(10, cursor, x)
		if len(r.Topics) != 1 || r.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("%s: %+v", name, r.Topics)
		}
	}
}
