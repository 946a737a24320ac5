package partition

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/storage"
	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

// offlineReports records the replicas a registry reports offline.
type offlineReports struct {
	mu  sync.Mutex
	got []Key
	c   chan Key
}

func newOfflineReports() *offlineReports { return &offlineReports{c: make(chan Key, 16)} }

func (o *offlineReports) report(_ context.Context, topic string, partition int32) error {
	o.mu.Lock()
	o.got = append(o.got, Key{topic, partition})
	o.mu.Unlock()
	o.c <- Key{topic, partition}
	return nil
}

// breakLastBatch overwrites the length of the last of n equal batches in
// the only segment of dir, as damage after a clean stop; it returns the
// segment file and the batch's position.
func breakLastBatch(t *testing.T, dir string, n int) (string, int64) {
	t.Helper()
	file := filepath.Join(dir, "00000000000000000000.log")
	fi, err := os.Stat(file)
	must(t, err)
	pos := fi.Size() / int64(n) * int64(n-1)
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte{0x7f, 0xff, 0xff, 0xff}, pos+8)
	must(t, err)
	return file, pos
}

// A partition whose log is damaged below its end (here after a clean stop,
// where every byte was acknowledged) is held offline on a single node: the
// registry opens every other partition, says which file, position and why,
// and answers for the damaged one with an error, until the node restarts.
// A partition.metadata that cannot be read holds it offline too, never set
// aside or started empty.
func TestDamagedPartitionHeldOffline(t *testing.T) {
	dir := t.TempDir()
	idA, idB, idC := metadata.NewTopicID(), metadata.NewTopicID(), metadata.NewTopicID()
	im := singleImage(map[string]metadata.TopicID{"a": idA, "b": idB, "c": idC})
	var buf bytes.Buffer
	reg := logRegistry(dir, &buf)
	must(t, reg.Startup(im))
	must(t, reg.Apply(im))
	for _, topic := range []string{"a", "b", "c"} {
		for range 5 {
			write(t, reg, topic, 2)
		}
	}
	must(t, reg.Close())
	file, pos := breakLastBatch(t, filepath.Join(dir, "a-0"), 5)
	meta := filepath.Join(dir, "c-0", "partition.metadata")
	must(t, os.WriteFile(meta, []byte("version: 7\ngarbage\n"), 0o644))

	buf.Reset()
	reg = logRegistry(dir, &buf)
	defer reg.Close()
	must(t, reg.Startup(im))
	if err := reg.Apply(im); err != nil {
		t.Fatalf("Apply with a damaged partition: %v; the rest of the node must open", err)
	}
	if reg.Get("a", 0) != nil {
		t.Fatal("the damaged partition was opened")
	}
	err := reg.Offline("a", 0)
	var d *storage.DamageError
	if !errors.As(err, &d) || d.File != file || d.Position != pos || d.Offset != 8 {
		t.Fatalf("Offline(a-0) = %v, want the damage at %s:%d, offset 8", err, file, pos)
	}
	for _, want := range []string{file, "position=" + strconv.FormatInt(pos, 10), "partition offline"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, buf.String())
		}
	}
	if reg.Get("c", 0) != nil || reg.Offline("c", 0) == nil || !strings.Contains(reg.Offline("c", 0).Error(), meta) {
		t.Fatalf("c-0 with a garbage partition.metadata: open %v, offline %v", reg.Get("c", 0) != nil, reg.Offline("c", 0))
	}
	if s := strays(t, dir, "c-0"); len(s) != 0 {
		t.Fatalf("c-0 set aside: %v", s)
	}
	write(t, reg, "b", 1)
	// A later image leaves it offline, without opening it again.
	buf.Reset()
	must(t, reg.Apply(im))
	if reg.Get("a", 0) != nil || reg.Offline("a", 0) == nil || strings.Contains(buf.String(), "partition offline") {
		t.Fatalf("a later image changed the offline partition:\n%s", buf.String())
	}
	// The topic is deleted: the damaged data is set aside, not read.
	delete(im.Topics, "a")
	delete(im.TopicsByID, idA)
	must(t, reg.Apply(im))
	if reg.Offline("a", 0) != nil || len(strays(t, dir, "a-0")) != 1 {
		t.Fatalf("after deletion: offline %v, strays %v", reg.Offline("a", 0), strays(t, dir, "a-0"))
	}
}

// clusterImage is topic a of one partition on nodes 1-3, led by leader.
func clusterImage(id metadata.TopicID, leader ids.NodeID, epoch ids.LeaderEpoch, isr ...ids.NodeID) *metadata.Image {
	im := &metadata.Image{Topics: map[string]*metadata.Topic{}, TopicsByID: map[metadata.TopicID]*metadata.Topic{}}
	for n := ids.NodeID(1); n <= 3; n++ {
		im.Brokers = append(im.Brokers, metadata.Broker{ID: n, Host: "127.0.0.1", Port: 9000 + int32(n)})
	}
	tp := &metadata.Topic{Name: "a", ID: id, Partitions: []metadata.Partition{
		{Index: 0, Leader: leader, LeaderEpoch: epoch, Replicas: []ids.NodeID{1, 2, 3}, ISR: isr},
	}}
	im.Topics["a"], im.TopicsByID[id] = tp, tp
	return im
}

// A replica whose log is damaged below its end, with another live replica
// in sync, is cut at the last good batch and reported offline, as a Kafka
// follower does after a log-directory failure: while the image still makes
// it leader it refuses produces and reads (KAFKA_STORAGE_ERROR) instead of
// serving a shortened log; once leadership has moved it follows and fetches
// the range again.
func TestDamagedReplicaCutAndReported(t *testing.T) {
	dir := t.TempDir()
	id := metadata.NewTopicID()
	single := singleImage(map[string]metadata.TopicID{"a": id})
	reg := logRegistry(dir, &bytes.Buffer{})
	must(t, reg.Startup(single))
	must(t, reg.Apply(single))
	for range 5 {
		write(t, reg, "a", 2)
	}
	must(t, reg.Close())
	breakLastBatch(t, filepath.Join(dir, "a-0"), 5)

	var buf bytes.Buffer
	reg = logRegistry(dir, &buf)
	defer reg.Close()
	reports := newOfflineReports()
	reg.SetReplicaOffline(reports.report)
	im := clusterImage(id, 1, 3, 1, 2, 3)
	must(t, reg.Startup(im))
	must(t, reg.Apply(im))
	p := reg.Get("a", 0)
	if p == nil {
		t.Fatalf("damaged replica not opened: %v", reg.Offline("a", 0))
	}
	if leo := p.LogEndOffset(); leo != 8 {
		t.Fatalf("log end %d after the cut, want 8 (the last good batch)", leo)
	}
	if k := <-reports.c; k != (Key{"a", 0}) {
		t.Fatalf("reported %v", k)
	}
	if err := p.Offline(); !errors.Is(err, storage.ErrCorruptSegment) {
		t.Fatalf("damaged leader Offline() = %v, want the damage", err)
	}
	if _, err := p.Append(batch(t, 1, -1, -1, "x"), FromClient); !errors.Is(err, storage.ErrCorruptSegment) {
		t.Fatalf("produce to the damaged leader: %v", err)
	}
	if !strings.Contains(buf.String(), "cutting a damaged replica") {
		t.Errorf("the cut is not logged:\n%s", buf.String())
	}
	// The controller moved leadership: the replica follows.
	must(t, reg.Apply(clusterImage(id, 2, 4, 2, 3)))
	if err := p.Offline(); err != nil {
		t.Fatalf("follower Offline() = %v", err)
	}
	if role, leader, _ := p.Role(); role != RoleFollower || leader != 2 {
		t.Fatalf("role %v leader %d, want follower of 2", role, leader)
	}
}

// A failed fdatasync is reported, once, so that leadership moves; a close
// racing a sync is not a failure and reports nothing.
func TestFailedSyncReported(t *testing.T) {
	dir := t.TempDir()
	id := metadata.NewTopicID()
	im := singleImage(map[string]metadata.TopicID{"a": id, "b": metadata.NewTopicID()})
	fs := errorfs.Wrap(vfs.Default, nil)
	reg := logRegistry(dir, &bytes.Buffer{})
	reg.SetFS(fs)
	reports := newOfflineReports()
	reg.SetReplicaOffline(reports.report)
	must(t, reg.Startup(im))
	must(t, reg.Apply(im))
	write(t, reg, "a", 1)
	fs.SetInjector(errorfs.Fail(syscall.EIO, errorfs.And(errorfs.Ops(errorfs.OpSyncData), errorfs.PathMatch("*.log"),
		func(op errorfs.Op) bool { return strings.Contains(op.Path, "a-0") })))
	p := reg.Get("a", 0)
	for range 3 {
		res, err := p.Append(batch(t, 1, -1, -1, "x"), FromClient)
		if err == nil {
			err = p.WaitVisible(context.Background(), res.LastOffset)
		}
		if !errors.Is(err, storage.ErrFailed) {
			t.Fatalf("produce with a failing sync: %v", err)
		}
	}
	if k := <-reports.c; k != (Key{"a", 0}) {
		t.Fatalf("reported %v", k)
	}
	if err := p.Offline(); !errors.Is(err, storage.ErrFailed) {
		t.Fatalf("Offline() = %v", err)
	}
	write(t, reg, "b", 1)
	fs.SetInjector(nil)
	_ = reg.Close()
	reports.mu.Lock()
	defer reports.mu.Unlock()
	if len(reports.got) != 1 {
		t.Fatalf("reports %v, want one", reports.got)
	}
}

// A damaged replica that finds no in-sync peer alive when it opens (a
// whole-cluster restart, the others not yet back) stays offline rather
// than lead on a cut log; once an image shows a live in-sync peer, it is
// cut and opened to fetch the range again.
func TestDamagedReplicaWaitsForAPeer(t *testing.T) {
	dir := t.TempDir()
	id := metadata.NewTopicID()
	single := singleImage(map[string]metadata.TopicID{"a": id})
	reg := logRegistry(dir, &bytes.Buffer{})
	must(t, reg.Startup(single))
	must(t, reg.Apply(single))
	for range 5 {
		write(t, reg, "a", 2)
	}
	must(t, reg.Close())
	breakLastBatch(t, filepath.Join(dir, "a-0"), 5)

	reg = logRegistry(dir, &bytes.Buffer{})
	defer reg.Close()
	reports := newOfflineReports()
	reg.SetReplicaOffline(reports.report)
	alone := clusterImage(id, 1, 3, 1, 2, 3)
	for i := range alone.Brokers {
		alone.Brokers[i].Fenced = alone.Brokers[i].ID != 1
	}
	must(t, reg.Startup(alone))
	must(t, reg.Apply(alone))
	if reg.Get("a", 0) != nil || !errors.Is(reg.Offline("a", 0), storage.ErrCorruptSegment) {
		t.Fatalf("with no live peer: open %v, offline %v", reg.Get("a", 0) != nil, reg.Offline("a", 0))
	}
	must(t, reg.Apply(clusterImage(id, 2, 4, 2, 3)))
	p := reg.Get("a", 0)
	if p == nil || reg.Offline("a", 0) != nil {
		t.Fatalf("with a live peer: open %v, offline %v", p != nil, reg.Offline("a", 0))
	}
	if leo := p.LogEndOffset(); leo != 8 {
		t.Fatalf("log end %d, want 8", leo)
	}
	if role, leader, _ := p.Role(); role != RoleFollower || leader != 2 {
		t.Fatalf("role %v leader %d, want follower of 2", role, leader)
	}
	if k := <-reports.c; k != (Key{"a", 0}) {
		t.Fatalf("reported %v", k)
	}
}
