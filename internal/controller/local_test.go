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

// ACLs are kept in the metadata file: added once each, removed by exact
// entry, and still there after a restart.
func TestLocalACLsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	self := metadata.Broker{ID: 1, Host: "127.0.0.1", Port: 9092}
	c, err := OpenLocal(dir, self)
	if err != nil {
		t.Fatal(err)
	}
	read := metadata.ACL{ResourceType: 2, ResourceName: "t", PatternType: 3, Principal: "User:a", Host: "*", Operation: 3, Permission: 3}
	write := read
	write.Operation = 4
	ctx := context.Background()
	if err := c.AlterACLs(ctx, AlterACLs{Creations: []metadata.ACL{read, write, read}}); err != nil {
		t.Fatal(err)
	}
	if err := c.AlterACLs(ctx, AlterACLs{Deletions: []metadata.ACL{write}, Creations: []metadata.ACL{read}}); err != nil {
		t.Fatal(err)
	}
	if err := c.AlterACLs(ctx, AlterACLs{Creations: []metadata.ACL{{ResourceType: 2, Principal: "User:a", Host: "*"}}}); err == nil {
		t.Fatal("an ACL without a resource name was applied")
	}
	c, err = OpenLocal(dir, self)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Image().ACLs; len(got) != 1 || got[0] != read {
		t.Fatalf("after a restart: %+v", got)
	}
}
