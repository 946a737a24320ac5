package txn_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestStreamsExactlyOnceV2 runs a Kafka Streams application with
// processing.guarantee=exactly_once_v2 (test/txn/streams: a count per
// key, every new count written to the output, record cache off) on a
// 3-node cluster at replication factor 3. While input arrives, a second
// instance joins, the node coordinating the application's group is
// SIGKILLed, the first instance is SIGKILLed, and the node comes back.
// Afterwards the read_committed output must hold, per key, exactly the
// counts 1..n once each, n being the key's input count: nothing lost,
// nothing counted twice, no aborted count visible.
func TestStreamsExactlyOnceV2(t *testing.T) {
	fullTxn(t)
	jar := testkit.MavenJar(t, "test/txn/streams", "streams.buildDir", "strom-streams-eos.jar")
	c := testkit.StartCluster(t, 3)
	seeds := kgo.SeedBrokers(strings.Split(c.Bootstrap(), ",")...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	in, out, app := testkit.TopicName(t, "in"), testkit.TopicName(t, "out"), testkit.TopicName(t, "app")
	adm := kadm.NewClient(testkit.NewClient(t, c.Bootstrap(), seeds))
	for _, topic := range []string{in, out} {
		if r, err := adm.CreateTopic(ctx, 4, 3, nil, topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r.Err)
		}
	}

	instance := func(name string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "java", "-Xmx384m", "-jar", jar, c.Bootstrap(), app, in, out, t.TempDir())
		var mu sync.Mutex
		var buf strings.Builder
		w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			if t.Failed() {
				mu.Lock()
				t.Logf("streams instance %s:\n%s", name, buf.String())
				mu.Unlock()
			}
		})
		return cmd
	}

	const keys, perPhase = 16, 800
	counts := map[string]int64{}
	p := testkit.NewClient(t, c.Bootstrap(), seeds)
	produce := func() {
		t.Helper()
		recs := make([]*kgo.Record, perPhase)
		for i := range recs {
			k := fmt.Sprintf("k%02d", (i*7+len(counts))%keys)
			counts[k]++
			recs[i] = &kgo.Record{Topic: in, Key: []byte(k), Value: []byte("v")}
		}
		if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce input: %v", err)
		}
	}
	total := func() int64 {
		var s int64
		for _, n := range counts {
			s += n
		}
		return s
	}

	// The read_committed output, per key: every count in the order read.
	seen := map[string][]int64{}
	var seenMu sync.Mutex
	reader := testkit.NewClient(t, c.Bootstrap(), seeds, kgo.ConsumeTopics(out),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for ctx.Err() == nil {
			reader.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				seenMu.Lock()
				seen[string(r.Key)] = append(seen[string(r.Key)], int64(binary.BigEndian.Uint64(r.Value)))
				seenMu.Unlock()
			})
		}
	}()
	outputs := func() int64 {
		seenMu.Lock()
		defer seenMu.Unlock()
		var s int64
		for _, v := range seen {
			s += int64(len(v))
		}
		return s
	}
	waitOutputs := func(want int64, what string) {
		t.Helper()
		deadline := time.Now().Add(4 * time.Minute)
		for outputs() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d counts in the output, want %d", what, outputs(), want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	a := instance("a")
	produce()
	waitOutputs(perPhase/2, "first instance")
	instance("b")
	produce()
	waitOutputs(total()-perPhase/2, "two instances")
	coord, err := adm.DescribeGroups(ctx, app)
	if err != nil || coord[app].Err != nil {
		t.Fatalf("describe group %s: %v %+v", app, err, coord[app])
	}
	victim := c.Node(coord[app].Coordinator.NodeID)
	t.Logf("killing node %d, the group's coordinator", victim.ID())
	victim.Kill(t)
	produce()
	_ = a.Process.Signal(syscall.SIGKILL)
	t.Log("killed instance a")
	produce()
	victim.Restart(t)
	produce()
	waitOutputs(total(), "after the kills")
	// Anything past the expected counts (a duplicate) shows up now too.
	time.Sleep(3 * time.Second)
	cancel()
	<-readDone

	seenMu.Lock()
	defer seenMu.Unlock()
	for k, n := range counts {
		got := seen[k]
		ok := int64(len(got)) == n
		for i := 0; ok && i < len(got); i++ {
			ok = got[i] == int64(i+1)
		}
		if !ok {
			t.Errorf("key %s: %d input records, read_committed output counts %v", k, n, got)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
