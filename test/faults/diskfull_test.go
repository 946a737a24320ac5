package faults_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends. Without the right to mount, the test is skipped,
// except under CI=true, where it fails.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): %v: %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// A real full disk: a broker whose data directory is a 4 MiB tmpfs is
// filled through franz-go until a produce fails with KAFKA_STORAGE_ERROR.
// While full it keeps serving reads; once space is freed (a file on the
// same tmpfs is removed) it takes produces again without a restart, and
// every acknowledged record reads back as it was written.
func TestFullDiskRecoversWithoutRestart(t *testing.T) {
	mnt := mountTmpfs(t, 4<<20)
	// Ballast the test frees later: space only the operator can give back.
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, bytes.Repeat([]byte{'b'}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(mnt, "data")
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.DataDir = data
		c.Log.SegmentBytes = 256 << 10 // rolls happen while the disk fills
	}))
	fill, other := testkit.TopicName(t, "fill"), testkit.TopicName(t, "other")
	testkit.CreateTopic(t, b.Addr(), fill, 1, nil)
	testkit.CreateTopic(t, b.Addr(), other, 1, nil)

	cl := testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner(),
		kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(10*time.Second), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var acked []*kgo.Record
	produce := func(topic string, i int) error {
		r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: randomValue(i, 16<<10)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return err
		}
		acked = append(acked, r)
		return nil
	}
	otherRec := &kgo.Record{Topic: other, Value: []byte("before the disk filled")}
	if err := cl.ProduceSync(ctx, otherRec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var full error
	n := 0
	for ; n < 1000; n++ {
		if full = produce(fill, n); full != nil {
			break
		}
	}
	if full == nil {
		t.Fatalf("produced %d records of 16 KiB to a 4 MiB disk without an error", n)
	}
	if !errors.Is(full, kerr.KafkaStorageError) {
		t.Fatalf("produce on a full disk after %d records: %v, want KAFKA_STORAGE_ERROR", n, full)
	}
	t.Logf("disk full after %d acknowledged records: %v", len(acked), full)

	// Full: reads go on, on this partition and the others.
	checkReadBack(t, b.Addr(), fill, acked)
	checkReadBack(t, b.Addr(), other, []*kgo.Record{otherRec})

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	// Space is back: produces succeed again, without a restart.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := produce(fill, n)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("produce after space was freed: %v", err)
		}
		n++
	}
	for i := n + 1; i < n+10; i++ {
		if err := produce(fill, i); err != nil {
			t.Fatalf("produce after space was freed: %v", err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: other, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce to another topic after space was freed: %v", err)
	}
	checkReadBack(t, b.Addr(), fill, acked)
}

// checkReadBack reads the partition from its start and requires exactly
// the acknowledged records, in order, unaltered.
func checkReadBack(t *testing.T, addr, topic string, acked []*kgo.Record) {
	t.Helper()
	var want []*kgo.Record
	for _, r := range acked {
		if r.Topic == topic {
			want = append(want, r)
		}
	}
	got := testkit.ConsumePartitions(t, addr, topic, 1)
	if len(got) != len(want) {
		t.Fatalf("%s: read %d records, %d acknowledged", topic, len(got), len(want))
	}
	for i := range want {
		if got[i].Offset != want[i].Offset || !bytes.Equal(got[i].Value, want[i].Value) || !bytes.Equal(got[i].Key, want[i].Key) {
			t.Fatalf("%s: record %d: %s", topic, i, testkit.DiffRecord(want[i], got[i]))
		}
	}
}

// randomValue is n bytes that do not compress, different for each i.
func randomValue(i, n int) []byte {
	v := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(i >> 16)}).Read(v)
	return v
}
