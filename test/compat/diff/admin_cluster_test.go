package diff

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestClusterAdmin(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "log-dirs", key: 35, short: false, run: describeLogDirs},
		{name: "elect-leaders", key: 43, short: false, run: electLeaders},
		{name: "reassignments", key: 45, short: false, run: reassignments},
	})
}

func describeLogDirs(s *session, v int16) {
	name := s.topic("t")
	threeBatches(s, name)
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Version = v
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic = name
	rt.Partitions = []int32{0, 5}
	req.Topics = append(req.Topics, rt)
	resp, err := s.send(req)
	if err != nil {
		s.record("named partitions", transportOutcome(err))
		return
	}
	// Directory paths and disk sizes are the machine's; partition sizes
	// are compared (both store the same batches byte for byte).
	r := resp.(*kmsg.DescribeLogDirsResponse)
	for i := range r.Dirs {
		r.Dirs[i].Dir = "<dir>"
		r.Dirs[i].TotalBytes, r.Dirs[i].UsableBytes = -1, -1
	}
	s.record("named partitions", normalize(r))
}

func electLeaders(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, nil)
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version = v
	req.TimeoutMillis = 30000
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic = name
	rt.Partitions = []int32{0, 4}
	req.Topics = append(req.Topics, rt)
	s.do("preferred, already leader and unknown partition", req)
	if v >= 1 {
		req.ElectionType = 1
		s.do("unclean", req)
	}
}

func reassignments(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, nil)
	alter := func(replicas []int32) *kmsg.AlterPartitionAssignmentsRequest {
		r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		r.Version = v
		r.TimeoutMillis = 30000
		t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		t.Topic = name
		p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		p.Partition, p.Replicas = 0, replicas
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}
	s.do("to a broker that does not exist", alter([]int32{7}))
	s.do("cancel when none is in progress", alter(nil))
	s.do("to the current replicas", alter([]int32{1}))
	list := kmsg.NewPtrListPartitionReassignmentsRequest()
	list.Version = s.newest(46)
	lt := kmsg.NewListPartitionReassignmentsRequestTopic()
	lt.Topic = name
	lt.Partitions = []int32{0}
	list.Topics = append(list.Topics, lt)
	s.do("list", list)
}
