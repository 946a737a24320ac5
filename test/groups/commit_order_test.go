package groups_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestPipelinedCommitsKeepOrder sends one connection's worth of offset
// commits without waiting (what librdkafka does with an asynchronous
// commit per record), each one further than the last, then an OffsetFetch
// on the same connection: every commit succeeds and the fetch, answered
// after them, names the last offset. Kafka answers a connection's requests
// one at a time, so nothing else is possible there; a broker that applies
// pipelined commits in the order its goroutines happen to run keeps an
// older offset.
func TestPipelinedCommitsKeepOrder(t *testing.T) {
	const n = 50
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	g := groupName(t)
	rc := dialRaw(t, b.Addr())

	committed(t, b.Addr(), g, topic) // the coordinator is loaded

	for round := range 3 {
		type sent struct {
			req  kmsg.Request
			v    int16
			corr int32
		}
		var reqs []sent
		for i := 1; i <= n; i++ {
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Group, req.Generation = g, -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Offset = int64(round*n + i)
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			reqs = append(reqs, sent{req, 8, rc.send(req, 8)})
		}
		for _, v := range []int16{7, 8} {
			f := kmsg.NewPtrOffsetFetchRequest()
			if v < 8 {
				f.Group = g
				ft := kmsg.NewOffsetFetchRequestTopic()
				ft.Topic, ft.Partitions = topic, []int32{0}
				f.Topics = append(f.Topics, ft)
			} else {
				fg := kmsg.NewOffsetFetchRequestGroup()
				fg.Group = g
				ft := kmsg.NewOffsetFetchRequestGroupTopic()
				ft.Topic, ft.Partitions = topic, []int32{0}
				fg.Topics = append(fg.Topics, ft)
				f.Groups = append(f.Groups, fg)
			}
			reqs = append(reqs, sent{f, v, rc.send(f, v)})
		}
		want := int64((round + 1) * n)
		for _, s := range reqs {
			switch resp := rc.recv(s.req, s.v, s.corr).(type) {
			case *kmsg.OffsetCommitResponse:
				wantCode(t, "commit", resp.Topics[0].Partitions[0].ErrorCode, nil)
			case *kmsg.OffsetFetchResponse:
				var got int64
				if s.v < 8 {
					wantCode(t, "fetch", resp.ErrorCode, nil)
					got = resp.Topics[0].Partitions[0].Offset
				} else {
					wantCode(t, "fetch", resp.Groups[0].ErrorCode, nil)
					got = resp.Groups[0].Topics[0].Partitions[0].Offset
				}
				if got != want {
					t.Fatalf("round %d: OffsetFetch v%d after %d pipelined commits answered %d, want %d", round, s.v, n, got, want)
				}
			}
		}
	}
}
