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
	LogFlushSeconds = newHistogram("strom_log_flush_seconds", "Time of one fdatasync round of a partition log (group commit).", latencyBuckets)
	// LogFlushRecords is how many offsets one fdatasync round made durable:
	// the group-commit batch size.
	LogFlushRecords = newHistogram("strom_log_flush_records", "Offsets made durable by one fdatasync round (group-commit batch size).", prometheus.ExponentialBuckets(1, 4, 10))
	// IsrShrinks and IsrExpands count ISR changes this node made as leader
	// (kafka.server:type=ReplicaManager,name=IsrShrinksPerSec/IsrExpandsPerSec).
	IsrShrinks = newCounter("strom_isr_shrinks_total", "ISR shrinks proposed by partitions this node leads.")
	IsrExpands = newCounter("strom_isr_expands_total", "ISR expansions proposed by partitions this node leads.")
	// LeaderElections counts partition leaders this node's metadata log
	// applied (kafka.controller:type=ControllerStats,name=LeaderElectionRateAndTimeMs).
	LeaderElections = newCounter("strom_leader_elections_total", "Partition leader changes applied from the metadata log.")
	// Rebalances counts consumer-group generations and epochs started by
	// groups this node coordinates.
	Rebalances = newCounterVec("strom_group_rebalances_total", "Consumer-group rebalances completed by groups this node coordinates, by protocol.", "protocol")
	// Topic traffic (kafka.server:type=BrokerTopicMetrics, per topic).
	TopicBytesIn        = newCounterVec("strom_topic_bytes_in_total", "Record-batch bytes appended by producers (BytesInPerSec).", "topic")
	TopicRecordsIn      = newCounterVec("strom_topic_records_in_total", "Records appended by producers (MessagesInPerSec).", "topic")
	TopicBytesOut       = newCounterVec("strom_topic_bytes_out_total", "Record-batch bytes sent to consumers (BytesOutPerSec).", "topic")
	ReplicationBytesOut = newCounter("strom_replication_bytes_out_total", "Record-batch bytes sent to follower replicas (ReplicationBytesOutPerSec).")
	ReplicationBytesIn  = newCounter("strom_replication_bytes_in_total", "Record-batch bytes appended as a follower (ReplicationBytesInPerSec).")
	// ProduceWaiting and FetchWaiting are the requests parked waiting:
	// produces for replication or the disk, fetches for data
	// (kafka.server:type=DelayedOperationPurgatory,name=PurgatorySize).
	ProduceWaiting = newGauge("strom_purgatory_produce", "Produce requests waiting for replication or the disk (Produce PurgatorySize).")
	FetchWaiting   = newGauge("strom_purgatory_fetch", "Fetch requests long-polling for data (Fetch PurgatorySize).")
)

// processCollectors are registered in every node's registry: a collector
// may sit in several registries, so in-process test clusters share them.
var processCollectors = []prometheus.Collector{
	LogFlushSeconds, LogFlushRecords, IsrShrinks, IsrExpands, LeaderElections, Rebalances,
	TopicBytesIn, TopicRecordsIn, TopicBytesOut, ReplicationBytesOut, ReplicationBytesIn,
	ProduceWaiting, FetchWaiting,
}

// The constructors of the instruments: a name, its help text and, for a
// vector, its labels.

func newCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func newCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func newGauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

func newGaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

func newHistogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
}

func newHistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
}
