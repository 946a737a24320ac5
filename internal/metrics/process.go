// Package metrics holds every Prometheus series Strom exports: the
// instruments the data path updates as events happen (this file: one set
// per process, as Kafka's metrics are one set per JVM) and the collectors
// that read a node's state when /metrics is scraped (node.go). It imports
// only the Prometheus client and franz-go's message types, so every layer
// may update an instrument without import cycles.
//
// Names and their Kafka JMX equivalents: docs/metrics.md.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Buckets for request and disk latencies: 0.1 ms to 10 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2.5, 14)

var (
	// LogFlushSeconds is the time of one group-commit fdatasync round
	// (kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs).
	LogFlushSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "strom_log_flush_seconds",
		Help:    "Time of one fdatasync round of a partition log (group commit).",
		Buckets: latencyBuckets,
	})
	// LogFlushRecords is how many offsets one fdatasync round made durable:
	// the group-commit batch size.
	LogFlushRecords = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "strom_log_flush_records",
		Help:    "Offsets made durable by one fdatasync round (group-commit batch size).",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10),
	})
	// IsrShrinks and IsrExpands count ISR changes this node made as leader
	// (kafka.server:type=ReplicaManager,name=IsrShrinksPerSec/IsrExpandsPerSec).
	IsrShrinks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strom_isr_shrinks_total",
		Help: "ISR shrinks proposed by partitions this node leads.",
	})
	IsrExpands = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strom_isr_expands_total",
		Help: "ISR expansions proposed by partitions this node leads.",
	})
	// LeaderElections counts partition leaders this node's metadata log
	// applied (kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs).
	LeaderElections = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strom_leader_elections_total",
		Help: "Partition leader changes applied from the metadata log.",
	})
	// Rebalances counts consumer-group generations and epochs started by
	// groups this node coordinates.
	Rebalances = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strom_group_rebalances_total",
		Help: "Consumer-group rebalances completed by groups this node coordinates, by protocol.",
	}, []string{"protocol"})
	// Topic traffic (kafka.server:type=BrokerTopicMetrics, per topic).
	TopicBytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strom_topic_bytes_in_total",
		Help: "Record-batch bytes appended by producers (BytesInPerSec).",
	}, []string{"topic"})
	TopicRecordsIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strom_topic_records_in_total",
		Help: "Records appended by producers (MessagesInPerSec).",
	}, []string{"topic"})
	TopicBytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strom_topic_bytes_out_total",
		Help: "Record-batch bytes sent to consumers (BytesOutPerSec).",
	}, []string{"topic"})
	ReplicationBytesOut = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strom_replication_bytes_out_total",
		Help: "Record-batch bytes sent to follower replicas (ReplicationBytesOutPerSec).",
	})
	ReplicationBytesIn = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strom_replication_bytes_in_total",
		Help: "Record-batch bytes appended as a follower (ReplicationBytesInPerSec).",
	})
	// ProduceWaiting and FetchWaiting are the requests parked waiting:
	// produces for replication or the disk, fetches for data
	// (kafka.server:type=DelayedOperationPurgatory,name=PurgatorySize).
	ProduceWaiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strom_purgatory_produce",
		Help: "Produce requests waiting for replication or the disk (Produce PurgatorySize).",
	})
	FetchWaiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "strom_purgatory_fetch",
		Help: "Fetch requests long-polling for data (Fetch PurgatorySize).",
	})
)

// processCollectors are registered in every node's registry: a collector
// may sit in several registries, so in-process test clusters share them.
var processCollectors = []prometheus.Collector{
	LogFlushSeconds, LogFlushRecords, IsrShrinks, IsrExpands, LeaderElections, Rebalances,
	TopicBytesIn, TopicRecordsIn, TopicBytesOut, ReplicationBytesOut, ReplicationBytesIn,
	ProduceWaiting, FetchWaiting,
}
