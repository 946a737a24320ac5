package faults_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

// faultCase is one disk fault of the matrix, injected under a partition's
// directory while a client produces to it.
type faultCase struct {
	name string
	// inject makes the fault, for the partition directory dir.
	inject func(dir string) errorfs.Injector
	// offline: the fault leaves the on-disk state unknown (a failed sync,
	// a partial write that cannot be cut off), so the partition answers
	// KAFKA_STORAGE_ERROR until the broker restarts; otherwise it takes
	// produces again as soon as the disk does.
	offline bool
	quick   bool // in the default test run
}

func in(dir string, kinds []errorfs.OpKind, pattern string) errorfs.Predicate {
	return errorfs.And(errorfs.InDir(dir), errorfs.Ops(kinds...), errorfs.PathMatch(pattern))
}

var (
	writes = []errorfs.OpKind{errorfs.OpWrite}
	opens  = []errorfs.OpKind{errorfs.OpCreate, errorfs.OpWrite}
)

var faultMatrix = []faultCase{
	{name: "ENOSPC on append", quick: true, inject: func(d string) errorfs.Injector {
		return errorfs.Times(3, errorfs.Fail(syscall.ENOSPC, in(d, writes, "*.log")))
	}},
	{name: "EIO on fdatasync", quick: true, offline: true, inject: func(d string) errorfs.Injector {
		return errorfs.Times(1, errorfs.Fail(syscall.EIO, in(d, []errorfs.OpKind{errorfs.OpSyncData}, "*.log")))
	}},
	{name: "short write on a full disk", inject: func(d string) errorfs.Injector {
		return errorfs.Times(3, errorfs.Fail(errorfs.ShortWrite(-1, syscall.ENOSPC), in(d, writes, "*.log")))
	}},
	{name: "short write that cannot be cut off", offline: true, inject: func(d string) errorfs.Injector {
		return errorfs.Any(
			errorfs.Times(1, errorfs.Fail(errorfs.ShortWrite(-1, syscall.EIO), in(d, writes, "*.log"))),
			errorfs.Fail(syscall.EIO, in(d, []errorfs.OpKind{errorfs.OpTruncate}, "*.log")))
	}},
	{name: "ENOSPC on roll: the index of the rolled segment", inject: func(d string) errorfs.Injector {
		return errorfs.Times(3, errorfs.Fail(syscall.ENOSPC, in(d, opens, "*.index"+vfs.TempSuffix)))
	}},
	{name: "ENOSPC on roll: the new segment", inject: func(d string) errorfs.Injector {
		return errorfs.Times(3, errorfs.Fail(syscall.ENOSPC, in(d, []errorfs.OpKind{errorfs.OpCreate}, "*.log")))
	}},
	{name: "ENOSPC on roll: the recovery point", inject: func(d string) errorfs.Injector {
		return errorfs.Times(3, errorfs.Fail(syscall.ENOSPC, in(d, opens, "recovery-point"+vfs.TempSuffix)))
	}},
	{name: "EIO on the directory sync of a roll", inject: func(d string) errorfs.Injector {
		return errorfs.Times(1, errorfs.Fail(syscall.EIO, errorfs.And(errorfs.Ops(errorfs.OpSyncDir), func(op errorfs.Op) bool {
			return filepath.Clean(op.Path) == filepath.Clean(d)
		})))
	}},
	{name: "ENOSPC everywhere in the partition", inject: func(d string) errorfs.Injector {
		return errorfs.Times(20, errorfs.Fail(syscall.ENOSPC, errorfs.And(errorfs.InDir(d),
			errorfs.Ops(errorfs.OpCreate, errorfs.OpWrite, errorfs.OpRename, errorfs.OpTruncate))))
	}},
}

// TestDiskFaultMatrix produces through franz-go to a broker whose
// partition directory fails in one way at a time, and checks the rules of
// docs/DESIGN.md "Disk faults": a produce the disk refused gets
// KAFKA_STORAGE_ERROR and is never acknowledged; nothing half-written is
// served; the other partitions keep serving; a fault that leaves the disk
// state unknown holds the partition offline until a restart, any other
// lets it take produces again as soon as the disk does; and every
// acknowledged record reads back unaltered, before and after a restart.
// The default run has the quick cases; STROM_FAULTS=full (make
// fault-matrix) runs them all.
func TestDiskFaultMatrix(t *testing.T) {
	full := os.Getenv("STROM_FAULTS") == "full"
	for _, fc := range faultMatrix {
		t.Run(fc.name, func(t *testing.T) {
			if !fc.quick && !full {
				t.Skip("slow matrix: STROM_FAULTS=full (make fault-matrix)")
			}
			runFaultCase(t, fc)
		})
	}
}

func runFaultCase(t *testing.T, fc faultCase) {
	fs := errorfs.Wrap(vfs.Default, nil)
	b := testkit.StartBrokerFS(t, fs, testkit.WithConfig(func(c *config.Config) {
		c.Log.SegmentBytes = 16 << 10 // a roll every few records
	}))
	topic, other := testkit.TopicName(t, "victim"), testkit.TopicName(t, "other")
	testkit.CreateTopic(t, b.Addr(), topic, 1, nil)
	testkit.CreateTopic(t, b.Addr(), other, 1, nil)
	dir := filepath.Join(b.Config().DataDir, topic+"-0")

	cl := testkit.NewClient(t, b.Addr(), testkit.ManualPartitioner(),
		kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordRetries(1), kgo.RecordDeliveryTimeout(30*time.Second),
		kgo.MetadataMinAge(50*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var acked []*kgo.Record
	produced := map[string]bool{}
	n := 0
	produce := func(topic string) error {
		r := &kgo.Record{Topic: topic, Value: randomValue(n, 3<<10)}
		n++
		produced[string(r.Value)] = true
		err := cl.ProduceSync(ctx, r).FirstErr()
		if err == nil {
			acked = append(acked, r)
		}
		return err
	}
	for range 10 {
		if err := produce(topic); err != nil {
			t.Fatal(err)
		}
	}

	fs.SetInjector(fc.inject(dir))
	refused := 0
	for range 20 {
		if err := produce(topic); err != nil {
			if !errors.Is(err, kerr.KafkaStorageError) {
				t.Fatalf("produce on a failing disk: %v, want KAFKA_STORAGE_ERROR", err)
			}
			refused++
		}
	}
	if fs.Injected() == 0 {
		t.Fatal("the fault was never hit")
	}
	// The rest of the node serves throughout.
	if err := produce(other); err != nil {
		t.Fatalf("produce to another partition: %v", err)
	}
	fs.SetInjector(nil)
	t.Logf("%d faults injected, %d produces refused, %d acknowledged", fs.Injected(), refused, len(acked))

	if fc.offline {
		if refused == 0 {
			t.Fatal("no produce was refused")
		}
		produceErr, fetchErr := partitionErrors(t, b.Addr(), topic)
		if produceErr != kerr.KafkaStorageError.Code || fetchErr != kerr.KafkaStorageError.Code {
			t.Fatalf("offline partition: produce %v, fetch %v; want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(produceErr), kerr.ErrorForCode(fetchErr))
		}
	} else {
		// The disk takes writes again: so does the partition, at once.
		if err := produce(topic); err != nil {
			t.Fatalf("produce once the disk works again: %v", err)
		}
		checkServed(t, b.Addr(), topic, acked, produced)
	}
	b.Restart(t)
	checkServed(t, b.Addr(), topic, acked, produced)
	checkServed(t, b.Addr(), other, acked, produced)
	if err := produce(topic); err != nil {
		t.Fatalf("produce after a restart: %v", err)
	}
	checkServed(t, b.Addr(), topic, acked, produced)
}

// checkServed reads topic's partition 0 whole: every acknowledged record
// is there, at its offset, unaltered, and nothing else is but records a
// producer sent (a refused one may survive, never a torn one).
func checkServed(t *testing.T, addr, topic string, acked []*kgo.Record, produced map[string]bool) {
	t.Helper()
	got := testkit.ConsumePartitions(t, addr, topic, 1)
	at := map[int64]*kgo.Record{}
	for _, r := range got {
		if !produced[string(r.Value)] {
			t.Fatalf("%s: offset %d holds a record nobody produced (%d bytes)", topic, r.Offset, len(r.Value))
		}
		at[r.Offset] = r
	}
	for _, r := range acked {
		if r.Topic != topic {
			continue
		}
		g := at[r.Offset]
		if g == nil || !bytes.Equal(g.Value, r.Value) {
			t.Fatalf("%s: acknowledged record at offset %d not read back unaltered", topic, r.Offset)
		}
	}
}
