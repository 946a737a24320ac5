// Command compare runs the librdkafka benchmark (bench/rdkafka) against
// Apache Kafka, started from its Maven jars by internal/testkit/kafkaref, and
// against Strom, built from ./cmd/strom, one broker at a time on the same
// machine, and prints both results and the strom/kafka ratios.
//
// Run it from the module root: go run ./bench/compare (or make bench).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

type options struct {
	outDir       string
	brokers      string
	numRecords   int
	warmup       int
	recordSize   int
	partitions   int
	acks         string
	compression  string
	client       string
	group        bool
	pin          bool
	kafkaVersion string
	stromArgs    string
	jsonOut      string
	runs         int
	ballast      bool
	security     string
	modes        []string  // parsed security
	tls          *tlsFiles // with a mode other than plaintext
}

// result mirrors the JSON line printed by bench/rdkafka.
type result struct {
	Label           string  `json:"label"`
	Records         int     `json:"records"`
	ProduceMsgsPerS float64 `json:"produce_msgs_per_s"`
	ProduceMBPerS   float64 `json:"produce_mb_per_s"`
	ConsumeMsgsPerS float64 `json:"consume_msgs_per_s"`
	ConsumeMBPerS   float64 `json:"consume_mb_per_s"`
	ProduceCPUPerM  float64 `json:"broker_produce_cpu_s_per_m"`
	ConsumeCPUPerM  float64 `json:"broker_consume_cpu_s_per_m"`
	ProduceCPUS     float64 `json:"broker_produce_cpu_s"`
	ConsumeCPUS     float64 `json:"broker_consume_cpu_s"`
	ProduceSeconds  float64 `json:"produce_s"`
	ConsumeSeconds  float64 `json:"consume_s"`
	// BothMsgsPerS is records / (produce time + consume time): the rate of
	// the whole produce-then-read-back workload. Computed, not in bench/rdkafka's line.
	BothMsgsPerS float64 `json:"both_msgs_per_s"`
}

func main() {
	var o options
	flag.StringVar(&o.outDir, "out-dir", filepath.Join(os.TempDir(), "strom-bench"), "where binaries and broker data go")
	flag.StringVar(&o.brokers, "brokers", "kafka,strom", "brokers to measure, in order: kafka, strom, strom-cluster (3 nodes, RF=3), kafka-cluster (3 nodes, RF=3)")
	flag.IntVar(&o.numRecords, "num-records", 5_000_000, "records per measured run")
	flag.IntVar(&o.warmup, "warmup", 200_000, "records of an unreported run first on each broker (JIT, page cache); 0 for none")
	flag.IntVar(&o.recordSize, "record-size", 100, "record value size in bytes")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of the benchmark topic")
	flag.StringVar(&o.acks, "acks", "all", "producer acks")
	flag.StringVar(&o.compression, "compression", "none", "producer compression")
	flag.StringVar(&o.client, "client", "c", "bench/rdkafka --client: c (librdkafka's C API, as rdkafka_performance) or go (confluent-kafka-go's Go API)")
	flag.BoolVar(&o.group, "group", false, "bench/rdkafka --group: consume as a consumer-group member with commits")
	flag.BoolVar(&o.pin, "pin", false, "run the client on CPU 0 and the brokers on the other CPUs (taskset), so neither takes the other's cores")
	flag.StringVar(&o.kafkaVersion, "kafka-version", kafkaref.DefaultVersion, "Apache Kafka version")
	flag.StringVar(&o.stromArgs, "strom-args", "", "extra arguments for strom serve, space separated")
	flag.IntVar(&o.runs, "runs", 3, "measured runs per broker; each metric reported is the median over runs")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON lines to this file")
	flag.BoolVar(&o.ballast, "ballast", true, "fill free memory with page-cached files before measuring each broker (see ballast.go), removed at the end")
	flag.StringVar(&o.security, "security", modePlaintext, "listeners to measure on each single-node broker, comma separated: plaintext, ssl (TLS), sasl_ssl (SCRAM-SHA-512 over TLS); each broker serves them all at once, with the same certificate (clusters: plaintext only)")
	flag.Parse()

	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		fail(err)
	}
	modes, err := parseModes(o.security)
	if err != nil {
		fail(err)
	}
	o.modes = modes
	for _, m := range modes {
		if m != modePlaintext && o.tls == nil {
			if o.tls, err = newTLSFiles(filepath.Join(o.outDir, "tls")); err != nil {
				fail(err)
			}
		}
	}
	rdkafka := filepath.Join(o.outDir, "rdkafka")
	if err := goBuild(rdkafka, "./bench/rdkafka", "CGO_ENABLED=1"); err != nil {
		fail(fmt.Errorf("build the librdkafka benchmark (needs gcc): %w", err))
	}

	var bal *ballast
	if o.ballast {
		var err error
		if bal, err = newBallast(o.outDir, 256<<20); err != nil {
			fail(err)
		}
		atExit = append(atExit, bal.remove)
		defer bal.remove()
	}

	var results []result
	var failures []string
	for _, name := range strings.Split(o.brokers, ",") {
		if bal != nil {
			if err := bal.topUp(); err != nil {
				fail(err)
			}
		}
		var (
			r   result
			rs  []result
			err error
		)
		switch strings.TrimSpace(name) {
		case "kafka":
			rs, err = benchKafka(o, rdkafka)
		case "strom":
			rs, err = benchStrom(o, rdkafka)
		case "strom-cluster":
			r, err = benchStromCluster(o, rdkafka)
			rs = []result{r}
		case "kafka-cluster":
			r, err = benchKafkaCluster(o, rdkafka)
			rs = []result{r}
		default:
			err = fmt.Errorf("unknown broker %q", name)
		}
		results = append(results, rs...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "\n%s: %v\n", name, err)
			failures = append(failures, name)
			continue
		}
	}

	printTable(os.Stdout, o, results)
	if o.jsonOut != "" {
		var buf bytes.Buffer
		for _, r := range results {
			line, _ := json.Marshal(r)
			buf.Write(append(line, '\n'))
		}
		if err := os.WriteFile(o.jsonOut, buf.Bytes(), 0o644); err != nil {
			fail(err)
		}
	}
	if len(failures) > 0 {
		fail(fmt.Errorf("no result for: %s", strings.Join(failures, ", ")))
	}
}

// atExit runs before fail exits.
var atExit []func()

func fail(err error) {
	for _, f := range atExit {
		f()
	}
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(1)
}

func goBuild(out, pkg string, env ...string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

func benchKafka(o options, rdkafka string) ([]result, error) {
	fmt.Printf("== Apache Kafka %s (KRaft, one node, JVM -Xmx1g)\n", o.kafkaVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	opts := kafkaref.Options{Version: o.kafkaVersion}
	if o.tls != nil {
		opts.ExtraListeners, opts.Config, opts.FormatArgs = o.tls.kafkaSecurity(o.modes)
	}
	b, err := kafkaref.StartProcess(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer b.Stop()
	var rs []result
	for _, m := range o.modes {
		addr := b.Addr()
		if m != modePlaintext {
			addr = b.ListenerAddr(listenerName(m))
		}
		r, err := runBenchRF(o, rdkafka, "kafka"+suffix(m), addr, []int{b.PID()}, 1, o.tlsArgs(m)...)
		if err != nil {
			return rs, fmt.Errorf("%s: %w", m, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// tlsArgs are bench/rdkafka's flags for mode.
func (o options) tlsArgs(mode string) []string {
	if o.tls == nil {
		return nil
	}
	return o.tls.clientArgs(mode)
}

func benchStrom(o options, rdkafka string) ([]result, error) {
	fmt.Println("== Strom (one node)")
	bin := filepath.Join(o.outDir, "strom")
	if err := goBuild(bin, "./cmd/strom", "CGO_ENABLED=0"); err != nil {
		return nil, fmt.Errorf("build ./cmd/strom: %w", err)
	}
	dataDir, err := os.MkdirTemp(o.outDir, "strom-data-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dataDir)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"serve", "--listen", addr, "--admin-listen", "127.0.0.1:0", "--data-dir", dataDir}
	addrs := map[string]string{modePlaintext: addr}
	if o.tls != nil {
		// Every mode's listener, plaintext first (the readiness check's).
		listeners := []string{modePlaintext}
		for _, m := range o.modes {
			if m != modePlaintext {
				p, err := freePort()
				if err != nil {
					return nil, err
				}
				addrs[m] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
				listeners = append(listeners, m)
			}
		}
		cfg := filepath.Join(dataDir + "-strom.toml")
		if err := os.WriteFile(cfg, []byte(o.tls.stromConfig(listeners, addrs)), 0o600); err != nil {
			return nil, err
		}
		defer os.Remove(cfg)
		args = []string{"serve", "--config", cfg, "--admin-listen", "127.0.0.1:0", "--data-dir", dataDir}
	}
	args = append(args, strings.Fields(o.stromArgs)...)
	logPath := filepath.Join(o.outDir, "strom.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start strom: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	if err := waitBroker(addr, exited, 30*time.Second); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	var rs []result
	for _, m := range o.modes {
		r, err := runBenchRF(o, rdkafka, "strom"+suffix(m), addrs[m], []int{cmd.Process.Pid}, 1, o.tlsArgs(m)...)
		if err != nil {
			return rs, fmt.Errorf("%s: %w", m, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// waitBroker polls until a client lists at least one broker at addr.
func waitBroker(addr string, exited <-chan error, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("broker exited during start-up: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		brokers, err := adm.ListBrokers(ctx)
		cancel()
		if err == nil && len(brokers) > 0 {
			return nil
		}
		last = err
		select {
		case err := <-exited:
			return fmt.Errorf("broker exited during start-up: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("broker at %s not ready after %s: %v", addr, timeout, last)
}

func runBench(o options, rdkafka, label, addr string, pid int) (result, error) {
	return runBenchRF(o, rdkafka, label, addr, []int{pid}, 1)
}

// runBenchRF measures the brokers at addr; pids are their processes, whose
// CPU time is summed (none: not reported).
func runBenchRF(o options, rdkafka, label, addr string, pids []int, rf int, extra ...string) (result, error) {
	base := []string{
		"--bootstrap", addr, "--partitions", strconv.Itoa(o.partitions), "--replication", strconv.Itoa(rf),
		"--record-size", strconv.Itoa(o.recordSize), "--acks", o.acks, "--compression", o.compression,
		"--client", o.client,
	}
	if o.group {
		base = append(base, "--group")
	}
	base = append(base, extra...)
	client := []string{rdkafka}
	if o.pin {
		if runtime.NumCPU() < 2 {
			return result{}, errors.New("--pin needs at least 2 CPUs")
		}
		brokerCPUs := fmt.Sprintf("1-%d", runtime.NumCPU()-1)
		for _, pid := range pids {
			// -a: every thread the process has now; threads it starts
			// later inherit the mask from the thread that starts them.
			if out, err := exec.Command("taskset", "-a", "-p", "-c", brokerCPUs, strconv.Itoa(pid)).CombinedOutput(); err != nil {
				return result{}, fmt.Errorf("pin broker %d to CPUs %s: %v: %s", pid, brokerCPUs, err, out)
			}
		}
		client = []string{"taskset", "-c", "0", rdkafka}
		fmt.Printf("pinned: client on CPU 0, brokers on CPUs %s\n", brokerCPUs)
	}
	if o.warmup > 0 {
		fmt.Printf("warm-up: %d records\n", o.warmup)
		if _, err := runOnce(client, append(base, "--num-records", strconv.Itoa(o.warmup),
			"--label", label+"-warmup"), io.Discard); err != nil {
			return result{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	var runs []result
	for i := 0; i < max(1, o.runs); i++ {
		fmt.Printf("run %d:\n", i+1)
		args := append(base, "--num-records", strconv.Itoa(o.numRecords), "--label", label)
		for _, pid := range pids {
			args = append(args, "--broker-pid", strconv.Itoa(pid))
		}
		r, err := runOnce(client, args, os.Stdout)
		if err != nil {
			return result{}, err
		}
		runs = append(runs, r)
	}
	return medianOf(runs), nil
}

// medianOf takes each metric's median over the runs independently.
func medianOf(rs []result) result {
	m := rs[0]
	med := func(get func(*result) *float64) {
		vals := make([]float64, len(rs))
		for i := range rs {
			vals[i] = *get(&rs[i])
		}
		sort.Float64s(vals)
		*get(&m) = vals[len(vals)/2]
	}
	med(func(r *result) *float64 { return &r.ProduceMsgsPerS })
	med(func(r *result) *float64 { return &r.ProduceMBPerS })
	med(func(r *result) *float64 { return &r.ConsumeMsgsPerS })
	med(func(r *result) *float64 { return &r.ConsumeMBPerS })
	med(func(r *result) *float64 { return &r.ProduceCPUPerM })
	med(func(r *result) *float64 { return &r.ConsumeCPUPerM })
	med(func(r *result) *float64 { return &r.ProduceCPUS })
	med(func(r *result) *float64 { return &r.ConsumeCPUS })
	med(func(r *result) *float64 { return &r.BothMsgsPerS })
	return m
}

// runOnce runs the benchmark binary, echoes its human lines to w and parses its JSON line.
func runOnce(client []string, args []string, w io.Writer) (result, error) {
	cmd := exec.Command(client[0], append(client[1:], args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	runErr := cmd.Run()
	var r result
	found := false
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "{") {
			if err := json.Unmarshal([]byte(line), &r); err == nil {
				found = true
				if t := r.ProduceSeconds + r.ConsumeSeconds; t > 0 {
					r.BothMsgsPerS = float64(r.Records) / t
				}
			}
			continue
		}
		fmt.Fprintln(w, "  "+line)
	}
	if runErr != nil {
		return r, fmt.Errorf("rdkafka bench: %w", runErr)
	}
	if !found {
		return r, errors.New("rdkafka bench printed no JSON result")
	}
	return r, nil
}

func printTable(w io.Writer, o options, rs []result) {
	fmt.Fprintf(w, "\n%d records of %d B, %d partitions, acks=%s, compression=%s, librdkafka client (--client %s, group consume %v, pinned %v) on the same host, median of %d runs\n\n",
		o.numRecords, o.recordSize, o.partitions, o.acks, o.compression, o.client, o.group, o.pin, max(1, o.runs))
	byLabel := map[string]result{}
	cols := []string{}
	for _, r := range rs {
		byLabel[r.Label] = r
		cols = append(cols, r.Label)
	}
	// A strom/kafka ratio for each security mode both were measured in.
	var ratios []string
	for _, m := range []string{modePlaintext, modeSSL, modeSASLSSL} {
		_, hasK := byLabel["kafka"+suffix(m)]
		_, hasS := byLabel["strom"+suffix(m)]
		if hasK && hasS {
			ratios = append(ratios, suffix(m))
		}
	}
	fmt.Fprintf(w, "| %-34s |", "metric")
	for _, c := range cols {
		fmt.Fprintf(w, " %14s |", c)
	}
	for _, sfx := range ratios {
		fmt.Fprintf(w, " %14s |", "strom/kafka"+sfx)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "|%s|", strings.Repeat("-", 36))
	for range len(cols) + len(ratios) {
		fmt.Fprintf(w, "%s:|", strings.Repeat("-", 15))
	}
	fmt.Fprintln(w)
	rows := []struct {
		name string
		get  func(result) float64
		fmt  string
	}{
		{"produce msg/s", func(r result) float64 { return r.ProduceMsgsPerS }, "%12.0f"},
		{"produce MB/s", func(r result) float64 { return r.ProduceMBPerS }, "%12.1f"},
		{"consume msg/s", func(r result) float64 { return r.ConsumeMsgsPerS }, "%12.0f"},
		{"consume MB/s", func(r result) float64 { return r.ConsumeMBPerS }, "%12.1f"},
		{"produce + consume msg/s", func(r result) float64 { return r.BothMsgsPerS }, "%12.0f"},
		{"broker CPU s / M msgs (produce)", func(r result) float64 { return r.ProduceCPUPerM }, "%12.2f"},
		{"broker CPU s / M msgs (consume)", func(r result) float64 { return r.ConsumeCPUPerM }, "%12.2f"},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "| %-34s |", row.name)
		for _, c := range cols {
			fmt.Fprintf(w, "   "+row.fmt+" |", row.get(byLabel[c]))
		}
		for _, sfx := range ratios {
			if d := row.get(byLabel["kafka"+sfx]); d != 0 {
				fmt.Fprintf(w, " %14.2f |", row.get(byLabel["strom"+sfx])/d)
			} else {
				fmt.Fprintf(w, " %14s |", "-")
			}
		}
		fmt.Fprintln(w)
	}
}

// freePort picks a port below the ephemeral range (see testkit.FreePort).
func freePort() (int, error) { return testkit.FreePort() }

func benchKafkaCluster(o options, rdkafka string) (result, error) {
	fmt.Printf("== Apache Kafka %s (KRaft, three nodes, RF=3)\n", o.kafkaVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b, err := kafkaref.StartProcess(ctx, kafkaref.Options{Version: o.kafkaVersion, Nodes: 3})
	if err != nil {
		return result{}, err
	}
	defer b.Stop()
	addrs := b.Addrs()
	return runBenchRF(o, rdkafka, "kafka-cluster", addrs[len(addrs)-1], b.PIDs(), 3)
}

// benchStromCluster runs three strom processes from TOML files of the
// documented cluster shape and bootstraps the client through the last
// node. Broker CPU is the sum over the three processes.
func benchStromCluster(o options, rdkafka string) (result, error) {
	fmt.Println("== Strom (three nodes, RF=3)")
	bin := filepath.Join(o.outDir, "strom")
	if err := goBuild(bin, "./cmd/strom", "CGO_ENABLED=0"); err != nil {
		return result{}, fmt.Errorf("build ./cmd/strom: %w", err)
	}
	dir, err := os.MkdirTemp(o.outDir, "strom-cluster-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	const n = 3
	type node struct{ kafka, repl, raft string }
	nodes := make([]node, n)
	for i := range nodes {
		var ports [3]int
		for j := range ports {
			if ports[j], err = freePort(); err != nil {
				return result{}, err
			}
		}
		nodes[i] = node{
			kafka: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
			repl:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
			raft:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
		}
	}
	var peers strings.Builder
	for i, nd := range nodes {
		fmt.Fprintf(&peers, "[[peers]]\nid = %d\nkafka = %q\nwal = %q\nraft = %q\n\n", i+1, nd.kafka, nd.repl, nd.raft)
	}
	var cmds []*exec.Cmd
	var exits []chan error    // Wait's result, read once (by waitBroker)
	var dones []chan struct{} // closed when the process has exited
	defer func() {
		for i, cmd := range cmds {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-dones[i]:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-dones[i]
			}
		}
	}()
	for i, nd := range nodes {
		toml := fmt.Sprintf("node_id = %d\ndata_dir = %q\n\n[node.addresses]\nkafka = %q\nwal = %q\nraft = %q\n\n[node.advertise]\nkafka = %q\nwal = %q\nraft = %q\n\n%s",
			i+1, filepath.Join(dir, fmt.Sprintf("data%d", i+1)), nd.kafka, nd.repl, nd.raft, nd.kafka, nd.repl, nd.raft, peers.String())
		path := filepath.Join(dir, fmt.Sprintf("node%d.toml", i+1))
		if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
			return result{}, err
		}
		logFile, err := os.Create(filepath.Join(o.outDir, fmt.Sprintf("strom-node%d.log", i+1)))
		if err != nil {
			return result{}, err
		}
		defer logFile.Close()
		cmd := exec.Command(bin, "serve", "--config", path, "--admin-listen", "127.0.0.1:0")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return result{}, fmt.Errorf("start strom node %d: %w", i+1, err)
		}
		exited, done := make(chan error, 1), make(chan struct{})
		go func() {
			exited <- cmd.Wait()
			close(done)
		}()
		cmds, exits, dones = append(cmds, cmd), append(exits, exited), append(dones, done)
	}
	for i, nd := range nodes {
		if err := waitBroker(nd.kafka, exits[i], 60*time.Second); err != nil {
			return result{}, fmt.Errorf("node %d: %w", i+1, err)
		}
	}
	pids := make([]int, len(cmds))
	for i, cmd := range cmds {
		pids[i] = cmd.Process.Pid
	}
	return runBenchRF(o, rdkafka, "strom-cluster", nodes[n-1].kafka, pids, 3)
}
