package ops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestStandaloneMetricsFollowClients produces and consumes with franz-go
// and checks that the series an operator watches move with the traffic:
// records in, partition offsets, a group's committed offset and lag (half
// committed, then all), request counts and errors; that /healthz and
// /readyz answer; that OpenMetrics is negotiated; that every log line is
// JSON with the node id; and that a clean stop logs no ERROR.
func TestStandaloneMetricsFollowClients(t *testing.T) {
	p := testkit.StartProcess(t, testkit.ProcessOptions{Args: []string{"--log-format", "json"}})
	admin := p.AdminAddr()
	if code, body := get(t, "http://"+admin+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	eventually(t, 10*time.Second, "/readyz", func() error {
		if code, body := get(t, "http://"+admin+"/readyz"); code != http.StatusOK {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})

	const topic, group, n = "ops-metrics", "ops-group", 400
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Addr()), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i)), Partition: int32(i % 2)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, admin)
	if v, _ := m.value("strom_topic_records_in_total", map[string]string{"topic": topic}); v != n {
		t.Fatalf("strom_topic_records_in_total = %v, want %d", v, n)
	}
	if v, _ := m.value("kafka_topic_partition_current_offset", map[string]string{"topic": topic}); v != n {
		t.Fatalf("kafka_topic_partition_current_offset summed = %v, want %d", v, n)
	}
	if v, _ := m.value("kafka_topic_partitions", map[string]string{"topic": topic}); v != 2 {
		t.Fatalf("kafka_topic_partitions = %v, want 2", v)
	}
	if v, _ := m.value("strom_requests_total", map[string]string{"api": "Produce", "listener": "kafka"}); v < 1 {
		t.Fatalf("strom_requests_total{api=Produce} = %v", v)
	}
	if v, _ := m.value("strom_log_size_bytes", map[string]string{"topic": topic}); v <= 0 {
		t.Fatalf("strom_log_size_bytes = %v", v)
	}

	// Commit half of each partition: lag is the other half.
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: n / 4, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: n / 4, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, group, offs); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "lag of half-committed group", func() error {
		m := scrape(t, admin)
		v, _ := m.value("kafka_consumergroup_lag_sum", map[string]string{"consumergroup": group, "topic": topic})
		return want("kafka_consumergroup_lag_sum", v, n/2)
	})

	// A real consumer in the group reads the rest and commits: lag falls to 0.
	cons, err := kgo.NewClient(kgo.SeedBrokers(p.Addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for read < n/2 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", read, n/2, err)
		}
		read += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "lag after consuming", func() error {
		m := scrape(t, admin)
		v, _ := m.value("kafka_consumergroup_lag_sum", map[string]string{"consumergroup": group, "topic": topic})
		if err := want("kafka_consumergroup_lag_sum", v, 0); err != nil {
			return err
		}
		members, _ := m.value("kafka_consumergroup_members", map[string]string{"consumergroup": group})
		return want("kafka_consumergroup_members", members, 1)
	})
	cons.Close()

	// An error code counts under its Kafka name.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err == nil {
		t.Fatal("second CreateTopic succeeded")
	}
	m = scrape(t, admin)
	if v, _ := m.value("strom_request_errors_total", map[string]string{"api": "CreateTopics", "error": "TOPIC_ALREADY_EXISTS"}); v != 1 {
		t.Fatalf("strom_request_errors_total{CreateTopics,TOPIC_ALREADY_EXISTS} = %v, want 1", v)
	}

	// OpenMetrics when asked for.
	req, _ := http.NewRequest(http.MethodGet, "http://"+admin+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("Content-Type = %q, want OpenMetrics", ct)
	}

	cl.Close()
	p.Stop(t)
	for _, line := range strings.Split(p.Logs(), "\n") {
		if line == "" || strings.HasPrefix(line, "====") || strings.HasPrefix(line, "strom: ") {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if ev["node_id"] != float64(1) {
			t.Fatalf("log line without the node id: %q", line)
		}
		if ev["level"] == "ERROR" {
			t.Fatalf("ERROR logged in a clean run: %q", line)
		}
	}
}

// TestAdminPortInUseIsAStartError starts a broker on an admin port that is
// taken: it must exit at once naming the address.
func TestAdminPortInUseIsAStartError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kafka, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kafkaAddr := kafka.Addr().String()
	kafka.Close()
	out, err := exec.CommandContext(ctx, testkit.StromBinary(t), "serve", "--data-dir", t.TempDir(),
		"--listen", kafkaAddr, "--admin-listen", ln.Addr().String()).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve with a busy admin port: err=%v ctx=%v\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), "admin listener "+ln.Addr().String()) || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("the error does not name the admin address:\n%s", out)
	}
}
