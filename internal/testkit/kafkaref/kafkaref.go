// Package kafkaref runs Apache Kafka, from its Maven jars, as a reference
// broker for Strom's compatibility tests and benchmarks.
//
// Start (for tests) and StartProcess (for programs) fetch the jars once into a
// per-version cache (see EnsureJars), write a KRaft combined-mode
// configuration (every node is broker and controller) on free loopback ports,
// format the storage, start one JVM per node and return once a Kafka client
// sees every broker. A Broker is safe for concurrent use; Stop is idempotent.
// The JVMs get SIGKILL if the process that started them dies.
package kafkaref

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// Options configure a reference broker. The zero value is a single node of
// DefaultVersion with a 1 GiB heap.
type Options struct {
	// Version of Apache Kafka (kafka_2.13 on Maven Central). Default DefaultVersion.
	Version string
	// LibDir caches the jars. Default DefaultLibDir(Version).
	LibDir string
	// Pom is the path of test/kafkaref/pom.xml. Default: searched for.
	Pom string
	// Nodes is the number of combined broker+controller nodes. Default 1.
	Nodes int
	// HeapMB is each JVM's -Xmx and -Xms. Default 1024 for one node, 512 for more.
	HeapMB int
	// Dir holds configs, data and logs. Default: a new temporary directory,
	// removed by Stop.
	Dir string
	// Config adds to or overrides server.properties entries on every node.
	Config map[string]string
	// StartTimeout bounds format + start-up + readiness. Default 90s.
	StartTimeout time.Duration
	// ExtraListeners are more client listeners on every node beside
	// PLAINTEXT, by name (SSL, SASL_SSL, ...) with their security
	// protocol, each on a port of its own (ListenerAddr); their ssl.* and
	// sasl.* settings go in Config.
	ExtraListeners map[string]string
	// FormatArgs are added to kafka-storage format, e.g.
	// "--add-scram", "SCRAM-SHA-512=[name=admin,password=secret]".
	FormatArgs []string
	// ClientOpts are added to the readiness client's options: the SASL
	// login when the PLAINTEXT listener is mapped to SASL_PLAINTEXT.
	ClientOpts []kgo.Opt
}

// Broker is a running reference cluster (one node unless Options.Nodes > 1).
type Broker struct {
	dir       string
	removeDir bool
	nodes     []*node

	stopOnce sync.Once
}

type node struct {
	id       int
	addr     string            // PLAINTEXT listener, host:port
	extra    map[string]string // ExtraListeners: name → host:port
	ctrlAddr string            // CONTROLLER listener
	dir      string
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd.Wait returns
	waitErr  error         // set before exited is closed
}

// Start starts a reference broker for a test and stops it when the test ends.
// It skips the test when STROM_SKIP_KAFKAREF is set or in -short mode, and
// when java or the jars (mvn to fetch them) are missing, which fails the
// test instead under CI (see testkit.MissingTool).
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	if os.Getenv("STROM_SKIP_KAFKAREF") != "" {
		t.Skip("kafkaref: STROM_SKIP_KAFKAREF is set")
	}
	if testing.Short() {
		t.Skip("kafkaref: Apache Kafka reference broker is not started in -short mode")
	}
	testkit.NeedTool(t, "java")
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 90 * time.Second
	}
	// Jar download is bounded separately: a cold Maven cache can take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Minute)
	defer cancel()
	b, err := StartProcess(ctx, opts)
	if errors.Is(err, ErrUnavailable) {
		testkit.MissingTool(t, "kafka-ref-jars", err.Error())
	}
	if err != nil {
		t.Fatalf("start Apache Kafka: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}

// StartProcess starts a reference broker. ctx bounds only the start-up: the
// broker runs until Stop. On error nothing is left running.
func StartProcess(ctx context.Context, opts Options) (*Broker, error) {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.HeapMB <= 0 {
		opts.HeapMB = 1024
		if opts.Nodes > 1 {
			opts.HeapMB = 512
		}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 90 * time.Second
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("%w: java not found in PATH", ErrUnavailable)
	}
	libDir, err := EnsureJars(ctx, opts.Version, opts.LibDir, opts.Pom)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	// A port picked free can be taken before the JVM binds it; try again on
	// fresh ports when start-up fails that way.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		b, err := start(ctx, java, libDir, opts)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, java, libDir string, opts Options) (*Broker, error) {
	b := &Broker{dir: opts.Dir}
	if b.dir == "" {
		d, err := os.MkdirTemp("", "kafkaref-")
		if err != nil {
			return nil, fmt.Errorf("create broker dir: %w", err)
		}
		b.dir, b.removeDir = d, true
	}
	ok := false
	defer func() {
		if !ok {
			b.Stop()
		}
	}()

	names := make([]string, 0, len(opts.ExtraListeners))
	for name := range opts.ExtraListeners {
		names = append(names, name)
	}
	sort.Strings(names)
	ports, err := freePorts((2 + len(names)) * opts.Nodes)
	if err != nil {
		return nil, err
	}
	var voters []string
	for i := 0; i < opts.Nodes; i++ {
		n := &node{
			id:       i + 1,
			addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*i])),
			ctrlAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*i+1])),
			dir:      filepath.Join(b.dir, fmt.Sprintf("node-%d", i+1)),
			exited:   make(chan struct{}),
		}
		n.logPath = filepath.Join(n.dir, "server.log")
		n.extra = map[string]string{}
		for j, name := range names {
			n.extra[name] = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2*opts.Nodes+i*len(names)+j]))
		}
		b.nodes = append(b.nodes, n)
		voters = append(voters, fmt.Sprintf("%d@%s", n.id, n.ctrlAddr))
	}
	clusterID := newClusterID()
	classpath := filepath.Join(libDir, "*")

	for _, n := range b.nodes {
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return nil, fmt.Errorf("create node dir: %w", err)
		}
		props := serverProperties(n, strings.Join(voters, ","), opts)
		propsPath := filepath.Join(n.dir, "server.properties")
		if err := os.WriteFile(propsPath, []byte(props), 0o644); err != nil {
			return nil, fmt.Errorf("write server.properties: %w", err)
		}
		log4j := filepath.Join(n.dir, "log4j2.properties")
		if err := os.WriteFile(log4j, []byte(log4jConfig(n.logPath)), 0o644); err != nil {
			return nil, fmt.Errorf("write log4j2.properties: %w", err)
		}
		formatArgs := append([]string{"-Xmx256m",
			"-Dlog4j2.configurationFile=" + log4j, "-cp", classpath,
			"kafka.tools.StorageTool", "format", "--cluster-id=" + clusterID, "--config=" + propsPath}, opts.FormatArgs...)
		format := exec.CommandContext(ctx, java, formatArgs...)
		if out, err := format.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("format storage of node %d: %w\n%s", n.id, err, out)
		}
	}

	for _, n := range b.nodes {
		args := []string{
			fmt.Sprintf("-Xmx%dm", opts.HeapMB), fmt.Sprintf("-Xms%dm", opts.HeapMB),
			// Kafka's own KAFKA_JVM_PERFORMANCE_OPTS, so benchmarks measure the broker as shipped.
			"-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
			"-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
			"-Djava.awt.headless=true",
			"-Dlog4j2.configurationFile=" + filepath.Join(n.dir, "log4j2.properties"),
			"-cp", classpath, "kafka.Kafka", filepath.Join(n.dir, "server.properties"),
		}
		cmd := exec.Command(java, args...)
		cmd.Dir = n.dir
		stdout, err := os.Create(filepath.Join(n.dir, "stdout.log"))
		if err != nil {
			return nil, fmt.Errorf("create stdout log: %w", err)
		}
		cmd.Stdout, cmd.Stderr = stdout, stdout
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		err = cmd.Start()
		stdout.Close() // the child holds its own descriptor
		if err != nil {
			return nil, fmt.Errorf("start node %d: %w", n.id, err)
		}
		n.cmd = cmd
		go func(n *node) {
			n.waitErr = n.cmd.Wait()
			close(n.exited)
		}(n)
	}

	if err := b.waitReady(ctx, opts.ClientOpts); err != nil {
		return nil, err
	}
	ok = true
	return b, nil
}

func serverProperties(n *node, voters string, opts Options) string {
	rf := strconv.Itoa(min(3, opts.Nodes))
	minISR := strconv.Itoa(min(2, opts.Nodes))
	conf := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          strconv.Itoa(n.id),
		"controller.quorum.voters":                         voters,
		"listeners":                                        "PLAINTEXT://" + n.addr + ",CONTROLLER://" + n.ctrlAddr,
		"advertised.listeners":                             "PLAINTEXT://" + n.addr,
		"controller.listener.names":                        "CONTROLLER",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"listener.security.protocol.map":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs":                                         filepath.Join(n.dir, "data"),
		"num.partitions":                                   "1",
		"default.replication.factor":                       rf,
		"offsets.topic.replication.factor":                 rf,
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    minISR,
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            minISR,
		"group.initial.rebalance.delay.ms":                 "0",
	}
	names := make([]string, 0, len(n.extra))
	for name := range n.extra {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		conf["listeners"] += "," + name + "://" + n.extra[name]
		conf["advertised.listeners"] += "," + name + "://" + n.extra[name]
		conf["listener.security.protocol.map"] += "," + name + ":" + opts.ExtraListeners[name]
	}
	for k, v := range opts.Config {
		conf[k] = v
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%s\n", k, conf[k])
	}
	return sb.String()
}

func log4jConfig(logPath string) string {
	return `status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ` + logPath + `
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
`
}

// waitReady polls until a client lists every broker, or a node exits, or ctx ends.
func (b *Broker) waitReady(ctx context.Context, extra []kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addrs()...), kgo.RequestRetries(0),
		kgo.DialTimeout(time.Second)}, extra...)...)
	if err != nil {
		return fmt.Errorf("create readiness client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		for _, n := range b.nodes {
			select {
			case <-n.exited:
				return fmt.Errorf("kafka node %d exited during start-up: %v\n%s", n.id, n.waitErr, n.logTail(40))
			default:
			}
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		brokers, err := adm.ListBrokers(rctx)
		rcancel()
		if err == nil && len(brokers) == len(b.nodes) {
			return nil
		}
		if err != nil {
			lastErr = err
		} else {
			lastErr = fmt.Errorf("%d of %d brokers registered", len(brokers), len(b.nodes))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka not ready: %v (last: %v)\n%s", ctx.Err(), lastErr, b.nodes[0].logTail(40))
		case <-tick.C:
		}
	}
}

// Addr is the bootstrap address (host:port) of the first node.
func (b *Broker) Addr() string { return b.nodes[0].addr }

// ListenerAddr is the address of the first node's extra listener name
// (Options.ExtraListeners); "" without one.
func (b *Broker) ListenerAddr(name string) string { return b.nodes[0].extra[name] }

// Addrs are the client addresses of every node, in node id order.
func (b *Broker) Addrs() []string {
	out := make([]string, len(b.nodes))
	for i, n := range b.nodes {
		out[i] = n.addr
	}
	return out
}

// PID is the process id of the first node's JVM.
func (b *Broker) PID() int { return b.nodes[0].cmd.Process.Pid }

// PIDs are the process ids of every node's JVM, in node id order.
func (b *Broker) PIDs() []int {
	out := make([]int, len(b.nodes))
	for i, n := range b.nodes {
		out[i] = n.cmd.Process.Pid
	}
	return out
}

// Dir holds every node's config, data and logs (node-<id>/server.log).
func (b *Broker) Dir() string { return b.dir }

// LogTail returns the last lines of the first node's server.log, for failure messages.
func (b *Broker) LogTail(lines int) string { return b.nodes[0].logTail(lines) }

// Stop kills every node (the data is throwaway, so no controlled shutdown),
// waits for the processes to exit and removes the directory it created.
func (b *Broker) Stop() {
	b.stopOnce.Do(func() {
		for _, n := range b.nodes {
			if n.cmd == nil {
				continue
			}
			_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		}
		for _, n := range b.nodes {
			if n.cmd != nil {
				<-n.exited
			}
		}
		if b.removeDir {
			_ = os.RemoveAll(b.dir)
		}
	})
}

func (n *node) logTail(lines int) string {
	data, err := os.ReadFile(n.logPath)
	if err != nil || len(data) == 0 {
		data, _ = os.ReadFile(filepath.Join(n.dir, "stdout.log"))
	}
	all := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return string(bytes.Join(all, []byte("\n")))
}

// newClusterID returns a random KRaft cluster id: 16 bytes, URL-safe base64.
// Like Kafka's Uuid.randomUuid it never starts with '-', which command lines
// would take for a flag.
func newClusterID() string {
	for {
		var id [16]byte
		_, _ = rand.Read(id[:])
		if s := base64.RawURLEncoding.EncodeToString(id[:]); s[0] != '-' {
			return s
		}
	}
}

// freePorts reserves n distinct loopback ports by listening on them all at
// once, then releases them for the JVM to bind.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
