package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// PartitionState is one hosted partition replica as /metrics reports it.
type PartitionState struct {
	Topic     string
	Internal  bool // __consumer_offsets, __transaction_state: no per-partition series
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
	reg.MustRegister(collectors.NewGoCollector(),
		&cachedCollector{c: collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), ttl: 10 * time.Second})
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
	dPartitions       = desc("strom_partitions", "Partition replicas hosted by this node (PartitionCount).")
	dLeaders          = desc("strom_leader_partitions", "Partitions this node leads (LeaderCount).")
	dUnderReplicated  = desc("strom_under_replicated_partitions", "Partitions this node leads whose ISR is smaller than their replica set (UnderReplicatedPartitions).")
	dUnderMinISR      = desc("strom_under_min_isr_partitions", "Partitions this node leads whose ISR is below min.insync.replicas (UnderMinIsrPartitionCount).")
	dOfflineReplicas  = desc("strom_offline_replicas", "Partition replicas failed on this node after a disk fault (OfflineReplicaCount).")
	dOffline          = desc("strom_offline_partitions", "Partitions without a live leader; reported by the active controller only (OfflinePartitionsCount).")
	dActiveController = desc("strom_active_controller", "1 on the node that leads the metadata quorum, or on a single node (ActiveControllerCount).")
	dBrokers          = desc("strom_brokers", "Registered live brokers, as the metadata image says.")

	dRaftRole    = desc("strom_raft_role", "1 for this node's current metadata quorum role.", "role")
	dRaftTerm    = desc("strom_raft_term", "Current metadata quorum term (current-epoch).")
	dRaftCommit  = desc("strom_raft_commit_index", "Highest metadata log index known committed (high-watermark).")
	dRaftApplied = desc("strom_raft_applied_index", "Metadata log index applied to this node's image (last-applied-record-offset).")
	dRaftLast    = desc("strom_raft_last_index", "Last index in this node's metadata log (log-end-offset).")
	dMetadataLag = desc("strom_metadata_lag", "Committed metadata entries not yet applied here.")

	dGroups = desc("strom_groups", "Consumer groups this node coordinates, by state and protocol (NumGroups*).", "state", "protocol")

	pLabels      = []string{"topic", "partition"}
	dTopicSize   = desc("strom_topic_log_size_bytes", "Size of a topic's logs on this node, summed over its partitions.", "topic")
	dLogSize     = desc("strom_log_size_bytes", "Size of the partition's log on this node (kafka.log:type=Log,name=Size).", pLabels...)
	dLogSegments = desc("strom_log_segments", "Segments of the partition's log on this node (NumLogSegments).", pLabels...)
	dLogStart    = desc("strom_log_start_offset", "Log start offset on this node (LogStartOffset).", pLabels...)
	dLogEnd      = desc("strom_log_end_offset", "Log end offset on this node (LogEndOffset).", pLabels...)
	dHighWater   = desc("strom_high_watermark", "High watermark on this node.", pLabels...)

	// kafka-exporter's names, so its dashboards and alerts work. Each
	// partition is reported by its leader, each group by its coordinator,
	// cluster-wide counts by the active controller: summing over nodes
	// never double counts.
	keBrokers         = desc("kafka_brokers", "Number of brokers in the cluster.")
	keTopicPartitions = desc("kafka_topic_partitions", "Number of partitions of a topic.", "topic")
	keCurrent         = desc("kafka_topic_partition_current_offset", "Current offset (high watermark) of a partition.", pLabels...)
	keOldest          = desc("kafka_topic_partition_oldest_offset", "Oldest offset of a partition.", pLabels...)
	keInSync          = desc("kafka_topic_partition_in_sync_replica", "In-sync replicas of a partition.", pLabels...)
	keLeader          = desc("kafka_topic_partition_leader", "Leader broker id of a partition.", pLabels...)
	keReplicas        = desc("kafka_topic_partition_replicas", "Replicas of a partition.", pLabels...)
	keUnderReplicated = desc("kafka_topic_partition_under_replicated_partition", "1 if the partition is under-replicated.", pLabels...)
	kePreferred       = desc("kafka_topic_partition_leader_is_preferred", "1 if the partition's leader is its preferred replica.", pLabels...)
	gLabels           = []string{"consumergroup", "topic", "partition"}
	keGroupOffset     = desc("kafka_consumergroup_current_offset", "Committed offset of a consumer group in a partition.", gLabels...)
	keGroupOffsetSum  = desc("kafka_consumergroup_current_offset_sum", "Sum of a consumer group's committed offsets in a topic.", "consumergroup", "topic")
	keGroupLag        = desc("kafka_consumergroup_lag", "Lag of a consumer group in a partition: high watermark minus committed offset.", gLabels...)
	keGroupLagSum     = desc("kafka_consumergroup_lag_sum", "Lag of a consumer group summed over a topic's partitions.", "consumergroup", "topic")
	keGroupMembers    = desc("kafka_consumergroup_members", "Members of a consumer group.", "consumergroup")
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	// Unchecked: the per-partition and per-group series come and go.
	prometheus.DescribeByCollect(c, ch)
}

// desc describes a series of the state collector.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
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
	topicSize := map[string]int64{}
	for _, p := range c.src.Partitions() {
		hosted++
		if p.Offline {
			offline++
		}
		topicSize[p.Topic] += p.Size
		part := strconv.Itoa(int(p.Partition))
		// The internal topics' many partitions would be most of a scrape:
		// they get per-topic series only.
		perPartition := c.perPartition && !p.Internal
		partGauge := func(d *prometheus.Desc, v float64) { gauge(ch, d, v, p.Topic, part) }
		if perPartition {
			partGauge(dLogSize, float64(p.Size))
			partGauge(dLogSegments, float64(p.Segments))
			partGauge(dLogStart, float64(p.LogStart))
			partGauge(dLogEnd, float64(p.LogEnd))
			partGauge(dHighWater, float64(p.HW))
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
		if perPartition {
			partGauge(keCurrent, float64(p.HW))
			partGauge(keOldest, float64(p.LogStart))
			partGauge(keInSync, float64(p.ISR))
			partGauge(keLeader, float64(p.Leader))
			partGauge(keReplicas, float64(p.Replicas))
			partGauge(keUnderReplicated, b2f(isUnder))
			partGauge(kePreferred, b2f(p.Preferred))
		}
	}
	for t, size := range topicSize {
		gauge(ch, dTopicSize, float64(size), t)
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

// cachedCollector replays what c collected for ttl: the process collector
// reads several /proc files and lists every open file descriptor (a broker
// has one per segment file), most of a scrape's cost, for figures that
// move slowly.
type cachedCollector struct {
	c   prometheus.Collector
	ttl time.Duration

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

func (cc *cachedCollector) Describe(ch chan<- *prometheus.Desc) { cc.c.Describe(ch) }

func (cc *cachedCollector) Collect(ch chan<- prometheus.Metric) {
	cc.mu.Lock()
	if time.Since(cc.at) >= cc.ttl {
		out := make(chan prometheus.Metric, 64)
		go func() { cc.c.Collect(out); close(out) }()
		fresh := make([]prometheus.Metric, 0, len(cc.last)) // a scrape may still read the old one
		for m := range out {
			fresh = append(fresh, m)
		}
		cc.last = fresh
		cc.at = time.Now()
	}
	last := cc.last
	cc.mu.Unlock()
	for _, m := range last {
		ch <- m
	}
}
