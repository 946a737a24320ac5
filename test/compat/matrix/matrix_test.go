// Package matrix_test runs one scenario per Kafka client library, in several
// languages, against Strom standalone, a 3-node Strom cluster and Apache
// Kafka (the control), and prints the result as a client × broker × step
// table. Each client is a small program in a subfolder that prints one
// `STEP <name> PASS|FAIL|NA <detail>` line per step; README.md specifies the
// scenario and the records.
//
// By default only a quick subset runs (franz-go and confluent-kafka-go on
// Strom standalone). STROM_COMPAT=full runs every client on every broker;
// the non-Go clients must have been built with setup.sh first and are
// skipped, with the reason, when they were not. A step that passes on Kafka
// and fails on Strom fails the test unless knownDifferences lists it.
// STROM_COMPAT_CLIENTS and STROM_COMPAT_BROKERS (comma-separated names as in
// the matrix) narrow a run.
package matrix_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// Broker names, as they appear in the matrix.
const (
	brokerKafka   = "kafka"
	brokerStrom   = "strom"
	brokerCluster = "strom-cluster"
)

// knownDifferences are cells that fail on Strom and pass on Kafka, accepted
// for now. Each names the section of docs/compatibility.md that explains it.
// Key: client/broker/step.
var knownDifferences = map[string]string{}

// standardSteps are the steps of the client scenario, in order.
var standardSteps = []string{
	"create_topic", "produce_none", "produce_gzip", "produce_snappy", "produce_lz4", "produce_zstd",
	"consume_group", "commit", "resume", "delete_topic",
}

// streamsSteps are the steps of the Kafka Streams scenario.
var streamsSteps = []string{"create_topic", "produce_input", "streams_run", "verify_output", "streams_commit", "delete_topic"}

// client is one row group of the matrix.
type client struct {
	name  string
	quick bool     // part of the default (non-full) run
	steps []string // the steps it reports
	// prepare returns the command (before the scenario arguments) and extra
	// environment, or a reason to skip.
	prepare func(t *testing.T, e *env) (argv, environ []string, skip string)
}

type env struct {
	root  string // module root
	cache string // setup.sh's cache
	bins  string // Go programs built for this run
}

func goProgram(dir string) func(t *testing.T, e *env) ([]string, []string, string) {
	return func(t *testing.T, e *env) ([]string, []string, string) {
		bin := filepath.Join(e.bins, dir)
		if _, err := os.Stat(bin); err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./test/compat/matrix/"+dir)
			cmd.Dir = e.root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build %s: %v\n%s", dir, err, out)
			}
		}
		return []string{bin}, nil, ""
	}
}

func cached(rel, what string) func(t *testing.T, e *env) (string, string) {
	return func(t *testing.T, e *env) (string, string) {
		p := filepath.Join(e.cache, rel)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Sprintf("%s not built (%s missing): run test/compat/matrix/setup.sh", what, p)
		}
		return p, ""
	}
}

func javaProgram(mode string) func(t *testing.T, e *env) ([]string, []string, string) {
	return func(t *testing.T, e *env) ([]string, []string, string) {
		if _, err := exec.LookPath("java"); err != nil {
			return nil, nil, "java not installed (JDK 17+)"
		}
		jar, skip := cached("java/strom-compat-java.jar", "Java clients")(t, e)
		if skip != "" {
			return nil, nil, skip
		}
		return []string{"java", "-Xmx256m", "-jar", jar, mode}, nil, ""
	}
}

func pythonProgram(script string) func(t *testing.T, e *env) ([]string, []string, string) {
	return func(t *testing.T, e *env) ([]string, []string, string) {
		py, skip := cached("venv/bin/python", "Python venv")(t, e)
		if skip != "" {
			return nil, nil, skip
		}
		return []string{py, filepath.Join(e.root, "test/compat/matrix/python", script)}, nil, ""
	}
}

var clients = []client{
	{name: "franz-go", quick: true, steps: standardSteps, prepare: goProgram("franzgo")},
	{name: "confluent-kafka-go", quick: true, steps: standardSteps, prepare: goProgram("confluentgo")},
	{name: "sarama", steps: standardSteps, prepare: goProgram("sarama")},
	{name: "kafka-go", steps: standardSteps, prepare: goProgram("kafkago")},
	{name: "java kafka-clients", steps: standardSteps, prepare: javaProgram("clients")},
	{name: "java kafka-streams", steps: streamsSteps, prepare: javaProgram("streams")},
	{name: "python confluent-kafka", steps: standardSteps, prepare: pythonProgram("confluent_client.py")},
	{name: "python kafka-python", steps: standardSteps, prepare: pythonProgram("kafka_python_client.py")},
	{name: "kafkajs", steps: standardSteps, prepare: func(t *testing.T, e *env) ([]string, []string, string) {
		if _, err := exec.LookPath("node"); err != nil {
			return nil, nil, "node not installed"
		}
		mods, skip := cached("js/node_modules/kafkajs", "kafkajs")(t, e)
		if skip != "" {
			return nil, nil, skip
		}
		return []string{"node", filepath.Join(e.root, "test/compat/matrix/js/client.js")},
			[]string{"NODE_PATH=" + filepath.Dir(mods)}, ""
	}},
	{name: "rust rdkafka", steps: standardSteps, prepare: func(t *testing.T, e *env) ([]string, []string, string) {
		bin, skip := cached("rust-target/release/strom-compat-rdkafka", "Rust rdkafka program")(t, e)
		if skip != "" {
			return nil, nil, skip
		}
		return []string{bin}, nil, ""
	}},
	{name: "kcat", steps: standardSteps, prepare: func(t *testing.T, e *env) ([]string, []string, string) {
		if _, err := exec.LookPath("kcat"); err != nil {
			return nil, nil, "kcat not installed (apt-get install kcat)"
		}
		argv, envs, _ := goProgram("kcat")(t, e)
		return argv, envs, ""
	}},
}

// cell is one client × broker × step result.
type cell struct {
	status string // PASS, FAIL, NA, or "" when the step did not run
	detail string
}

type result struct {
	skip  string // the client was skipped on this broker, and why
	cells map[string]cell
}

var runSeq atomic.Int64

func TestMatrix(t *testing.T) {
	full := os.Getenv("STROM_COMPAT") == "full"
	root, err := testkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{root: root, cache: cacheDir(), bins: t.TempDir()}

	type brokerRun struct {
		name  string
		start func(t *testing.T) (bootstrap string, rf int16)
	}
	brokers := []brokerRun{
		{brokerKafka, func(t *testing.T) (string, int16) {
			return kafkaref.Start(t, kafkaref.Options{}).Addr(), 1
		}},
		{brokerStrom, func(t *testing.T) (string, int16) {
			return testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
				c.GroupInitialRebalanceDelay = 100 * time.Millisecond
			})).Addr(), 1
		}},
		{brokerCluster, func(t *testing.T) (string, int16) {
			return testkit.StartCluster(t, 3).Bootstrap(), 3
		}},
	}
	if !full {
		brokers = brokers[1:2]
	}
	if only := os.Getenv("STROM_COMPAT_BROKERS"); only != "" {
		var keep []brokerRun
		for _, b := range brokers {
			if listed(only, b.name) {
				keep = append(keep, b)
			}
		}
		brokers = keep
	}
	var active []client
	for _, c := range clients {
		if (full || c.quick) && (os.Getenv("STROM_COMPAT_CLIENTS") == "" || listed(os.Getenv("STROM_COMPAT_CLIENTS"), c.name)) {
			active = append(active, c)
		}
	}

	results := map[string]map[string]*result{} // client -> broker -> result
	for _, c := range active {
		results[c.name] = map[string]*result{}
	}
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) {
			bootstrap, rf := b.start(t)
			for _, c := range active {
				res := &result{cells: map[string]cell{}}
				results[c.name][b.name] = res
				t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
					argv, environ, skip := c.prepare(t, e)
					if skip != "" {
						res.skip = skip
						t.Skip(skip)
					}
					runClient(t, c, b.name, argv, environ, bootstrap, rf, res)
				})
			}
		})
	}

	var names []string
	for _, b := range brokers {
		names = append(names, b.name)
	}
	table := renderMatrix(active, names, results)
	out := os.Getenv("STROM_COMPAT_MATRIX")
	if out == "" {
		out = filepath.Join(e.cache, "matrix.md")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Logf("write matrix: %v", err)
		}
	}
	fmt.Printf("\n%s\nmatrix written to %s\n", table, out)
	compare(t, active, names, results)
}

// runClient runs one client program against a broker and records its steps.
func runClient(t *testing.T, c client, broker string, argv, environ []string, bootstrap string, rf int16, res *result) {
	seq := runSeq.Add(1)
	slug := strings.NewReplacer(" ", "-", "_", "-").Replace(c.name)
	topic := fmt.Sprintf("compat-%s-%s-%d", slug, broker, seq)
	group := fmt.Sprintf("compat-group-%s-%s-%d", slug, broker, seq)
	args := append(append([]string{}, argv[1:]...), bootstrap, topic, group, fmt.Sprint(rf))

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], args...)
	cmd.Env = append(os.Environ(), environ...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var log strings.Builder
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		f := strings.SplitN(line, " ", 4)
		if len(f) < 3 || f[0] != "STEP" {
			continue
		}
		detail := ""
		if len(f) == 4 {
			detail = f[3]
		}
		res.cells[f[1]] = cell{status: f[2], detail: detail}
	}
	t.Logf("%s on %s (exit: %v):\n%s", c.name, broker, runErr, log.String())
	if runErr != nil || os.Getenv("STROM_TEST_VERBOSE") != "" {
		t.Logf("stderr of %s:\n%s", c.name, tail(stderr.String(), 60))
	}
	if ctx.Err() != nil {
		res.cells["_timeout"] = cell{status: "FAIL", detail: "program timed out"}
	}
}

// compare fails the test for every Strom cell that did not pass where Kafka
// passed (or, without a Kafka run, that failed), unless it is a known
// difference.
func compare(t *testing.T, active []client, brokers []string, results map[string]map[string]*result) {
	for _, c := range active {
		control := results[c.name][brokerKafka]
		for _, b := range brokers {
			if b == brokerKafka {
				continue
			}
			res := results[c.name][b]
			if res == nil || res.skip != "" {
				continue
			}
			rowFailed := false
			for _, s := range c.steps {
				got := res.cells[s]
				if got.status == "PASS" || got.status == "NA" {
					continue
				}
				if got.status == "" && rowFailed {
					continue // a consequence of the failure already reported
				}
				if control != nil && control.skip == "" {
					if want := control.cells[s]; want.status != "PASS" {
						t.Logf("%s %s: %s on %s and %q on kafka too: a client or scenario problem, not a broker difference",
							c.name, s, orNotRun(got.status), b, orNotRun(want.status))
						continue
					}
				}
				key := c.name + "/" + b + "/" + s
				if why, ok := knownDifferences[key]; ok {
					t.Logf("known difference %s: %s", key, why)
					continue
				}
				rowFailed = true
				t.Errorf("%s, step %s, on %s: %s %s", c.name, s, b, orNotRun(got.status), got.detail)
			}
		}
	}
	for _, c := range active {
		if res := results[c.name][brokerKafka]; res != nil && res.skip == "" {
			for _, s := range c.steps {
				if st := res.cells[s].status; st != "PASS" && st != "NA" {
					t.Logf("control: %s step %s on kafka: %s %s", c.name, s, orNotRun(st), res.cells[s].detail)
				}
			}
		}
	}
}

func orNotRun(s string) string {
	if s == "" {
		return "not run"
	}
	return s
}

// renderMatrix draws one markdown table per scenario shape: a row per
// client and broker, a column per step.
func renderMatrix(active []client, brokers []string, results map[string]map[string]*result) string {
	var sb strings.Builder
	groups := [][]string{standardSteps, streamsSteps}
	for gi, steps := range groups {
		var rows []client
		for _, c := range active {
			if strings.Join(c.steps, ",") == strings.Join(steps, ",") {
				rows = append(rows, c)
			}
		}
		if len(rows) == 0 {
			continue
		}
		if gi > 0 {
			sb.WriteString("\n")
		}
		sb.WriteString("| client | broker | " + strings.Join(steps, " | ") + " |\n")
		sb.WriteString("|---|---|" + strings.Repeat("---|", len(steps)) + "\n")
		for _, c := range rows {
			for _, b := range brokers {
				res := results[c.name][b]
				sb.WriteString("| " + c.name + " | " + b + " |")
				for _, s := range steps {
					sb.WriteString(" " + mark(res, s) + " |")
				}
				sb.WriteString("\n")
			}
		}
	}
	var notes []string
	for _, c := range active {
		for _, b := range brokers {
			if res := results[c.name][b]; res != nil && res.skip != "" {
				notes = append(notes, fmt.Sprintf("- %s on %s skipped: %s", c.name, b, res.skip))
			}
		}
	}
	sort.Strings(notes)
	if len(notes) > 0 {
		sb.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	return sb.String()
}

func mark(res *result, step string) string {
	if res == nil {
		return "not run"
	}
	if res.skip != "" {
		return "skip"
	}
	switch res.cells[step].status {
	case "PASS":
		return "pass"
	case "FAIL":
		return "**FAIL**"
	case "NA":
		return "n/a"
	}
	return "—"
}

// listed reports whether name is in the comma-separated list.
func listed(list, name string) bool {
	for _, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

func cacheDir() string {
	if d := os.Getenv("STROM_COMPAT_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "strom-compat")
	}
	return filepath.Join(home, ".cache", "strom-compat")
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
