package vfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/strom-broker/strom/internal/vfs"
	"github.com/strom-broker/strom/internal/vfs/errorfs"
)

func TestWriteAtomic(t *testing.T) {
	for _, d := range []vfs.Durability{vfs.Durable, vfs.NotSynced} {
		dir := t.TempDir()
		name := filepath.Join(dir, "f")
		if err := vfs.WriteAtomic(vfs.Default, name, []byte("one"), d); err != nil {
			t.Fatal(err)
		}
		if err := vfs.WriteAtomic(vfs.Default, name, []byte("two"), d); err != nil {
			t.Fatal(err)
		}
		got, err := vfs.ReadFile(vfs.Default, name)
		if err != nil || string(got) != "two" {
			t.Fatalf("read %q, %v; want \"two\"", got, err)
		}
		if _, err := os.Stat(name + vfs.TempSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary file left behind: %v", err)
		}
	}
}

// A failure at any step before the rename leaves the old content and no
// temporary file; after the rename (the directory sync) the new content
// may be in place, but the error is reported.
func TestWriteAtomicFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    errorfs.Predicate
		err  error
		old  bool // the old content must still be there
		want error
	}{
		{"create", errorfs.Ops(errorfs.OpCreate), syscall.EACCES, true, nil},
		{"write", errorfs.Ops(errorfs.OpWrite), syscall.EIO, true, nil},
		{"short write", errorfs.Ops(errorfs.OpWrite), errorfs.ShortWrite(2, syscall.ENOSPC), true, syscall.ENOSPC},
		{"fsync", errorfs.Ops(errorfs.OpSync), syscall.EIO, true, nil},
		{"close", errorfs.Ops(errorfs.OpClose), syscall.EIO, true, nil},
		{"rename", errorfs.Ops(errorfs.OpRename), syscall.EIO, true, nil},
		{"sync dir", errorfs.Ops(errorfs.OpSyncDir), syscall.EIO, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "f")
			fs := errorfs.Wrap(vfs.Default, nil)
			if err := vfs.WriteAtomic(fs, name, []byte("old"), vfs.Durable); err != nil {
				t.Fatal(err)
			}
			fs.SetInjector(errorfs.Fail(tc.err, tc.p))
			want := tc.want
			if want == nil {
				want = tc.err
			}
			err := vfs.WriteAtomic(fs, name, []byte("new content"), vfs.Durable)
			if !errors.Is(err, want) {
				t.Fatalf("WriteAtomic: %v, want %v", err, want)
			}
			if fs.Injected() != 1 {
				t.Errorf("%d injections, want 1", fs.Injected())
			}
			got, rerr := os.ReadFile(name)
			if rerr != nil || (tc.old && string(got) != "old") {
				t.Errorf("after a failed %s: %q, %v", tc.name, got, rerr)
			}
			if _, err := os.Stat(name + vfs.TempSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary file left behind: %v", err)
			}
		})
	}
}

func TestWriteAtomicNotSyncedSyncsNothing(t *testing.T) {
	fs := errorfs.Wrap(vfs.Default, errorfs.Fail(syscall.EIO, errorfs.Syncs))
	name := filepath.Join(t.TempDir(), "f")
	if err := vfs.WriteAtomic(fs, name, []byte("x"), vfs.NotSynced); err != nil {
		t.Fatal(err)
	}
	if fs.Injected() != 0 {
		t.Errorf("NotSynced synced %d times", fs.Injected())
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 100_000} {
		name := filepath.Join(dir, "f")
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i)
		}
		if err := os.WriteFile(name, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := vfs.ReadFile(vfs.Default, name)
		if err != nil || string(got) != string(want) {
			t.Fatalf("%d bytes: read %d, %v", n, len(got), err)
		}
	}
	if _, err := vfs.ReadFile(vfs.Default, filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestOSFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := vfs.Default.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if o := vfs.OSFile(f); o == nil || o.Name() != name {
		t.Fatalf("OSFile of an OS file: %v", o)
	}
	fs := errorfs.Wrap(vfs.Default, nil)
	g, err := fs.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if o := vfs.OSFile(g); o == nil || o.Name() != name {
		t.Fatalf("OSFile through errorfs: %v", o)
	}
}
