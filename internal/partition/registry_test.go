package partition

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/storage"
	"github.com/strom-broker/strom/internal/vfs"
)

// singleImage is an image with one single-replica topic per name, each of
// one partition on node 1.
func singleImage(topics map[string]metadata.TopicID) *metadata.Image {
	im := &metadata.Image{Topics: map[string]*metadata.Topic{}, TopicsByID: map[metadata.TopicID]*metadata.Topic{},
		Brokers: []metadata.Broker{{ID: 1, Host: "127.0.0.1", Port: 9001}}}
	for name, id := range topics {
		tp := &metadata.Topic{Name: name, ID: id, Partitions: []metadata.Partition{
			{Index: 0, Leader: 1, LeaderEpoch: 1, Replicas: []ids.NodeID{1}, ISR: []ids.NodeID{1}},
		}}
		im.Topics[name], im.TopicsByID[id] = tp, tp
	}
	return im
}

// logRegistry opens a registry on dir whose log lines are kept in buf.
func logRegistry(dir string, buf *bytes.Buffer) *Registry {
	return NewRegistry(dir, 1, config.Default().Log, slog.New(slog.NewTextHandler(buf, nil)))
}

// write appends n records to topic's partition 0 and waits until they are
// visible.
func write(t *testing.T, reg *Registry, topic string, n int) {
	t.Helper()
	p := reg.Get(topic, 0)
	if p == nil {
		t.Fatalf("%s-0 is not open", topic)
	}
	b := batch(t, n, -1, -1, topic)
	res, err := p.Append(b, FromClient)
	must(t, err)
	must(t, p.WaitVisible(context.Background(), res.LastOffset))
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	must(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// strays returns the stray directories of partition name (e.g. "a-0") in dir.
func strays(t *testing.T, dir, name string) []string {
	t.Helper()
	var out []string
	for _, e := range entries(t, dir) {
		if strings.HasPrefix(e, name+".") && strings.HasSuffix(e, storage.StrayDirSuffix) {
			out = append(out, e)
		}
	}
	return out
}

func TestStartupStampsSetsAsideAndRemovesInterruptedDeletions(t *testing.T) {
	dir := t.TempDir()
	idA, idB := metadata.NewTopicID(), metadata.NewTopicID()
	var buf bytes.Buffer
	reg := logRegistry(dir, &buf)
	must(t, reg.Apply(singleImage(map[string]metadata.TopicID{"a": idA, "b": idB})))
	write(t, reg, "a", 3)
	write(t, reg, "b", 2)
	must(t, reg.Close())

	// a-0 as written before ids were recorded; b-0 belongs to a topic the
	// next image does not have; a deletion of c-0 was interrupted.
	must(t, os.Remove(filepath.Join(dir, "a-0", partitionMetadataFile)))
	must(t, os.MkdirAll(filepath.Join(dir, "c-0.0123456789abcdef0123456789abcdef-delete"), 0o755))

	buf.Reset()
	reg = logRegistry(dir, &buf)
	im := singleImage(map[string]metadata.TopicID{"a": idA})
	must(t, reg.Startup(im))
	must(t, reg.Apply(im))
	if got, ok, err := readTopicID(vfs.Default, filepath.Join(dir, "a-0")); err != nil || !ok || got != idA {
		t.Errorf("a-0 records topic id %v (recorded %v, err %v), want it stamped with %v", got, ok, err, idA)
	}
	if end := reg.Get("a", 0).LogEndOffset(); end != 3 {
		t.Errorf("a-0 log end %d after the upgrade stamp, want 3", end)
	}
	if _, err := os.Stat(filepath.Join(dir, "b-0")); !os.IsNotExist(err) {
		t.Errorf("b-0 is still under its name (stat: %v); a directory the image does not explain must be set aside", err)
	}
	if s := strays(t, dir, "b-0"); len(s) != 1 {
		t.Fatalf("stray directories of b-0: %v, want one; data dir: %v", s, entries(t, dir))
	}
	if s := strays(t, dir, "b-0"); len(s) == 1 {
		if got, _, _ := readTopicID(vfs.Default, filepath.Join(dir, s[0])); got != idB {
			t.Errorf("stray %s records %v, want b's id %v kept", s[0], got, idB)
		}
	}
	for _, e := range entries(t, dir) {
		if strings.HasSuffix(e, storage.DeleteDirSuffix) {
			t.Errorf("%s left in place; an interrupted deletion is finished at start", e)
		}
	}
	if !strings.Contains(buf.String(), "stray partition directory") {
		t.Errorf("no stray warning logged:\n%s", buf.String())
	}
	must(t, reg.Close())

	// Every start reports the strays again and leaves them alone.
	buf.Reset()
	reg = logRegistry(dir, &buf)
	must(t, reg.Startup(im))
	must(t, reg.Close())
	if !strings.Contains(buf.String(), "stray partition directory") || len(strays(t, dir, "b-0")) != 1 {
		t.Errorf("second start: strays %v, log:\n%s", strays(t, dir, "b-0"), buf.String())
	}
}

func TestStartupSetsAsideDirectoryOfAnotherTopicID(t *testing.T) {
	dir := t.TempDir()
	old, now := metadata.NewTopicID(), metadata.NewTopicID()
	reg := logRegistry(dir, new(bytes.Buffer))
	must(t, reg.Apply(singleImage(map[string]metadata.TopicID{"a": old})))
	write(t, reg, "a", 5)
	must(t, reg.Close())

	// While this node was down, a was deleted and re-created.
	reg = logRegistry(dir, new(bytes.Buffer))
	im := singleImage(map[string]metadata.TopicID{"a": now})
	must(t, reg.Startup(im))
	must(t, reg.Apply(im))
	defer func() { must(t, reg.Close()) }()
	if end := reg.Get("a", 0).LogEndOffset(); end != 0 {
		t.Errorf("re-created a-0 has log end %d, want 0: it adopted the old topic's data", end)
	}
	s := strays(t, dir, "a-0")
	if len(s) != 1 {
		t.Fatalf("strays of a-0: %v, want the old topic's directory", s)
	}
	if got, _, _ := readTopicID(vfs.Default, filepath.Join(dir, s[0])); got != old {
		t.Errorf("stray records %v, want the old id %v", got, old)
	}
}

func TestApplyDeletesInOrderButSetsAsideFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	idA, idB := metadata.NewTopicID(), metadata.NewTopicID()
	reg := logRegistry(dir, new(bytes.Buffer))
	defer func() { must(t, reg.Close()) }()
	must(t, reg.Apply(singleImage(map[string]metadata.TopicID{"a": idA, "b": idB})))
	write(t, reg, "a", 1)
	write(t, reg, "b", 1)

	// A deletion applied in order removes the data.
	must(t, reg.Apply(singleImage(map[string]metadata.TopicID{"b": idB})))
	for _, e := range entries(t, dir) {
		if strings.HasPrefix(e, "a-0") {
			t.Errorf("%s still in the data dir after a's deletion was applied", e)
		}
	}

	// A snapshot without b proves nothing: b's data is set aside.
	snap := singleImage(map[string]metadata.TopicID{})
	snap.FromSnapshot = true
	must(t, reg.Apply(snap))
	if reg.Get("b", 0) != nil {
		t.Errorf("b-0 still open after an image without it")
	}
	if s := strays(t, dir, "b-0"); len(s) != 1 {
		t.Errorf("strays of b-0 after a snapshot without b: %v (data dir %v), want one", s, entries(t, dir))
	}

	// A name taken by a new topic id, in order: the old data is deleted
	// and the new topic starts empty.
	idA2 := metadata.NewTopicID()
	must(t, reg.Apply(singleImage(map[string]metadata.TopicID{"a": idA})))
	write(t, reg, "a", 4)
	must(t, reg.Apply(singleImage(map[string]metadata.TopicID{"a": idA2})))
	p := reg.Get("a", 0)
	if p.TopicID != idA2 || p.LogEndOffset() != 0 {
		t.Errorf("a-0 is topic %v with log end %d, want the new id %v, empty", p.TopicID, p.LogEndOffset(), idA2)
	}
	if s := strays(t, dir, "a-0"); len(s) != 0 {
		t.Errorf("strays of a-0 %v: an in-order re-creation deletes the old data", s)
	}
}

func TestOpenRefusesAnotherTopicsDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a-0")
	id := metadata.NewTopicID()
	cfg := config.TopicConfig{}
	p, err := Open(dir, "a", id, 0, cfg, 0, slog.New(slog.DiscardHandler))
	must(t, err)
	must(t, p.Close())
	if _, err := Open(dir, "a", metadata.NewTopicID(), 0, cfg, 0, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("opened a directory recording another topic id")
	}
	p, err = Open(dir, "a", id, 0, cfg, 0, slog.New(slog.DiscardHandler))
	must(t, err)
	must(t, p.Close())
}

func TestPartitionMetadataFormat(t *testing.T) {
	dir := t.TempDir()
	id, err := metadata.ParseTopicID("0Dc0-EGdS6OqNuGZT3SGbw")
	must(t, err)
	must(t, writeTopicID(vfs.Default, dir, id))
	raw, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	must(t, err)
	if want := "version: 0\ntopic_id: 0Dc0-EGdS6OqNuGZT3SGbw\n"; string(raw) != want {
		t.Errorf("partition.metadata is %q, want Kafka's %q", raw, want)
	}
	for _, bad := range []string{"version: 1\ntopic_id: 0Dc0-EGdS6OqNuGZT3SGbw\n", "version: 0\ntopic_id: nope\n", ""} {
		must(t, os.WriteFile(filepath.Join(dir, partitionMetadataFile), []byte(bad), 0o644))
		if _, _, err := readTopicID(vfs.Default, dir); err == nil {
			t.Errorf("read %q without an error", bad)
		}
	}
}
