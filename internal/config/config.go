// Package config holds the broker's typed configuration: defaults, loading
// from a TOML file, STROM_* environment variables and flags, and validation.
// A zero-config start (Default()) is a working single-node broker.
package config

import (
	"fmt"
	"net"
	"time"
)

// Config is the whole node configuration. Field names follow the TOML keys.
type Config struct {
	NodeID            int32  `toml:"node_id"`
	Listen            string `toml:"listen"`    // Kafka listener host:port
	Advertise         string `toml:"advertise"` // host:port clients connect to; default Listen
	DataDir           string `toml:"data_dir"`
	LogLevel          string `toml:"log_level"`
	AutoCreateTopics  bool   `toml:"auto_create_topics"`
	DefaultPartitions int32  `toml:"default_partitions"`
	// DefaultReplicationFactor is used by auto-create and by CreateTopics
	// requests that pass -1.
	DefaultReplicationFactor int16 `toml:"default_replication_factor"`

	// SocketRequestMaxBytes caps one request frame (socket.request.max.bytes).
	SocketRequestMaxBytes int32 `toml:"socket_request_max_bytes"`
	// MaxInFlightPerConn bounds pipelined requests per connection.
	MaxInFlightPerConn int `toml:"max_in_flight_per_conn"`
	// ConnMaxIdle closes connections idle this long (connections.max.idle.ms).
	ConnMaxIdle time.Duration `toml:"connections_max_idle"`

	// Log holds the broker-wide topic config defaults (Kafka's log.* keys).
	Log LogDefaults `toml:"log"`
}

// LogDefaults are broker-level defaults for topic configs. Each maps to the
// Kafka topic config named in its comment.
type LogDefaults struct {
	SegmentBytes           int64         `toml:"segment_bytes"`            // segment.bytes
	SegmentMs              int64         `toml:"segment_ms"`               // segment.ms
	RetentionMs            int64         `toml:"retention_ms"`             // retention.ms (-1 = forever)
	RetentionBytes         int64         `toml:"retention_bytes"`          // retention.bytes (-1 = unlimited)
	MaxMessageBytes        int32         `toml:"max_message_bytes"`        // max.message.bytes
	FlushMessages          int64         `toml:"flush_messages"`           // flush.messages
	FlushMs                int64         `toml:"flush_ms"`                 // flush.ms
	CleanupPolicy          string        `toml:"cleanup_policy"`           // cleanup.policy
	MessageTimestampType   string        `toml:"message_timestamp_type"`   // message.timestamp.type
	MinInsyncReplicas      int32         `toml:"min_insync_replicas"`      // min.insync.replicas
	IndexIntervalBytes     int32         `toml:"index_interval_bytes"`     // index.interval.bytes
	RetentionCheckInterval time.Duration `toml:"retention_check_interval"` // log.retention.check.interval.ms
}

// Default returns the zero-config single-node broker.
func Default() Config {
	return Config{
		NodeID:                   1,
		Listen:                   "127.0.0.1:9092",
		DataDir:                  "./strom-data",
		LogLevel:                 "info",
		AutoCreateTopics:         true,
		DefaultPartitions:        1,
		DefaultReplicationFactor: 1,
		SocketRequestMaxBytes:    100 * 1024 * 1024,
		MaxInFlightPerConn:       128,
		ConnMaxIdle:              10 * time.Minute,
		Log: LogDefaults{
			SegmentBytes:    1 << 30,
			SegmentMs:       7 * 24 * 3600 * 1000,
			RetentionMs:     7 * 24 * 3600 * 1000,
			RetentionBytes:  -1,
			MaxMessageBytes: 1048588,
			// Strom's default differs from Kafka's (Long.MAX_VALUE): every
			// acknowledged write is fdatasync'ed first, with group commit
			// so concurrent producers share one sync.
			FlushMessages:          1,
			FlushMs:                9223372036854775807,
			CleanupPolicy:          "delete",
			MessageTimestampType:   "CreateTime",
			MinInsyncReplicas:      1,
			IndexIntervalBytes:     4096,
			RetentionCheckInterval: 5 * time.Minute,
		},
	}
}

// AdvertisedAddr is the address put in Metadata and FindCoordinator answers.
func (c Config) AdvertisedAddr() string {
	if c.Advertise != "" {
		return c.Advertise
	}
	return c.Listen
}

// Validate refuses configurations that would hand clients an address they
// cannot connect to, or that have no sensible meaning.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port: %w", c.Listen, err)
	}
	host, port, err := net.SplitHostPort(c.AdvertisedAddr())
	if err != nil {
		return fmt.Errorf("advertise: %q is not host:port: %w", c.AdvertisedAddr(), err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return fmt.Errorf("advertise: %q is not an address clients can connect to; set --advertise to a reachable host:port", c.AdvertisedAddr())
	}
	if port == "0" && c.Advertise != "" {
		return fmt.Errorf("advertise: port 0 is not connectable")
	}
	if c.NodeID < 0 {
		return fmt.Errorf("node_id: must be >= 0, got %d", c.NodeID)
	}
	if c.DataDir == "" {
		return fmt.Errorf("data_dir: must not be empty")
	}
	if c.DefaultPartitions < 1 {
		return fmt.Errorf("default_partitions: must be >= 1, got %d", c.DefaultPartitions)
	}
	if c.SocketRequestMaxBytes < 1024 {
		return fmt.Errorf("socket_request_max_bytes: must be >= 1024, got %d", c.SocketRequestMaxBytes)
	}
	if c.MaxInFlightPerConn < 1 {
		return fmt.Errorf("max_in_flight_per_conn: must be >= 1")
	}
	if c.Log.RetentionCheckInterval <= 0 {
		return fmt.Errorf("log.retention_check_interval: must be > 0")
	}
	return nil
}
