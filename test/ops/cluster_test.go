package ops_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestClusterMetricsAndReadiness runs a 3-node cluster under a real
// client and checks: every series the shipped Grafana dashboard and
// Prometheus alert rules use exists in /metrics (the metric contract); a
// node killed with SIGKILL shows as under-replicated partitions on the
// others, which clears after its restart; /readyz of a node cut off from
// its quorum answers 503 with the reason, and 200 after the cut heals.
func TestClusterMetricsAndReadiness(t *testing.T) {
	c := testkit.StartCluster(t, 3, testkit.WithProxies(), testkit.WithNodeTOML("replica_lag_time_max = \"2s\"\n"))
	const topic, group = "ops-cluster", "ops-cluster-group"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A group member reads and commits: bytes out, a rebalance, a group
	// with lag series.
	cons, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatal(err)
	}
	for read := 0; read < 10; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		read += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cons.Close()

	t.Run("describe-quorum", func(t *testing.T) {
		// kafka-metadata-quorum describe --status/--replication's request.
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("DescribeQuorum answered %+v", resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LeaderID < 1 || p.LeaderEpoch < 1 || p.HighWatermark < 1 || len(p.CurrentVoters) != 3 {
			t.Fatalf("DescribeQuorum partition = %+v", p)
		}
		for _, v := range p.CurrentVoters {
			if v.LogEndOffset < 1 || v.LastFetchTimestamp < 1 {
				t.Fatalf("voter %d: log end %d, last fetch %d", v.ReplicaID, v.LogEndOffset, v.LastFetchTimestamp)
			}
		}
		if len(resp.Nodes) != 3 || len(resp.Nodes[0].Listeners) == 0 {
			t.Fatalf("DescribeQuorum v2 nodes = %+v", resp.Nodes)
		}
	})

	t.Run("contract", func(t *testing.T) {
		names := map[string]bool{}
		eventually(t, 20*time.Second, "every node's series", func() error {
			for _, nd := range c.Nodes() {
				for name, fam := range scrape(t, nd.AdminAddr()) {
					names[name] = true
					if fam.GetType().String() == "HISTOGRAM" {
						names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
					}
				}
			}
			if !names["kafka_consumergroup_lag"] {
				return fmt.Errorf("no group lag yet")
			}
			return nil
		})
		var missing []string
		for _, f := range []string{"../../deploy/grafana/strom.json", "../../deploy/prometheus/alerts.yml"} {
			used := seriesIn(t, f)
			if len(used) < 5 {
				t.Fatalf("%s: found only %v", f, used)
			}
			for _, s := range used {
				if !names[s] {
					missing = append(missing, filepath.Base(f)+": "+s)
				}
			}
		}
		if len(missing) > 0 {
			t.Fatalf("series used by the shipped dashboard or alerts but not exported:\n%s", strings.Join(missing, "\n"))
		}
	})

	under := func(nodes ...*testkit.ClusterNode) float64 {
		var sum float64
		for _, nd := range nodes {
			v, _ := scrape(t, nd.AdminAddr()).value("strom_under_replicated_partitions", nil)
			sum += v
		}
		return sum
	}
	n1, n2, n3 := c.Node(1), c.Node(2), c.Node(3)
	n3.Kill(t)
	eventually(t, 60*time.Second, "under-replicated partitions after kill -9 of node 3", func() error {
		if v := under(n1, n2); v == 0 {
			return fmt.Errorf("strom_under_replicated_partitions = 0 on nodes 1 and 2")
		}
		return nil
	})
	n3.Restart(t)
	eventually(t, 90*time.Second, "under-replicated partitions after node 3 restarted", func() error {
		if v := under(n1, n2, n3); v != 0 {
			return fmt.Errorf("strom_under_replicated_partitions = %v", v)
		}
		return nil
	})

	ready := func(nd *testkit.ClusterNode) (int, string) { return get(t, "http://"+nd.AdminAddr()+"/readyz") }
	if code, body := ready(n2); code != http.StatusOK {
		t.Fatalf("node 2 /readyz = %d %q before the cut", code, body)
	}
	c.Cut(t, 2)
	eventually(t, 30*time.Second, "/readyz of a node cut off", func() error {
		if code, body := ready(n2); code != http.StatusServiceUnavailable || !strings.Contains(body, "metadata quorum") {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	if code, _ := get(t, "http://"+n2.AdminAddr()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz of the cut node = %d, want 200: the process still serves", code)
	}
	c.Heal(t, 2)
	eventually(t, 30*time.Second, "/readyz after the cut healed", func() error {
		if code, body := ready(n2); code != http.StatusOK {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
}

// seriesRe matches a Prometheus series name of Strom's, kafka-exporter's
// or the Go client's collectors in a PromQL expression.
var seriesRe = regexp.MustCompile(`\b((?:strom|kafka|process|go)_[a-zA-Z0-9_]+)\b`)

// seriesIn returns the series names the expressions in file use.
func seriesIn(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, m := range seriesRe.FindAllStringSubmatch(string(b), -1) {
		set[m[1]] = true
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
