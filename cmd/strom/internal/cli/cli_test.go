package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"

	"github.com/strom-broker/strom/internal/config"
)

func TestMain(m *testing.M) {
	// os/signal keeps one receiver goroutine for the life of the process
	// once any Notify has run.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("os/signal.signal_recv"),
		goleak.IgnoreTopFunction("os/signal.loop"))
}

// fakeBroker records what serve did and ends the run as soon as it starts.
type fakeBroker struct {
	cfg      config.Config
	startErr error
	started  bool
	shutdown bool
	stop     context.CancelFunc
}

func (f *fakeBroker) Start(context.Context) error {
	f.started = true
	if f.startErr == nil {
		f.stop() // as if SIGTERM arrived
	}
	return f.startErr
}

func (f *fakeBroker) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}
}

func (f *fakeBroker) Shutdown(context.Context) error { f.shutdown = true; return nil }

type run struct {
	out, errOut string
	err         error
	broker      *fakeBroker
}

// runServe executes `strom serve args...` with env as the whole
// environment and a fake broker.
func runServe(t *testing.T, env map[string]string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var fb *fakeBroker
	root := NewRoot(Deps{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		NewBroker: func(cfg config.Config, _ *slog.Logger) (Broker, error) {
			fb = &fakeBroker{cfg: cfg, stop: cancel}
			return fb, nil
		},
	})
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"serve"}, args...))
	err := root.ExecuteContext(ctx)
	return run{out: out.String(), errOut: errOut.String(), err: err, broker: fb}
}

func writeTOML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "strom.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServePrecedence(t *testing.T) {
	file := writeTOML(t, `
listen = "127.0.0.1:1001"
data_dir = "/file/data"
node_id = 5
log_level = "warn"
auto_create_topics = false
default_partitions = 2
socket_request_max_bytes = 4096
`)
	otherFile := writeTOML(t, `listen = "127.0.0.1:1999"`)
	for _, tc := range []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c config.Config)
	}{
		{"defaults", nil, nil, func(t *testing.T, c config.Config) {
			d := config.Default()
			wantDir, _ := filepath.Abs(d.DataDir)
			if c.Listen != d.Listen || c.DataDir != wantDir || c.NodeID != d.NodeID || c.LogLevel != d.LogLevel ||
				c.AutoCreateTopics != d.AutoCreateTopics || c.DefaultPartitions != d.DefaultPartitions {
				t.Errorf("got %+v, want defaults with absolute data dir %s", c, wantDir)
			}
		}},
		{"file over defaults", nil, []string{"--config", file}, func(t *testing.T, c config.Config) {
			if c.Listen != "127.0.0.1:1001" || c.DataDir != "/file/data" || c.NodeID != 5 || c.LogLevel != "warn" ||
				c.AutoCreateTopics || c.DefaultPartitions != 2 || c.SocketRequestMaxBytes != 4096 {
				t.Errorf("file not applied: %+v", c)
			}
		}},
		{"config path from env", map[string]string{"STROM_CONFIG": file}, nil, func(t *testing.T, c config.Config) {
			if c.Listen != "127.0.0.1:1001" {
				t.Errorf("STROM_CONFIG not read: listen %s", c.Listen)
			}
		}},
		{"--config over STROM_CONFIG", map[string]string{"STROM_CONFIG": file}, []string{"--config", otherFile}, func(t *testing.T, c config.Config) {
			if c.Listen != "127.0.0.1:1999" || c.NodeID != 1 {
				t.Errorf("--config did not win: %+v", c)
			}
		}},
		{"env over file", map[string]string{
			"STROM_LISTEN": "127.0.0.1:2002", "STROM_NODE_ID": "6", "STROM_AUTO_CREATE_TOPICS": "true",
			"STROM_DATA_DIR": "/env/data", "STROM_DEFAULT_PARTITIONS": "3", "STROM_LOG_LEVEL": "error",
			"STROM_SOCKET_REQUEST_MAX_BYTES": "8192", "STROM_ADVERTISE": "env-host:2002",
		}, []string{"--config", file}, func(t *testing.T, c config.Config) {
			if c.Listen != "127.0.0.1:2002" || c.NodeID != 6 || !c.AutoCreateTopics || c.DataDir != "/env/data" ||
				c.DefaultPartitions != 3 || c.LogLevel != "error" || c.SocketRequestMaxBytes != 8192 || c.Advertise != "env-host:2002" {
				t.Errorf("env did not win over file: %+v", c)
			}
		}},
		{"flags over env over file", map[string]string{
			"STROM_LISTEN": "127.0.0.1:2002", "STROM_NODE_ID": "6", "STROM_AUTO_CREATE_TOPICS": "true",
			"STROM_DATA_DIR": "/env/data", "STROM_DEFAULT_PARTITIONS": "3", "STROM_LOG_LEVEL": "error",
		}, []string{"--config", file, "--listen", "127.0.0.1:3003", "--advertise", "flag-host:3003", "--node-id", "7",
			"--auto-create-topics=false", "--data-dir", "/flag/data", "--default-partitions", "4", "--log-level", "debug",
			"--socket-request-max-bytes", "16384"},
			func(t *testing.T, c config.Config) {
				if c.Listen != "127.0.0.1:3003" || c.Advertise != "flag-host:3003" || c.NodeID != 7 || c.AutoCreateTopics ||
					c.DataDir != "/flag/data" || c.DefaultPartitions != 4 || c.LogLevel != "debug" || c.SocketRequestMaxBytes != 16384 {
					t.Errorf("flags did not win: %+v", c)
				}
			}},
		{"unset flags keep env", map[string]string{"STROM_NODE_ID": "6"}, []string{"--listen", "127.0.0.1:3003"}, func(t *testing.T, c config.Config) {
			if c.NodeID != 6 || c.Listen != "127.0.0.1:3003" {
				t.Errorf("flag defaults overrode env: %+v", c)
			}
		}},
		{"connection limit flags over env", map[string]string{"STROM_MAX_CONNECTIONS": "9", "STROM_MAX_CONNECTIONS_PER_IP": "8"},
			[]string{"--max-connections", "100", "--max-connections-per-ip-overrides", "127.0.0.2:1", "--connection-failed-authentication-delay", "1s", "--max-connection-creation-rate", "30"},
			func(t *testing.T, c config.Config) {
				if c.MaxConnections != 100 || c.MaxConnectionsPerIP != 8 || c.MaxConnectionsPerIPOverrides != "127.0.0.2:1" || c.ConnFailedAuthDelay != time.Second || c.MaxConnectionCreationRate != 30 {
					t.Errorf("connection limits: %+v", c)
				}
			}},
		{"security flags over env", map[string]string{"STROM_SASL_OAUTHBEARER_ISSUER": "https://env", "STROM_SASL_OAUTHBEARER_JWKS_FILE": "/env/jwks.json"},
			[]string{"--sasl-oauthbearer-issuer", "https://flag", "--sasl-oauthbearer-audience", "kafka", "--sasl-oauthbearer-clock-skew", "5s",
				"--sasl-oauthbearer-sub-claim", "azp", "--tls-principal-mapping-rules", "RULE:^CN=(.*)$/$1/,DEFAULT"},
			func(t *testing.T, c config.Config) {
				o := c.SASL.OAuthBearer
				if o.Issuer != "https://flag" || o.JWKSFile != "/env/jwks.json" || o.Audience != "kafka" || o.ClockSkew != 5*time.Second ||
					o.SubClaim != "azp" || o.ScopeClaim != "scope" || c.TLS.PrincipalMappingRules != "RULE:^CN=(.*)$/$1/,DEFAULT" {
					t.Errorf("security flags: %+v %+v", o, c.TLS)
				}
			}},
		{"relative data dir made absolute", nil, []string{"--data-dir", "rel/dir"}, func(t *testing.T, c config.Config) {
			want, _ := filepath.Abs("rel/dir")
			if c.DataDir != want {
				t.Errorf("data dir %s, want %s", c.DataDir, want)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runServe(t, tc.env, tc.args...)
			if r.err != nil {
				t.Fatalf("serve: %v\nstderr: %s", r.err, r.errOut)
			}
			if !r.broker.started || !r.broker.shutdown {
				t.Fatalf("broker started=%v shutdown=%v, want both", r.broker.started, r.broker.shutdown)
			}
			tc.check(t, r.broker.cfg)
		})
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	unknownKey := writeTOML(t, "listen = \"127.0.0.1:1\"\nlisen = \"x\"\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"wildcard advertise", nil, []string{"--listen", "0.0.0.0:9092"}, "advertise"},
		{"unknown file key", nil, []string{"--config", unknownKey}, "lisen"},
		{"bad env value", map[string]string{"STROM_NODE_ID": "abc"}, nil, "STROM_NODE_ID"},
		{"bad log level flag", nil, []string{"--log-level", "chatty"}, "log_level"},
		{"zero partitions", nil, []string{"--default-partitions", "0"}, "default_partitions"},
		{"missing file", nil, []string{"--config", filepath.Join(t.TempDir(), "nope.toml")}, "nope.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runServe(t, tc.env, tc.args...)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to mention %q", r.err, tc.want)
			}
			if r.broker != nil {
				t.Fatal("broker opened despite a bad config")
			}
		})
	}
}

func TestServePrintsListenLine(t *testing.T) {
	dir := t.TempDir()
	r := runServe(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := "strom: listening on 127.0.0.1:41234 (advertised 127.0.0.1:41234), data in " + dir + "\n"
	if r.out != want {
		t.Fatalf("output %q, want %q", r.out, want)
	}
	r = runServe(t, nil, "--data-dir", dir, "--advertise", "broker.example:9092")
	if !strings.Contains(r.out, "(advertised broker.example:9092)") {
		t.Fatalf("output %q lacks the configured advertised address", r.out)
	}
	if !strings.Contains(r.errOut, "shutting down") {
		t.Fatalf("stderr %q lacks the shutdown log line", r.errOut)
	}
}

func TestServeStartFailureShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var fb *fakeBroker
	root := NewRoot(Deps{
		LookupEnv: func(string) (string, bool) { return "", false },
		NewBroker: func(cfg config.Config, _ *slog.Logger) (Broker, error) {
			fb = &fakeBroker{cfg: cfg, stop: cancel, startErr: errors.New("address in use")}
			return fb, nil
		},
	})
	root.SetOut(new(bytes.Buffer))
	root.SetErr(new(bytes.Buffer))
	root.SetArgs([]string{"serve", "--data-dir", t.TempDir()})
	err := root.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "address in use") {
		t.Fatalf("error = %v, want the start failure", err)
	}
	if !fb.shutdown {
		t.Fatal("storage not closed after a failed start")
	}
}

func TestServeWithoutBroker(t *testing.T) {
	root := NewRoot(Deps{LookupEnv: func(string) (string, bool) { return "", false }})
	root.SetOut(new(bytes.Buffer))
	root.SetErr(new(bytes.Buffer))
	root.SetArgs([]string{"serve", "--data-dir", t.TempDir()})
	if err := root.Execute(); err == nil {
		t.Fatal("serve without a broker factory succeeded")
	}
}

func TestVersion(t *testing.T) {
	root := NewRoot(Deps{})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "strom "+Version+" (go") {
		t.Fatalf("version output %q", out.String())
	}
}

// TestClientFlagErrors checks flag validation that happens before any
// connection is attempted.
func TestClientFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"produce"}, "topic"},
		{[]string{"consume"}, "topic"},
		{[]string{"produce", "--topic", "t", "--header", "novalue"}, "--header"},
		{[]string{"produce", "--topic", "t", "--acks", "2"}, "acks"},
		{[]string{"produce", "--topic", "t", "--compression", "brotli"}, "compression"},
		{[]string{"bench", "produce", "--acks", "2"}, "acks"},
		{[]string{"bench", "produce", "--compression", "brotli"}, "compression"},
		{[]string{"bench", "produce", "--record-size", "-1"}, "record-size"},
		{[]string{"topic", "create"}, "arg"},
		{[]string{"topic", "alter-config", "t", "--config", "x"}, "key=value"},
		{[]string{"consume", "--topic", "t", "-c", "x"}, `--max-messages "x": want an integer`},
		{[]string{"bench", "consume", "--idle-timeout", "5"}, `--idle-timeout "5": want a duration`},
		{[]string{"consume", "--topic", "t", "-o", "s@yesterday"}, "Unix milliseconds"},
		{[]string{"consume", "--topic", "t", "--format", "%x"}, "unknown %x"},
		{[]string{"bench", "produce", "--format", "yaml"}, "want text or json"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			root := NewRoot(Deps{})
			root.SetOut(new(bytes.Buffer))
			root.SetErr(new(bytes.Buffer))
			root.SetIn(strings.NewReader(""))
			root.SetArgs(append(tc.args, "--bootstrap", "127.0.0.1:1"))
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestMessageInKafkaWords(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("topic x: %w", kerr.UnknownTopicOrPartition), "topic x: This server does not host this topic-partition (UNKNOWN_TOPIC_OR_PARTITION)"},
		{fmt.Errorf("create topic x: %w%s", kerr.TopicAlreadyExists, detail("Topic 'x' already exists.")), "create topic x: Topic 'x' already exists (TOPIC_ALREADY_EXISTS)"},
		{errors.New("plain"), "plain"},
	} {
		if got := message(tc.err); got != tc.want {
			t.Errorf("message(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestParseKVAndSplitList(t *testing.T) {
	kvs, err := parseKV("config", []string{"a=1", "b=x=y", "c="})
	if err != nil || len(kvs) != 3 || kvs[1] != [2]string{"b", "x=y"} || kvs[2] != [2]string{"c", ""} {
		t.Fatalf("parseKV = %v, %v", kvs, err)
	}
	if _, err := parseKV("config", []string{"=v"}); err == nil {
		t.Fatal("empty key accepted")
	}
	if got := splitList(" a:1, ,b:2,"); len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Fatalf("splitList = %q", got)
	}
}

// hangingBroker's Shutdown ignores its deadline, as a stuck part of a node
// might.
type hangingBroker struct {
	fakeBroker
	release chan struct{}
}

func (h *hangingBroker) Shutdown(context.Context) error { <-h.release; return nil }

func TestServeStopsWhenShutdownHangs(t *testing.T) {
	oldTimeout, oldGrace := shutdownTimeout, shutdownGrace
	shutdownTimeout, shutdownGrace = 50*time.Millisecond, 50*time.Millisecond
	defer func() { shutdownTimeout, shutdownGrace = oldTimeout, oldGrace }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hb := &hangingBroker{release: make(chan struct{})}
	defer close(hb.release)
	root := NewRoot(Deps{
		LookupEnv: func(string) (string, bool) { return "", false },
		NewBroker: func(cfg config.Config, _ *slog.Logger) (Broker, error) {
			hb.fakeBroker = fakeBroker{cfg: cfg, stop: cancel}
			return hb, nil
		},
	})
	var errOut bytes.Buffer
	root.SetOut(new(bytes.Buffer))
	root.SetErr(&errOut)
	root.SetArgs([]string{"serve", "--data-dir", t.TempDir()})
	err := root.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "did not stop within") {
		t.Fatalf("error = %v, want serve to give up on the stuck shutdown", err)
	}
	if !strings.Contains(errOut.String(), "without a clean shutdown") {
		t.Fatalf("stderr %q lacks the log line", errOut.String())
	}
}
