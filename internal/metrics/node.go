package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// PartitionState is one hosted partition replica as /metrics reports it.
type PartitionState struct {
	Topic     string
	Partition int32
	Leader    int32 // leader's node id, -1 when none
	IsLeader  bool  // this node leads it
	Preferred bool  // the leader is the first replica
	Replicas  int
	ISR       int
	MinISR    int
	Offline   bool // failed on this node (disk fault)
	LogStart  int64
	HW        int64
	LogEnd    int64
	Size      int64
	Segments  int
}

// ClusterState is what the metadata image says of the whole cluster.
type ClusterState struct {
	ActiveController bool // this node is the metadata leader (or a single node)
	Brokers          int
	Topics           map[string]int32 // partitions per topic
	Offline          int              // partitions without a live leader
}

// RaftState is the metadata quorum member's state; ok false on a single node.
type RaftState struct {
	Role         string // Leader, Follower, Candidate, Shutdown
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // applied by this node's state machine
	LastIndex    uint64 // last index in this node's log
}

// GroupState is one consumer group this node coordinates.
type GroupState struct {
	Group    string
	State    string // Kafka's state name: Stable, Empty, PreparingRebalance, ...
	Protocol string // classic or consumer
	Members  int
	Offsets  []GroupOffset
}

// GroupOffset is one committed offset of a group.
type GroupOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Sources read a node's state at scrape time. Any may be nil.
type Sources struct {
	Partitions func() []PartitionState
	Cluster    func() ClusterState
	Raft       func() (RaftState, bool)
	Groups     func() []GroupState
	// EndOffsets returns the high watermark of partitions this node does
	// not lead (asked of their leaders), for consumer-group lag.
	EndOffsets func(ctx context.Context, tps []TopicPartition) map[TopicPartition]int64
}

// Node is one broker's metrics: its registry, and its request instruments.
type Node struct {
	Registry *prometheus.Registry
	Requests *Requests
}

// NewNode builds a node's registry: the process-wide instruments, the Go
// runtime and process collectors, the request metrics and the state read
// from src at every scrape. perPartition false drops per-partition series
// (log size, offsets, per-partition lag) to bound cardinality.
func NewNode(nodeID int32, src Sources, perPartition bool) *Node {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(processCollectors...)
	req := newRequests()
	reg.MustRegister(req.collectors()...)
	reg.MustRegister(&stateCollector{node: strconv.Itoa(int(nodeID)), src: src, perPartition: perPartition})
	return &Node{Registry: reg, Requests: req}
}

// stateCollector reports the node's state as const metrics at each scrape.
type stateCollector struct {
	node         string
	src          Sources
	perPartition bool
}

var (
	dPartitions       = prometheus.NewDesc("strom_partitions", "Partition replicas hosted by this node (PartitionCount).", nil, nil)
	dLeaders          = prometheus.NewDesc("strom_leader_partitions", "Partitions this node leads (LeaderCount).", nil, nil)
	dUnderReplicated  = prometheus.NewDesc("strom_under_replicated_partitions", "Partitions this node leads whose ISR is smaller than their replica set (UnderReplicatedPartitions).", nil, nil)
	dUnderMinISR      = prometheus.NewDesc("strom_under_min_isr_partitions", "Partitions this node leads whose ISR is below min.insync.replicas (UnderMinIsrPartitionCount).", nil, nil)
	dOfflineReplicas  = prometheus.NewDesc("strom_offline_replicas", "Partition replicas failed on this node after a disk fault (OfflineReplicaCount).", nil, nil)
	dOffline          = prometheus.NewDesc("strom_offline_partitions", "Partitions without a live leader; reported by the active controller only (OfflinePartitionsCount).", nil, nil)
	dActiveController = prometheus.NewDesc("strom_active_controller", "1 on the node that leads the metadata quorum, or on a single node (ActiveControllerCount).", nil, nil)
	dBrokers          = prometheus.NewDesc("strom_brokers", "Registered live brokers, as the metadata image says.", nil, nil)

	dRaftRole    = prometheus.NewDesc("strom_raft_role", "1 for this node's current metadata quorum role.", []string{"role"}, nil)
	dRaftTerm    = prometheus.NewDesc("strom_raft_term", "Current metadata quorum term (current-epoch).", nil, nil)
	dRaftCommit  = prometheus.NewDesc("strom_raft_commit_index", "Highest metadata log index known committed (high-watermark).", nil, nil)
	dRaftApplied = prometheus.NewDesc("strom_raft_applied_index", "Metadata log index applied to this node's image (last-applied-record-offset).", nil, nil)
	dRaftLast    = prometheus.NewDesc("strom_raft_last_index", "Last index in this node's metadata log (log-end-offset).", nil, nil)
	dMetadataLag = prometheus.NewDesc("strom_metadata_lag", "Committed metadata entries not yet applied here.", nil, nil)

	dGroups = prometheus.NewDesc("strom_groups", "Consumer groups this node coordinates, by state and protocol (NumGroups*).", []string{"state", "protocol"}, nil)

	pLabels      = []string{"topic", "partition"}
	dLogSize     = prometheus.NewDesc("strom_log_size_bytes", "Size of the partition's log on this node (kafka.log:type=Log,name=Size).", pLabels, nil)
	dLogSegments = prometheus.NewDesc("strom_log_segments", "Segments of the partition's log on this node (NumLogSegments).", pLabels, nil)
	dLogStart    = prometheus.NewDesc("strom_log_start_offset", "Log start offset on this node (LogStartOffset).", pLabels, nil)
	dLogEnd      = prometheus.NewDesc("strom_log_end_offset", "Log end offset on this node (LogEndOffset).", pLabels, nil)
	dHighWater   = prometheus.NewDesc("strom_high_watermark", "High watermark on this node.", pLabels, nil)
	dReplicaLag  = prometheus.NewDesc("strom_follower_lag_offsets", "Offsets this follower is behind its own high watermark's source: log end minus high watermark seen (follower lag).", pLabels, nil)

	// kafka-exporter's names, so its dashboards and alerts work. Each
	// partition is reported by its leader, each group by its coordinator,
	// cluster-wide counts by the active controller: summing over nodes
	// never double counts.
	keBrokers         = prometheus.NewDesc("kafka_brokers", "Number of brokers in the cluster.", nil, nil)
	keTopicPartitions = prometheus.NewDesc("kafka_topic_partitions", "Number of partitions of a topic.", []string{"topic"}, nil)
	keCurrent         = prometheus.NewDesc("kafka_topic_partition_current_offset", "Current offset (high watermark) of a partition.", pLabels, nil)
	keOldest          = prometheus.NewDesc("kafka_topic_partition_oldest_offset", "Oldest offset of a partition.", pLabels, nil)
	keInSync          = prometheus.NewDesc("kafka_topic_partition_in_sync_replica", "In-sync replicas of a partition.", pLabels, nil)
	keLeader          = prometheus.NewDesc("kafka_topic_partition_leader", "Leader broker id of a partition.", pLabels, nil)
	keReplicas        = prometheus.NewDesc("kafka_topic_partition_replicas", "Replicas of a partition.", pLabels, nil)
	keUnderReplicated = prometheus.NewDesc("kafka_topic_partition_under_replicated_partition", "1 if the partition is under-replicated.", pLabels, nil)
	kePreferred       = prometheus.NewDesc("kafka_topic_partition_leader_is_preferred", "1 if the partition's leader is its preferred replica.", pLabels, nil)
	gLabels           = []string{"consumergroup", "topic", "partition"}
	keGroupOffset     = prometheus.NewDesc("kafka_consumergroup_current_offset", "Committed offset of a consumer group in a partition.", gLabels, nil)
	keGroupOffsetSum  = prometheus.NewDesc("kafka_consumergroup_current_offset_sum", "Sum of a consumer group's committed offsets in a topic.", []string{"consumergroup", "topic"}, nil)
	keGroupLag        = prometheus.NewDesc("kafka_consumergroup_lag", "Lag of a consumer group in a partition: high watermark minus committed offset.", gLabels, nil)
	keGroupLagSum     = prometheus.NewDesc("kafka_consumergroup_lag_sum", "Lag of a consumer group summed over a topic's partitions.", []string{"consumergroup", "topic"}, nil)
	keGroupMembers    = prometheus.NewDesc("kafka_consumergroup_members", "Members of a consumer group.", []string{"consumergroup"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	// Unchecked: the per-partition and per-group series come and go.
	prometheus.DescribeByCollect(c, ch)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	hw := map[TopicPartition]int64{}
	if c.src.Partitions != nil {
		c.collectPartitions(ch, hw)
	}
	if c.src.Cluster != nil {
		cs := c.src.Cluster()
		gauge(ch, dActiveController, b2f(cs.ActiveController))
		if cs.ActiveController {
			gauge(ch, dOffline, float64(cs.Offline))
			gauge(ch, dBrokers, float64(cs.Brokers))
			gauge(ch, keBrokers, float64(cs.Brokers))
			for t, n := range cs.Topics {
				gauge(ch, keTopicPartitions, float64(n), t)
			}
		}
	}
	if c.src.Raft != nil {
		if rs, ok := c.src.Raft(); ok {
			for _, role := range []string{"Leader", "Follower", "Candidate"} {
				gauge(ch, dRaftRole, b2f(rs.Role == role), role)
			}
			gauge(ch, dRaftTerm, float64(rs.Term))
			gauge(ch, dRaftCommit, float64(rs.CommitIndex))
			gauge(ch, dRaftApplied, float64(rs.AppliedIndex))
			gauge(ch, dRaftLast, float64(rs.LastIndex))
			lag := float64(0)
			if rs.CommitIndex > rs.AppliedIndex {
				lag = float64(rs.CommitIndex - rs.AppliedIndex)
			}
			gauge(ch, dMetadataLag, lag)
		}
	}
	if c.src.Groups != nil {
		c.collectGroups(ch, hw)
	}
}

func (c *stateCollector) collectPartitions(ch chan<- prometheus.Metric, hw map[TopicPartition]int64) {
	var hosted, leaders, under, underMin, offline int
	for _, p := range c.src.Partitions() {
		hosted++
		if p.Offline {
			offline++
		}
		part := strconv.Itoa(int(p.Partition))
		if c.perPartition {
			gauge(ch, dLogSize, float64(p.Size), p.Topic, part)
			gauge(ch, dLogSegments, float64(p.Segments), p.Topic, part)
			gauge(ch, dLogStart, float64(p.LogStart), p.Topic, part)
			gauge(ch, dLogEnd, float64(p.LogEnd), p.Topic, part)
			gauge(ch, dHighWater, float64(p.HW), p.Topic, part)
		}
		if !p.IsLeader {
			continue
		}
		hw[TopicPartition{p.Topic, p.Partition}] = p.HW
		leaders++
		isUnder := p.ISR < p.Replicas
		if isUnder {
			under++
		}
		if p.ISR < p.MinISR {
			underMin++
		}
		if c.perPartition {
			gauge(ch, keCurrent, float64(p.HW), p.Topic, part)
			gauge(ch, keOldest, float64(p.LogStart), p.Topic, part)
			gauge(ch, keInSync, float64(p.ISR), p.Topic, part)
			gauge(ch, keLeader, float64(p.Leader), p.Topic, part)
			gauge(ch, keReplicas, float64(p.Replicas), p.Topic, part)
			gauge(ch, keUnderReplicated, b2f(isUnder), p.Topic, part)
			gauge(ch, kePreferred, b2f(p.Preferred), p.Topic, part)
		}
	}
	gauge(ch, dPartitions, float64(hosted))
	gauge(ch, dLeaders, float64(leaders))
	gauge(ch, dUnderReplicated, float64(under))
	gauge(ch, dUnderMinISR, float64(underMin))
	gauge(ch, dOfflineReplicas, float64(offline))
}

// lagTimeout bounds the asks for end offsets of partitions led elsewhere.
const lagTimeout = 2 * time.Second

func (c *stateCollector) collectGroups(ch chan<- prometheus.Metric, hw map[TopicPartition]int64) {
	groups := c.src.Groups()
	type stateKey struct{ state, protocol string }
	counts := map[stateKey]int{}
	var missing []TopicPartition
	for _, g := range groups {
		counts[stateKey{g.State, g.Protocol}]++
		for _, o := range g.Offsets {
			tp := TopicPartition{o.Topic, o.Partition}
			if _, ok := hw[tp]; !ok {
				hw[tp] = -1
				missing = append(missing, tp)
			}
		}
	}
	for k, n := range counts {
		gauge(ch, dGroups, float64(n), k.state, k.protocol)
	}
	if len(missing) > 0 && c.src.EndOffsets != nil {
		ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
		for tp, off := range c.src.EndOffsets(ctx, missing) {
			hw[tp] = off
		}
		cancel()
	}
	for _, g := range groups {
		gauge(ch, keGroupMembers, float64(g.Members), g.Group)
		offSum := map[string]float64{}
		lagSum := map[string]float64{}
		for _, o := range g.Offsets {
			part := strconv.Itoa(int(o.Partition))
			offSum[o.Topic] += float64(o.Offset)
			if c.perPartition {
				gauge(ch, keGroupOffset, float64(o.Offset), g.Group, o.Topic, part)
			}
			end := hw[TopicPartition{o.Topic, o.Partition}]
			if end < 0 {
				continue // its leader did not answer: no lag rather than a wrong one
			}
			lag := float64(max(end-o.Offset, 0))
			lagSum[o.Topic] += lag
			if c.perPartition {
				gauge(ch, keGroupLag, lag, g.Group, o.Topic, part)
			}
		}
		for t, v := range offSum {
			gauge(ch, keGroupOffsetSum, v, g.Group, t)
		}
		for t, v := range lagSum {
			gauge(ch, keGroupLagSum, v, g.Group, t)
		}
	}
}
