package diff

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestWriteTxnMarkers compares the partition side of ending transactions:
// WriteTxnMarkers as a coordinator (or kafka-transactions.sh abort) sends
// it, its fencing by producer and coordinator epoch, its per-partition
// errors, and the offsets the markers take.
func TestWriteTxnMarkers(t *testing.T) {
	runScenarios(t, []scenario{{name: "markers", key: 27, short: true, run: writeTxnMarkers}})
}

func markersReq(v int16, pid int64, epoch int16, coordinatorEpoch int32, commit bool, topic string, partitions ...int32) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = v
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed = pid, epoch, coordinatorEpoch, commit
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, partitions
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	return req
}

func writeTxnMarkers(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, nil)
	pid := s.initProducerID()
	s.do("abort", markersReq(v, pid, 0, 5, false, name, 0))
	s.do("older coordinator epoch", markersReq(v, pid, 0, 4, true, name, 0))
	s.do("newer producer epoch", markersReq(v, pid, 1, 5, false, name, 0))
	s.do("older producer epoch", markersReq(v, pid, 0, 5, true, name, 0))
	s.do("unknown partition", markersReq(v, pid, 1, 5, true, name, 4))
	s.do("unknown topic", markersReq(v, pid, 1, 5, true, s.topic("missing"), 0))
	s.do("latest", listOffsetsReq(s, s.newest(2), name, 0, -1))
	rc := listOffsetsReq(s, s.newest(2), name, 0, -1)
	rc.IsolationLevel = 1
	s.do("latest read_committed", rc)
}
