package clients_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// kcatPath returns the kcat binary, skipping the test when it is absent
// (Debian package "kcat"; CI installs it, and fails the test without it).
func kcatPath(t *testing.T) string {
	t.Helper()
	return testkit.NeedTool(t, "kcat", "kafkacat")
}

func runKcat(t *testing.T, bin string, stdin []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func TestKcatListMetadata(t *testing.T) {
	bin := kcatPath(t)
	b := testkit.StartBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
	out := runKcat(t, bin, nil, "-b", b.Addr(), "-L")
	for _, want := range []string{
		"1 brokers:",
		"broker 1 at " + b.Addr(),
		fmt.Sprintf("topic %q with %d partitions:", topic, partitions),
		"partition 0, leader 1, replicas: 1, isrs: 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kcat -L output lacks %q:\n%s", want, out)
		}
	}
}

// kcat sets the same headers on every record of one -P run, so each
// partition gets its own run with its own header values.
func TestKcatProduceConsumeCodecs(t *testing.T) {
	bin := kcatPath(t)
	b := testkit.StartBroker(t)
	const perPartition = 100
	for _, codec := range testkit.Codecs {
		t.Run(codec, func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, b.Addr(), topic, partitions, nil)
			var want []*kgo.Record
			for p := int32(0); p < partitions; p++ {
				recs := testkit.MakeRecords(topic, fmt.Sprintf("kcat-%s-p%d", codec, p), perPartition, 1)
				var in bytes.Buffer
				hval := fmt.Sprintf("kcat-%s-%d", codec, p)
				for i, r := range recs {
					r.Partition, r.Offset = p, int64(i)
					r.Headers = []kgo.RecordHeader{{Key: "origin", Value: []byte(hval)}, {Key: "empty", Value: []byte{}}}
					fmt.Fprintf(&in, "%s:%s\n", r.Key, r.Value)
				}
				// Idempotence keeps lines in order even across retries, so
				// line i lands at offset i of a fresh partition.
				runKcat(t, bin, in.Bytes(), "-b", b.Addr(), "-P", "-t", topic, "-p", strconv.Itoa(int(p)),
					"-z", codec, "-K:", "-H", "origin="+hval, "-H", "empty=",
					"-X", "acks=all", "-X", "enable.idempotence=true", "-X", "linger.ms=5")
				want = append(want, recs...)
			}
			var got []*kgo.Record
			for p := 0; p < partitions; p++ {
				out := runKcat(t, bin, nil, "-b", b.Addr(), "-C", "-e", "-t", topic, "-p", strconv.Itoa(p),
					"-o", "beginning", "-f", "%p|%o|%k|%s|%h\n")
				got = append(got, parseKcat(t, topic, out)...)
			}
			testkit.RequireSameRecords(t, want, got)
		})
	}
}

// parseKcat parses lines of "%p|%o|%k|%s|%h", headers being "k=v,k=v".
func parseKcat(t *testing.T, topic, out string) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "|", 5)
		if len(f) != 5 {
			t.Fatalf("kcat output line %q: want 5 |-separated fields", line)
		}
		p, err1 := strconv.Atoi(f[0])
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("kcat output line %q: bad partition or offset", line)
		}
		r := &kgo.Record{Topic: topic, Partition: int32(p), Offset: o, Key: []byte(f[2]), Value: []byte(f[3])}
		for _, h := range strings.Split(f[4], ",") {
			k, v, ok := strings.Cut(h, "=")
			if !ok {
				t.Fatalf("kcat output line %q: header %q is not k=v", line, h)
			}
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		recs = append(recs, r)
	}
	return recs
}
