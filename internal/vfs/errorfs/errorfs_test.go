package errorfs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

func TestPredicates(t *testing.T) {
	seg := errorfs.Op{Kind: errorfs.OpSyncData, Path: "/d/00000000000000000000.log"}
	idx := errorfs.Op{Kind: errorfs.OpSync, Path: "/d/00000000000000000000.index.tmp"}
	mv := errorfs.Op{Kind: errorfs.OpRename, Path: "/d/x.tmp", NewPath: "/d/x"}
	for _, tc := range []struct {
		name string
		p    errorfs.Predicate
		op   errorfs.Op
		want bool
	}{
		{"ops", errorfs.Ops(errorfs.OpSyncData), seg, true},
		{"ops other", errorfs.Ops(errorfs.OpSyncData), idx, false},
		{"syncs", errorfs.Syncs, idx, true},
		{"match", errorfs.PathMatch("*.log"), seg, true},
		{"match other", errorfs.PathMatch("*.log"), idx, false},
		{"match new path", errorfs.PathMatch("x"), mv, true},
		{"in dir", errorfs.InDir("/d/"), seg, true},
		{"in other dir", errorfs.InDir("/e"), seg, false},
		{"and", errorfs.And(errorfs.Syncs, errorfs.PathMatch("*.log")), seg, true},
		{"and not", errorfs.And(errorfs.Syncs, errorfs.PathMatch("*.log")), idx, false},
		{"or", errorfs.Or(errorfs.PathMatch("*.log"), errorfs.Ops(errorfs.OpRename)), mv, true},
	} {
		if got := tc.p(tc.op); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTimesThenSucceeds(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	efs := errorfs.Wrap(vfs.Default, errorfs.Times(1, errorfs.Fail(syscall.EIO, errorfs.Ops(errorfs.OpSyncData))))
	f, err := efs.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = f.SyncData()
	var pe *fs.PathError
	if !errors.Is(err, syscall.EIO) || !errors.As(err, &pe) || pe.Path != name || pe.Op != "fdatasync" {
		t.Fatalf("first fdatasync: %v, want an injected EIO on %s", err, name)
	}
	// The kernel's behaviour after a failed fsync: the next one succeeds.
	if err := f.SyncData(); err != nil {
		t.Fatalf("second fdatasync: %v", err)
	}
	if efs.Injected() != 1 {
		t.Errorf("%d injections, want 1", efs.Injected())
	}
}

func TestShortWrite(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	efs := errorfs.Wrap(vfs.Default, nil)
	f, err := efs.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	efs.SetInjector(errorfs.Fail(errorfs.ShortWrite(3, syscall.ENOSPC), errorfs.Ops(errorfs.OpWrite)))
	n, err := f.WriteAt([]byte("abcdefgh"), 2)
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteAt: %d, %v; want 3 bytes and ENOSPC", n, err)
	}
	efs.SetInjector(errorfs.Fail(errorfs.ShortWrite(-1, syscall.ENOSPC), errorfs.Ops(errorfs.OpWrite)))
	if n, err := f.Write([]byte("wxyz")); n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write: %d, %v; want 2 bytes and ENOSPC", n, err)
	}
	efs.SetInjector(nil)
	got, err := os.ReadFile(name)
	if err != nil || string(got) != "wxabc" {
		t.Fatalf("file holds %q, %v", got, err)
	}
}

func TestFailedOperationsDoNothing(t *testing.T) {
	dir := t.TempDir()
	efs := errorfs.Wrap(vfs.Default, errorfs.Fail(errorfs.ErrInjected, errorfs.PathMatch("victim*")))
	if _, err := efs.Create(filepath.Join(dir, "victim")); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("create: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "victim")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed create made the file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var le *os.LinkError
	if err := efs.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "victim2")); !errors.Is(err, errorfs.ErrInjected) || !errors.As(err, &le) {
		t.Fatalf("rename: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err != nil {
		t.Fatalf("a failed rename moved the file: %v", err)
	}
	if err := efs.MkdirAll(filepath.Join(dir, "victim3"), 0o755); !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("mkdir: %v", err)
	}
	if efs.Injected() != 3 {
		t.Errorf("%d injections, want 3", efs.Injected())
	}
}
