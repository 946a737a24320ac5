package metrics

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// embedding wraps a response as the hand-encoded Fetch response does.
type embedding struct {
	*kmsg.FetchResponse
	other []int
}

func TestForEachErrorCodeFindsNestedCodes(t *testing.T) {
	fr := kmsg.NewPtrFetchResponse()
	fr.ErrorCode = 0
	tp := kmsg.NewFetchResponseTopic()
	p1, p2 := kmsg.NewFetchResponseTopicPartition(), kmsg.NewFetchResponseTopicPartition()
	p1.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER
	p2.ErrorCode = 1 // OFFSET_OUT_OF_RANGE
	tp.Partitions = append(tp.Partitions, p1, p2)
	fr.Topics = append(fr.Topics, tp)

	var got []int16
	forEachErrorCode(fr, func(c int16) { got = append(got, c) })
	if !slices.Equal(got, []int16{6, 1}) {
		t.Fatalf("codes = %v, want [6 1]", got)
	}
	got = got[:0]
	forEachErrorCode(&embedding{FetchResponse: fr}, func(c int16) { got = append(got, c) })
	if !slices.Equal(got, []int16{6, 1}) {
		t.Fatalf("codes through an embedded pointer = %v, want [6 1]", got)
	}

	cr := kmsg.NewPtrCreateTopicsResponse()
	ct := kmsg.NewCreateTopicsResponseTopic()
	ct.ErrorCode = 36 // TOPIC_ALREADY_EXISTS
	cr.Topics = append(cr.Topics, ct)
	got = got[:0]
	forEachErrorCode(cr, func(c int16) { got = append(got, c) })
	if !slices.Equal(got, []int16{36}) {
		t.Fatalf("create topics codes = %v", got)
	}
	if errorName(36) != "TOPIC_ALREADY_EXISTS" || errorName(-99) != "-99" {
		t.Fatalf("errorName: %q %q", errorName(36), errorName(-99))
	}
}
