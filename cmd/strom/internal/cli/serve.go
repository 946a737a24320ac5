package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strom-broker/strom/internal/config"
)

// shutdownTimeout bounds the drain on SIGINT/SIGTERM; a broker that has not
// stopped shutdownGrace later is abandoned and the process exits (the data
// is synced as it is written, so the next start recovers the tail; the
// kernel releases the directory locks with the process).
var (
	shutdownTimeout = 30 * time.Second
	shutdownGrace   = 5 * time.Second
)

// serveFlags are serve's flags; each overrides the same config key only
// when given on the command line.
type serveFlags struct {
	configPath                                               string
	listen, advertise                                        string
	dataDir, logLevel                                        string
	logFormat, adminAddr                                     string
	nodeID                                                   int32
	autoCreateTopics                                         bool
	defaultPartitions                                        int32
	socketRequestMaxBytes                                    int32
	tlsCertFile, tlsKeyFile, tlsClientCAFile, tlsClientAuth  string
	maxConns, maxConnsPerIP, maxConnRate                     int32
	maxConnsPerIPOverrides                                   string
	connFailedAuthDelay                                      time.Duration
	tlsPrincipalMappingRules                                 string
	tlsNodeCertFile, tlsNodeKeyFile, tlsCAFile, tlsInternode string
	interBrokerListener                                      string
	oauth                                                    config.OAuthBearer
}

func newServeCmd(d Deps) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a broker. Settings come from, highest precedence first: flags,
STROM_* environment variables (STROM_LISTEN, STROM_DATA_DIR, ...: one per
config key, upper-cased, [log] keys as STROM_LOG_<KEY>), the TOML file given
by --config or STROM_CONFIG, and built-in defaults. With no settings at all
it is a working single-node broker on 127.0.0.1:9092.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := buildServeConfig(cmd.Flags(), &f, d.LookupEnv)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, d.NewBroker, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	def := config.Default()
	fl.StringVar(&f.configPath, "config", "", "TOML config file (default $"+config.EnvConfigFile+")")
	fl.StringVar(&f.listen, "listen", def.Listen, "Kafka listener host:port")
	fl.StringVar(&f.advertise, "advertise", "", "host:port clients connect to (default: the listen address)")
	fl.StringVar(&f.dataDir, "data-dir", def.DataDir, "data directory")
	fl.Int32Var(&f.nodeID, "node-id", def.NodeID, "node id")
	fl.StringVar(&f.logLevel, "log-level", def.LogLevel, "log level: debug, info, warn, error")
	fl.StringVar(&f.logFormat, "log-format", def.LogFormat, "log format: text or json")
	fl.StringVar(&f.adminAddr, "admin-listen", def.Admin.Address, `admin HTTP listener host:port for /metrics, /healthz, /readyz ("" turns it off)`)
	fl.BoolVar(&f.autoCreateTopics, "auto-create-topics", def.AutoCreateTopics, "create unknown topics on metadata and produce requests")
	fl.Int32Var(&f.defaultPartitions, "default-partitions", def.DefaultPartitions, "partitions of auto-created topics")
	fl.Int32Var(&f.socketRequestMaxBytes, "socket-request-max-bytes", def.SocketRequestMaxBytes, "largest request frame accepted")
	fl.StringVar(&f.tlsCertFile, "tls-cert-file", "", "PEM certificate of the SSL and SASL_SSL listeners")
	fl.StringVar(&f.tlsKeyFile, "tls-key-file", "", "PEM private key of the SSL and SASL_SSL listeners")
	fl.StringVar(&f.tlsClientCAFile, "tls-client-ca-file", "", "PEM CA certificates client certificates are checked against")
	fl.StringVar(&f.tlsClientAuth, "tls-client-auth", def.TLS.ClientAuth, "client certificates: none, requested or required")
	fl.Int32Var(&f.maxConns, "max-connections", def.MaxConnections, "connections the broker accepts (max.connections); at the limit it stops accepting until one closes")
	fl.Int32Var(&f.maxConnsPerIP, "max-connections-per-ip", def.MaxConnectionsPerIP, "connections from one IP address (max.connections.per.ip); over it a new connection is closed")
	fl.Int32Var(&f.maxConnRate, "max-connection-creation-rate", def.MaxConnectionCreationRate, "new connections per second the listeners accept (max.connection.creation.rate)")
	fl.StringVar(&f.maxConnsPerIPOverrides, "max-connections-per-ip-overrides", "", `per-host limits, "host:count,host:count" (max.connections.per.ip.overrides)`)
	fl.DurationVar(&f.connFailedAuthDelay, "connection-failed-authentication-delay", def.ConnFailedAuthDelay, "delay of the answer to a failed SASL authentication and the close after it")
	fl.StringVar(&f.tlsPrincipalMappingRules, "tls-principal-mapping-rules", "", "client certificate subject to principal: RULE:pattern/replacement/[LU],...,DEFAULT")
	fl.StringVar(&f.tlsNodeCertFile, "tls-node-cert-file", "", "PEM certificate this node presents to the other nodes (default --tls-cert-file)")
	fl.StringVar(&f.tlsNodeKeyFile, "tls-node-key-file", "", "PEM private key of the node certificate (default --tls-key-file)")
	fl.StringVar(&f.tlsCAFile, "tls-ca-file", "", "PEM CA certificates that sign node certificates; in a cluster it turns on TLS between nodes")
	fl.StringVar(&f.tlsInternode, "tls-internode", "", `TLS between nodes: "tls" or "plaintext" (default tls when --tls-ca-file is set)`)
	fl.StringVar(&f.interBrokerListener, "inter-broker-listener", "", "listener other nodes dial for follower fetches and transaction markers (inter.broker.listener.name; default the replication listener)")
	oa := def.SASL.OAuthBearer
	fl.StringVar(&f.oauth.JWKSFile, "sasl-oauthbearer-jwks-file", "", "JWKS file OAUTHBEARER tokens are verified against")
	fl.StringVar(&f.oauth.JWKSURL, "sasl-oauthbearer-jwks-url", "", "JWKS URL OAUTHBEARER tokens are verified against")
	fl.StringVar(&f.oauth.JWKSCAFile, "sasl-oauthbearer-jwks-ca-file", "", "PEM CAs an https JWKS URL is verified against")
	fl.DurationVar(&f.oauth.JWKSRefresh, "sasl-oauthbearer-jwks-refresh", oa.JWKSRefresh, "how often the JWKS URL is fetched again")
	fl.StringVar(&f.oauth.Issuer, "sasl-oauthbearer-issuer", "", "iss an OAUTHBEARER token must carry")
	fl.StringVar(&f.oauth.Audience, "sasl-oauthbearer-audience", "", "comma-separated audiences, one of which an OAUTHBEARER token's aud must name")
	fl.StringVar(&f.oauth.SubClaim, "sasl-oauthbearer-sub-claim", oa.SubClaim, "claim an OAUTHBEARER principal comes from")
	fl.StringVar(&f.oauth.ScopeClaim, "sasl-oauthbearer-scope-claim", oa.ScopeClaim, "scope claim of OAUTHBEARER tokens")
	fl.DurationVar(&f.oauth.ClockSkew, "sasl-oauthbearer-clock-skew", oa.ClockSkew, "tolerance on OAUTHBEARER exp, nbf and iat")
	fl.BoolVar(&f.oauth.Unsecured, "sasl-oauthbearer-unsecured", false, "accept unsigned OAUTHBEARER tokens (Kafka's unsecured validator; development only)")
	return cmd
}

// buildServeConfig merges defaults, file, env and the flags that were set,
// makes the data directory absolute, and validates the result.
func buildServeConfig(fl *pflag.FlagSet, f *serveFlags, lookup func(string) (string, bool)) (config.Config, error) {
	path := f.configPath
	if !fl.Changed("config") {
		path, _ = lookup(config.EnvConfigFile)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	if err := cfg.ApplyEnv(lookup); err != nil {
		return cfg, err
	}
	set := func(name string, apply func()) {
		if fl.Changed(name) {
			apply()
		}
	}
	set("listen", func() { cfg.Listen = f.listen })
	set("advertise", func() { cfg.Advertise = f.advertise })
	set("data-dir", func() { cfg.DataDir = f.dataDir })
	set("node-id", func() { cfg.NodeID = f.nodeID })
	set("log-level", func() { cfg.LogLevel = f.logLevel })
	set("log-format", func() { cfg.LogFormat = f.logFormat })
	set("admin-listen", func() { cfg.Admin.Address = f.adminAddr })
	set("auto-create-topics", func() { cfg.AutoCreateTopics = f.autoCreateTopics })
	set("default-partitions", func() { cfg.DefaultPartitions = f.defaultPartitions })
	set("socket-request-max-bytes", func() { cfg.SocketRequestMaxBytes = f.socketRequestMaxBytes })
	set("tls-cert-file", func() { cfg.TLS.CertFile = f.tlsCertFile })
	set("tls-key-file", func() { cfg.TLS.KeyFile = f.tlsKeyFile })
	set("tls-client-ca-file", func() { cfg.TLS.ClientCAFile = f.tlsClientCAFile })
	set("tls-client-auth", func() { cfg.TLS.ClientAuth = f.tlsClientAuth })
	set("max-connections", func() { cfg.MaxConnections = f.maxConns })
	set("max-connections-per-ip", func() { cfg.MaxConnectionsPerIP = f.maxConnsPerIP })
	set("max-connection-creation-rate", func() { cfg.MaxConnectionCreationRate = f.maxConnRate })
	set("max-connections-per-ip-overrides", func() { cfg.MaxConnectionsPerIPOverrides = f.maxConnsPerIPOverrides })
	set("connection-failed-authentication-delay", func() { cfg.ConnFailedAuthDelay = f.connFailedAuthDelay })
	set("tls-principal-mapping-rules", func() { cfg.TLS.PrincipalMappingRules = f.tlsPrincipalMappingRules })
	set("tls-node-cert-file", func() { cfg.TLS.NodeCertFile = f.tlsNodeCertFile })
	set("tls-node-key-file", func() { cfg.TLS.NodeKeyFile = f.tlsNodeKeyFile })
	set("tls-ca-file", func() { cfg.TLS.CAFile = f.tlsCAFile })
	set("tls-internode", func() { cfg.TLS.Internode = f.tlsInternode })
	set("inter-broker-listener", func() { cfg.InterBrokerListener = f.interBrokerListener })
	set("sasl-oauthbearer-jwks-file", func() { cfg.SASL.OAuthBearer.JWKSFile = f.oauth.JWKSFile })
	set("sasl-oauthbearer-jwks-url", func() { cfg.SASL.OAuthBearer.JWKSURL = f.oauth.JWKSURL })
	set("sasl-oauthbearer-jwks-ca-file", func() { cfg.SASL.OAuthBearer.JWKSCAFile = f.oauth.JWKSCAFile })
	set("sasl-oauthbearer-jwks-refresh", func() { cfg.SASL.OAuthBearer.JWKSRefresh = f.oauth.JWKSRefresh })
	set("sasl-oauthbearer-issuer", func() { cfg.SASL.OAuthBearer.Issuer = f.oauth.Issuer })
	set("sasl-oauthbearer-audience", func() { cfg.SASL.OAuthBearer.Audience = f.oauth.Audience })
	set("sasl-oauthbearer-sub-claim", func() { cfg.SASL.OAuthBearer.SubClaim = f.oauth.SubClaim })
	set("sasl-oauthbearer-scope-claim", func() { cfg.SASL.OAuthBearer.ScopeClaim = f.oauth.ScopeClaim })
	set("sasl-oauthbearer-clock-skew", func() { cfg.SASL.OAuthBearer.ClockSkew = f.oauth.ClockSkew })
	set("sasl-oauthbearer-unsecured", func() { cfg.SASL.OAuthBearer.Unsecured = f.oauth.Unsecured })
	if cfg.DataDir != "" {
		abs, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return cfg, fmt.Errorf("data_dir: %w", err)
		}
		cfg.DataDir = abs
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid config: %w", err)
	}
	return cfg, nil
}

// serve runs the broker until ctx ends or SIGINT/SIGTERM arrives, then
// shuts it down within shutdownTimeout.
func serve(ctx context.Context, cfg config.Config, newBroker BrokerFactory, out, errOut io.Writer) error {
	if newBroker == nil {
		return errors.New("serve: no broker linked into this binary")
	}
	logger := NewLogger(cfg, errOut)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg.SoftwareVersion = Version
	b, err := newBroker(cfg, logger)
	if err != nil {
		return fmt.Errorf("serve: open broker: %w", err)
	}
	if err := b.Start(ctx); err != nil {
		return errors.Join(fmt.Errorf("serve: start: %w", err), shutdownWithin(b, logger))
	}
	addr := b.Addr().String()
	adv := cfg.Advertise
	if adv == "" {
		adv = addr
	}
	fmt.Fprintf(out, "strom: listening on %s (advertised %s), data in %s\n", addr, adv, cfg.DataDir)
	if a, ok := b.(interface{ AdminURL() string }); ok && a.AdminURL() != "" {
		fmt.Fprintf(out, "strom: console on %s (and /metrics, /healthz, /readyz)\n", a.AdminURL())
	}

	<-ctx.Done()
	stop() // a second signal now kills the process the default way
	logger.Info("shutting down", "timeout", shutdownTimeout)
	if err := shutdownWithin(b, logger); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// NewLogger is the node's logger: text or JSON lines on w at the
// configured level, each with the node's id.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("node_id", cfg.NodeID)
}

// shutdownWithin stops b, giving up shutdownGrace after shutdownTimeout if
// some part of it ignores the deadline: a node always stops in bounded time.
func shutdownWithin(b Broker, logger *slog.Logger) error {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Shutdown(sctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(shutdownTimeout + shutdownGrace):
		// What it was stuck on, for the bug report.
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		logger.Error("broker did not stop in time; exiting without a clean shutdown",
			"timeout", shutdownTimeout+shutdownGrace, "goroutines", stacks.String())
		return fmt.Errorf("did not stop within %v", shutdownTimeout+shutdownGrace)
	}
}
