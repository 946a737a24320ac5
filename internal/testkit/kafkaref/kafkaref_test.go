package kafkaref

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// roundTrip creates a topic, produces one record with acks=all and reads it back.
func roundTrip(t *testing.T, seeds []string, replicas int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	const topic = "kafkaref-roundtrip"
	resp, err := adm.CreateTopic(ctx, 3, replicas, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v / %v", err, resp.Err)
	}

	rec := &kgo.Record{Topic: topic, Partition: 1, Key: []byte("k"), Value: []byte("hello kafka")}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {1: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		for _, fe := range fetches.Errors() {
			t.Fatalf("fetch %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		if recs := fetches.Records(); len(recs) > 0 {
			got := recs[0]
			if string(got.Key) != "k" || string(got.Value) != "hello kafka" || got.Partition != 1 || got.Offset != 0 {
				t.Fatalf("got record key=%q value=%q offset=%d", got.Key, got.Value, got.Offset)
			}
			return
		}
	}
}

func TestSingleNode(t *testing.T) {
	b := Start(t, Options{})
	if b.PID() <= 0 || !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Fatalf("bad broker: pid %d addr %q", b.PID(), b.Addr())
	}
	roundTrip(t, []string{b.Addr()}, 1)
}

func TestThreeNodes(t *testing.T) {
	b := Start(t, Options{Nodes: 3})
	if got := len(b.PIDs()); got != 3 {
		t.Fatalf("%d nodes, want 3", got)
	}
	// Bootstrap through the last node, as clients do through any broker.
	roundTrip(t, []string{b.Addrs()[2]}, 3)
}

func TestStopIsIdempotent(t *testing.T) {
	b := Start(t, Options{})
	pid := b.PID()
	b.Stop()
	b.Stop() // and again from t.Cleanup
	if processAlive(pid) {
		t.Fatalf("broker pid %d still running after Stop", pid)
	}
}

func TestClusterIDNeverLooksLikeAFlag(t *testing.T) {
	for i := 0; i < 2000; i++ {
		if id := newClusterID(); len(id) != 22 || id[0] == '-' {
			t.Fatalf("bad cluster id %q", id)
		}
	}
}

func TestEnsureJarsFetchesOnceIntoCache(t *testing.T) {
	if testing.Short() {
		t.Skip("runs maven")
	}
	testkit.NeedTool(t, "mvn")
	libDir := filepath.Join(t.TempDir(), "kafka", "libs")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got, err := EnsureJars(ctx, DefaultVersion, libDir, "")
	if err != nil {
		t.Fatal(err)
	}
	if got != libDir || !jarsPresent(libDir, DefaultVersion) {
		t.Fatalf("jars not in %s", libDir)
	}
	for _, jar := range []string{"kafka-clients-", "log4j-core-", "log4j-slf4j-impl-", "scala-library-"} {
		if m, _ := filepath.Glob(filepath.Join(libDir, jar+"*.jar")); len(m) == 0 {
			t.Errorf("no %s*.jar in %s", jar, libDir)
		}
	}
	// Present jars are taken as they are, even with maven out of reach.
	t.Setenv("PATH", "")
	if _, err := EnsureJars(ctx, DefaultVersion, libDir, "/nonexistent/pom.xml"); err != nil {
		t.Fatalf("second call: %v", err)
	}
}
