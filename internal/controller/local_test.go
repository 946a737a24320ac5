package controller

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

// A change whose metadata file cannot be written durably is neither
// applied nor published, and what was written before survives a restart.
func TestLocalChangeNotWrittenIsNotApplied(t *testing.T) {
	dir := t.TempDir()
	self := metadata.Broker{ID: 1, Host: "127.0.0.1", Port: 9092}
	fs := errorfs.Wrap(vfs.Default, nil)
	c, err := openLocal(fs, dir, self)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic(context.Background(), TopicSpec{Name: "kept", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	var published int
	c.Subscribe(func(_, _ *metadata.Image) { published++ })
	for _, p := range []errorfs.Predicate{
		errorfs.Ops(errorfs.OpSync),
		errorfs.Ops(errorfs.OpRename),
		errorfs.Ops(errorfs.OpWrite),
	} {
		fs.SetInjector(errorfs.Fail(syscall.EIO, errorfs.And(p, errorfs.PathMatch(metadataFile+"*"))))
		_, err := c.CreateTopic(context.Background(), TopicSpec{Name: "lost", Partitions: 1, ReplicationFactor: 1})
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("CreateTopic with a failing metadata file: %v, want EIO", err)
		}
		if c.Image().Topics["lost"] != nil || published != 1 {
			t.Fatalf("a change that was not written was applied (published %d times)", published)
		}
	}
	fs.SetInjector(nil)

	c, err = OpenLocal(dir, self)
	if err != nil {
		t.Fatal(err)
	}
	if im := c.Image(); im.Topics["kept"] == nil || im.Topics["lost"] != nil {
		t.Fatalf("after a restart: topics %v", im.Topics)
	}
}
