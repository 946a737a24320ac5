// Package config holds the broker's typed configuration: defaults, loading
// from a TOML file, STROM_* environment variables and flags, and validation.
// A zero-config start (Default()) is a working single-node broker.
//
// Layers apply in this order, later ones winning: Default(), the TOML file
// (Load), the environment (ApplyEnv), then command-line flags (set by the
// caller on the returned struct). Validate runs last, on the merged result.
//
// Concurrency: a Config is a plain value; nothing here keeps state or starts
// goroutines, so every function is safe to call from any goroutine.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Config is the whole node configuration. Field names follow the TOML keys.
type Config struct {
	NodeID            int32  `toml:"node_id"`
	Listen            string `toml:"listen"`    // Kafka listener host:port
	Advertise         string `toml:"advertise"` // host:port clients connect to; default Listen
	DataDir           string `toml:"data_dir"`
	LogLevel          string `toml:"log_level"`
	LogFormat         string `toml:"log_format"` // text or json
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
	// ConnMaxReauth is the longest a SASL authentication holds before the
	// client must re-authenticate (connections.max.reauth.ms, KIP-368);
	// 0, the default, never expires a session.
	ConnMaxReauth time.Duration `toml:"connections_max_reauth"`
	// Connection limits (Kafka's max.connections, max.connections.per.ip,
	// max.connections.per.ip.overrides): over the per-IP limit a new
	// connection is closed at once; at the broker-wide limit the listeners
	// stop accepting until a connection closes (the replication listener
	// is exempt). 2147483647, the default, is unlimited.
	MaxConnections               int32  `toml:"max_connections"`
	MaxConnectionsPerIP          int32  `toml:"max_connections_per_ip"`
	MaxConnectionsPerIPOverrides string `toml:"max_connections_per_ip_overrides"` // "host:count,host:count"
	// MaxConnectionCreationRate bounds new connections per second across
	// the Kafka listeners (max.connection.creation.rate, KIP-612): the
	// listeners wait before accepting more. The replication listener is
	// exempt. 2147483647, the default, is unlimited.
	MaxConnectionCreationRate int32 `toml:"max_connection_creation_rate"`
	// ConnFailedAuthDelay delays the answer to a failed SASL
	// authentication, and the close after it
	// (connection.failed.authentication.delay.ms).
	ConnFailedAuthDelay time.Duration `toml:"connection_failed_authentication_delay"`

	// ReplicaLagTimeMax is how long a follower may stay behind the leader's
	// log end before the leader removes it from the ISR (replica.lag.time.max.ms).
	ReplicaLagTimeMax time.Duration `toml:"replica_lag_time_max"`

	// Consumer groups (Kafka's offsets.* and group.* broker settings).
	OffsetsTopicPartitions     int32         `toml:"offsets_topic_partitions"`      // offsets.topic.num.partitions
	OffsetsRetention           time.Duration `toml:"offsets_retention"`             // offsets.retention.minutes
	GroupInitialRebalanceDelay time.Duration `toml:"group_initial_rebalance_delay"` // group.initial.rebalance.delay.ms
	GroupMinSessionTimeout     time.Duration `toml:"group_min_session_timeout"`     // group.min.session.timeout.ms
	GroupMaxSessionTimeout     time.Duration `toml:"group_max_session_timeout"`     // group.max.session.timeout.ms
	GroupMaxSize               int32         `toml:"group_max_size"`                // group.max.size
	// KIP-848 consumer groups (Kafka's group.consumer.* settings).
	ConsumerGroupHeartbeatInterval time.Duration `toml:"consumer_group_heartbeat_interval"` // group.consumer.heartbeat.interval.ms
	ConsumerGroupSessionTimeout    time.Duration `toml:"consumer_group_session_timeout"`    // group.consumer.session.timeout.ms
	ConsumerGroupMaxSize           int32         `toml:"consumer_group_max_size"`           // group.consumer.max.size
	ConsumerGroupAssignor          string        `toml:"consumer_group_assignor"`           // first of group.consumer.assignors: uniform or range
	// Transactions (Kafka's transaction.* settings).
	TransactionStatePartitions int32         `toml:"transaction_state_partitions"` // transaction.state.log.num.partitions
	TransactionMaxTimeout      time.Duration `toml:"transaction_max_timeout"`      // transaction.max.timeout.ms
	TransactionalIDExpiration  time.Duration `toml:"transactional_id_expiration"`  // transactional.id.expiration.ms
	// TransactionAbortInterval is how often timed-out transactions are
	// aborted (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	TransactionAbortInterval time.Duration `toml:"transaction_abort_interval"`
	// TransactionPartitionVerification: a partition leader checks with the
	// transaction coordinator before it appends the first batch of a
	// transaction (KIP-890; transaction.partition.verification.enable).
	TransactionPartitionVerification bool `toml:"transaction_partition_verification_enable"`
	// ProducerIDExpiration: a producer id a partition saw no write or
	// marker of for this long is forgotten by that partition, unless it
	// has a transaction open there (producer.id.expiration.ms, KIP-854;
	// also a dynamic cluster-wide broker config).
	ProducerIDExpiration time.Duration `toml:"producer_id_expiration"`
	// ProducerIDExpirationCheckInterval is how often partitions look for
	// expired producer ids (producer.id.expiration.check.interval.ms).
	ProducerIDExpirationCheckInterval time.Duration `toml:"producer_id_expiration_check_interval"`
	// Client quotas measure rates over QuotaWindowNum samples of
	// QuotaWindowSize each (quota.window.num, quota.window.size.seconds).
	QuotaWindowNum  int           `toml:"quota_window_num"`
	QuotaWindowSize time.Duration `toml:"quota_window_size"`
	// Kafka's defaults that cannot be set yet (no TOML key, no variable).
	OffsetsRetentionCheckInterval time.Duration `toml:"-"` // offsets.retention.check.interval.ms
	OffsetMetadataMaxBytes        int           `toml:"-"` // offset.metadata.max.bytes

	// Log holds the broker-wide topic config defaults (Kafka's log.* keys).
	Log LogDefaults `toml:"log"`

	// Metadata tunes the cluster-mode metadata log (Kafka's metadata.log.*
	// keys).
	Metadata MetadataLog `toml:"metadata"`

	// SoftwareVersion is this binary's version, registered with the
	// broker (set by the serve command, never from a file).
	SoftwareVersion string `toml:"-"`

	// Admin is the HTTP listener for metrics, health, profiles and the
	// console.
	Admin Admin `toml:"admin"`

	// Node and Peers describe the cluster shape. Load copies
	// Node.Addresses.Kafka into Listen and Node.Advertise.Kafka into
	// Advertise, after which Listen and Advertise are authoritative for the
	// Kafka listener (env and flags override them, not the Node fields).
	Node  Node   `toml:"node"`
	Peers []Peer `toml:"peers"`

	// Listeners are the named Kafka listeners ([[listeners]], file only);
	// empty means one PLAINTEXT listener on Listen. Load sets Listen and
	// Advertise from the first.
	Listeners []Listener `toml:"listeners"`
	// InterBrokerListener names the [[listeners]] entry other nodes dial
	// for Kafka-protocol traffic between brokers (follower fetches,
	// WriteTxnMarkers, transaction verification), Kafka's
	// inter.broker.listener.name; empty: the replication listener (wal).
	InterBrokerListener string `toml:"inter_broker_listener"`
	// TLS is the certificate of the SSL and SASL_SSL listeners.
	TLS TLS `toml:"tls"`
	// SASL holds the bootstrap users ([[sasl.users]], file only).
	SASL SASL `toml:"sasl"`
	// Authorization is the authorizer ([authorization]).
	Authorization Authorization `toml:"authorization"`
}

// Node holds this node's listeners for each protocol it speaks.
type Node struct {
	// Addresses are the local bind addresses ([node.addresses]).
	Addresses Endpoints `toml:"addresses"`
	// Advertise are the addresses other nodes and clients dial
	// ([node.advertise]); an empty one defaults to the bind address.
	Advertise Endpoints `toml:"advertise"`
}

// Endpoints is one host:port per protocol.
type Endpoints struct {
	Kafka       string `toml:"kafka"` // Kafka protocol listener
	Replication string `toml:"wal"`   // replication listener
	Raft        string `toml:"raft"`  // cluster-metadata Raft transport
}

// Peer is one cluster member as every node must see it: its stable id and
// its advertised addresses. The list includes this node itself.
type Peer struct {
	ID          int32  `toml:"id"`
	Kafka       string `toml:"kafka"`
	Replication string `toml:"wal"`
	Raft        string `toml:"raft"`
}

// Admin configures the admin HTTP listener ([admin]).
type Admin struct {
	// Address is host:port to serve on; empty turns the listener off.
	Address string `toml:"address"`
	// PartitionMetrics exports per-partition series (log size, offsets,
	// lag); off keeps the series count independent of the partition count.
	PartitionMetrics bool `toml:"partition_metrics"`
	// MetricsUsername and MetricsPasswordFile, when both are set, guard
	// /metrics with HTTP basic authentication.
	MetricsUsername     string `toml:"metrics_username"`
	MetricsPasswordFile string `toml:"metrics_password_file"`
}

// MetadataLog tunes the Raft log that holds the cluster metadata. Snapshots
// bound the log's length and a restarted node's replay; they do not change
// what a node may do at start-up (it acts only on an image proven current).
type MetadataLog struct {
	// SnapshotThreshold is how many entries may accumulate after the last
	// snapshot before the next is taken (Kafka counts bytes instead:
	// metadata.log.max.record.bytes.between.snapshots).
	SnapshotThreshold int64 `toml:"snapshot_threshold"`
	// SnapshotInterval is how often the threshold is checked (Kafka's
	// metadata.log.max.snapshot.interval.ms bounds time between snapshots).
	SnapshotInterval time.Duration `toml:"snapshot_interval"`
	// TrailingLogs is how many entries are kept after a snapshot, so a
	// follower a little behind catches up from the log, not a snapshot.
	TrailingLogs int64 `toml:"trailing_logs"`
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

	// Kafka's defaults that cannot be set yet (no TOML key, no variable).
	DeleteRetentionMs      int64         `toml:"-"` // delete.retention.ms (log.cleaner.delete.retention.ms)
	MinCleanableDirtyRatio float64       `toml:"-"` // min.cleanable.dirty.ratio (log.cleaner.min.cleanable.ratio)
	SegmentIndexBytes      int32         `toml:"-"` // segment.index.bytes (log.index.size.max.bytes)
	CleanerBackoff         time.Duration `toml:"-"` // log.cleaner.backoff.ms: least time between compactions of a log

	MessageTimestampBeforeMaxMs int64 `toml:"-"` // message.timestamp.before.max.ms (log.message.timestamp.before.max.ms)
	MessageTimestampAfterMaxMs  int64 `toml:"-"` // message.timestamp.after.max.ms (log.message.timestamp.after.max.ms)
	MinCompactionLagMs          int64 `toml:"-"` // min.compaction.lag.ms (log.cleaner.min.compaction.lag.ms)
	MaxCompactionLagMs          int64 `toml:"-"` // max.compaction.lag.ms (log.cleaner.max.compaction.lag.ms)
}

// Default returns the zero-config single-node broker. It is the one place
// Kafka's defaults are written down: storage, partition and group take
// theirs from it.
func Default() Config {
	return Config{
		NodeID:                   1,
		Listen:                   "127.0.0.1:9092",
		DataDir:                  "./strom-data",
		LogLevel:                 "info",
		LogFormat:                "text",
		Admin:                    Admin{Address: "127.0.0.1:9644", PartitionMetrics: true},
		AutoCreateTopics:         true,
		DefaultPartitions:        1,
		DefaultReplicationFactor: 1,
		SocketRequestMaxBytes:    100 * 1024 * 1024,
		MaxInFlightPerConn:       128,
		ConnMaxIdle:              10 * time.Minute,

		MaxConnections:            Unlimited,
		MaxConnectionsPerIP:       Unlimited,
		MaxConnectionCreationRate: Unlimited,
		ConnFailedAuthDelay:       100 * time.Millisecond,

		ReplicaLagTimeMax:          10 * time.Second,
		OffsetsTopicPartitions:     50,
		OffsetsRetention:           7 * 24 * time.Hour,
		GroupInitialRebalanceDelay: 3 * time.Second,
		GroupMinSessionTimeout:     6 * time.Second,
		GroupMaxSessionTimeout:     30 * time.Minute,
		GroupMaxSize:               2147483647,

		ConsumerGroupHeartbeatInterval:    5 * time.Second,
		ConsumerGroupSessionTimeout:       45 * time.Second,
		ConsumerGroupMaxSize:              2147483647,
		ConsumerGroupAssignor:             "uniform",
		OffsetsRetentionCheckInterval:     10 * time.Minute,
		TransactionStatePartitions:        50,
		TransactionMaxTimeout:             15 * time.Minute,
		TransactionalIDExpiration:         7 * 24 * time.Hour,
		TransactionAbortInterval:          10 * time.Second,
		TransactionPartitionVerification:  true,
		QuotaWindowNum:                    11,
		QuotaWindowSize:                   time.Second,
		ProducerIDExpiration:              24 * time.Hour,
		ProducerIDExpirationCheckInterval: 10 * time.Minute,
		OffsetMetadataMaxBytes:            4096,
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
			DeleteRetentionMs:      24 * 3600 * 1000,
			MinCleanableDirtyRatio: 0.5,
			SegmentIndexBytes:      10 << 20,
			CleanerBackoff:         15 * time.Second,
			// Kafka 4's defaults: any age, at most an hour ahead (KIP-937).
			MessageTimestampBeforeMaxMs: 9223372036854775807,
			MessageTimestampAfterMaxMs:  3600000,
			MinCompactionLagMs:          0,
			MaxCompactionLagMs:          9223372036854775807,
		},
		TLS: TLS{ClientAuth: "none"},
		// Kafka's sasl.oauthbearer.* defaults.
		SASL: SASL{OAuthBearer: OAuthBearer{JWKSRefresh: time.Hour, SubClaim: "sub", ScopeClaim: "scope", ClockSkew: 30 * time.Second}},
		Metadata: MetadataLog{
			SnapshotThreshold: 4096,
			SnapshotInterval:  2 * time.Minute,
			TrailingLogs:      10240,
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

// SlogLevel returns LogLevel as a slog level; Validate has checked it.
func (c Config) SlogLevel() slog.Level {
	l, _ := ParseLogLevel(c.LogLevel)
	return l
}

// ParseLogLevel accepts debug, info, warn (or warning) and error, in any case.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
}

// Validate refuses configurations that would hand clients an address they
// cannot connect to, or that have no sensible meaning.
func (c Config) Validate() error {
	listenKey, advKey := c.kafkaKeys()
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", listenKey, c.Listen, err)
	}
	host, port, err := net.SplitHostPort(c.AdvertisedAddr())
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", advKey, c.AdvertisedAddr(), err)
	}
	if !connectableHost(host) {
		return fmt.Errorf("%s: %q is not an address clients can connect to; set advertise (--advertise, STROM_ADVERTISE or node.advertise.kafka) to a reachable host:port", advKey, c.AdvertisedAddr())
	}
	if port == "0" && c.Advertise != "" {
		return fmt.Errorf("%s: port 0 is not connectable", advKey)
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format: must be text or json, got %q", c.LogFormat)
	}
	if c.Admin.Address != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Address); err != nil {
			return fmt.Errorf("admin.address: %q is not host:port: %w", c.Admin.Address, err)
		}
	}
	if (c.Admin.MetricsUsername == "") != (c.Admin.MetricsPasswordFile == "") {
		return fmt.Errorf("admin.metrics_username and admin.metrics_password_file: set both or neither")
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
	if c.DefaultReplicationFactor < 1 {
		return fmt.Errorf("default_replication_factor: must be >= 1, got %d", c.DefaultReplicationFactor)
	}
	if c.ConnMaxIdle <= 0 {
		return fmt.Errorf("connections_max_idle: must be > 0, got %s", c.ConnMaxIdle)
	}
	if c.QuotaWindowNum < 2 || c.QuotaWindowSize < time.Millisecond {
		return fmt.Errorf("quota_window_num must be >= 2 and quota_window_size >= 1ms, got %d and %s", c.QuotaWindowNum, c.QuotaWindowSize)
	}
	if c.ConnMaxReauth < 0 {
		return fmt.Errorf("connections_max_reauth: must be >= 0, got %s", c.ConnMaxReauth)
	}
	if err := c.validateConnLimits(); err != nil {
		return err
	}
	if c.ReplicaLagTimeMax <= 0 {
		return fmt.Errorf("replica_lag_time_max: must be > 0, got %s", c.ReplicaLagTimeMax)
	}
	if err := c.validateGroups(); err != nil {
		return err
	}
	if c.Log.RetentionCheckInterval <= 0 {
		return fmt.Errorf("log.retention_check_interval: must be > 0")
	}
	if err := c.Metadata.validate(); err != nil {
		return err
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	return c.validateCluster()
}

// kafkaKeys names the keys that set Listen and Advertise, so errors point at
// what the operator wrote: the cluster shape's [node.*] kafka entries when
// they supplied the value, the top-level keys otherwise.
func (c Config) kafkaKeys() (listenKey, advKey string) {
	listenKey, advKey = "listen", "advertise"
	fromNode := c.Node.Addresses.Kafka != "" && c.Node.Addresses.Kafka == c.Listen
	if fromNode {
		listenKey = "node.addresses.kafka"
	}
	if (c.Node.Advertise.Kafka != "" && c.Node.Advertise.Kafka == c.Advertise) || (c.Advertise == "" && fromNode) {
		advKey = "node.advertise.kafka"
	}
	return listenKey, advKey
}

// connectableHost reports whether a client could dial host: not empty and
// not a wildcard bind address.
func connectableHost(host string) bool {
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return false
	}
	return true
}

// validateGroups checks the consumer-group settings.
func (c Config) validateGroups() error {
	switch {
	case c.OffsetsTopicPartitions < 1:
		return fmt.Errorf("offsets_topic_partitions: must be >= 1, got %d", c.OffsetsTopicPartitions)
	case c.OffsetsRetention <= 0:
		return fmt.Errorf("offsets_retention: must be > 0, got %s", c.OffsetsRetention)
	case c.TransactionStatePartitions < 1:
		return fmt.Errorf("transaction_state_partitions: must be >= 1, got %d", c.TransactionStatePartitions)
	case c.TransactionMaxTimeout <= 0 || c.TransactionalIDExpiration <= 0 || c.TransactionAbortInterval <= 0:
		return fmt.Errorf("transaction_max_timeout %s, transactional_id_expiration %s, transaction_abort_interval %s: must be > 0",
			c.TransactionMaxTimeout, c.TransactionalIDExpiration, c.TransactionAbortInterval)
	case c.ProducerIDExpiration < time.Millisecond || c.ProducerIDExpirationCheckInterval < time.Millisecond:
		return fmt.Errorf("producer_id_expiration %s, producer_id_expiration_check_interval %s: must be >= 1ms",
			c.ProducerIDExpiration, c.ProducerIDExpirationCheckInterval)
	case c.GroupInitialRebalanceDelay < 0:
		return fmt.Errorf("group_initial_rebalance_delay: must be >= 0, got %s", c.GroupInitialRebalanceDelay)
	case c.GroupMinSessionTimeout <= 0 || c.GroupMaxSessionTimeout < c.GroupMinSessionTimeout:
		return fmt.Errorf("group_min_session_timeout %s and group_max_session_timeout %s: want 0 < min <= max", c.GroupMinSessionTimeout, c.GroupMaxSessionTimeout)
	case c.GroupMaxSize < 1:
		return fmt.Errorf("group_max_size: must be >= 1, got %d", c.GroupMaxSize)
	case c.ConsumerGroupHeartbeatInterval <= 0 || c.ConsumerGroupSessionTimeout <= c.ConsumerGroupHeartbeatInterval:
		return fmt.Errorf("consumer_group_heartbeat_interval %s and consumer_group_session_timeout %s: want 0 < interval < session", c.ConsumerGroupHeartbeatInterval, c.ConsumerGroupSessionTimeout)
	case c.ConsumerGroupMaxSize < 1:
		return fmt.Errorf("consumer_group_max_size: must be >= 1, got %d", c.ConsumerGroupMaxSize)
	case c.ConsumerGroupAssignor != "uniform" && c.ConsumerGroupAssignor != "range":
		return fmt.Errorf("consumer_group_assignor: must be uniform or range, got %q", c.ConsumerGroupAssignor)
	}
	return nil
}

func (m MetadataLog) validate() error {
	switch {
	case m.SnapshotThreshold < 1:
		return fmt.Errorf("metadata.snapshot_threshold: must be >= 1, got %d", m.SnapshotThreshold)
	case m.SnapshotInterval < 10*time.Millisecond:
		return fmt.Errorf("metadata.snapshot_interval: must be >= 10ms, got %s", m.SnapshotInterval)
	case m.TrailingLogs < 1:
		return fmt.Errorf("metadata.trailing_logs: must be >= 1, got %d", m.TrailingLogs)
	}
	return nil
}
