package handler

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/partition"
)

// DescribeLogDirs v0-4.
//
// The data directory is the one log dir. Each hosted partition reports
// its log's size; offset lag is 0 and nothing is a future replica (no
// replica moves between dirs). A null topic list asks for every
// partition; requested partitions this node does not host are left out,
// as in Kafka. v4+ carries the file system's total and usable bytes; when
// statfs fails they stay -1.
//
// Left out: v5's cordoned dirs.

func init() { register(kmsg.DescribeLogDirs, 0, 4, serveDescribeLogDirs) }

func serveDescribeLogDirs(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = e.Cfg.DataDir

	byTopic := map[string][]*partition.Partition{}
	if req.Topics == nil {
		for _, p := range e.Partitions.All() {
			byTopic[p.Topic] = append(byTopic[p.Topic], p)
		}
	} else {
		for _, rt := range req.Topics {
			for _, idx := range rt.Partitions {
				if p := e.Partitions.Get(rt.Topic, idx); p != nil {
					byTopic[rt.Topic] = append(byTopic[rt.Topic], p)
				}
			}
		}
	}
	names := make([]string, 0, len(byTopic))
	for n := range byTopic {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		parts := byTopic[n]
		sort.Slice(parts, func(i, j int) bool { return parts[i].Index < parts[j].Index })
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = n
		var last int32 = -1
		for _, p := range parts {
			if p.Index == last {
				continue // asked for twice
			}
			last = p.Index
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p.Index
			dp.Size = p.Size()
			dt.Partitions = append(dt.Partitions, dp)
		}
		dir.Topics = append(dir.Topics, dt)
	}
	if req.Version >= 4 {
		if total, usable, err := e.Partitions.DiskSpace(); err == nil {
			dir.TotalBytes, dir.UsableBytes = total, usable
		} else {
			e.Logger.Warn("statfs of data dir", "dir", e.Cfg.DataDir, "err", err)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return Now(resp)
}
