package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strom-broker/strom/internal/vfs"
)

func TestSetAsideNames(t *testing.T) {
	root := t.TempDir()
	long := strings.Repeat("t", 249) + "-12"
	for _, name := range []string{"orders-3", long} {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		to, err := SetAside(vfs.Default, dir, StrayDirSuffix)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(to)
		if len(base) > maxDirName || !strings.HasSuffix(base, StrayDirSuffix) || !strings.Contains(base, "-"+name[strings.LastIndexByte(name, '-')+1:]+".") {
			t.Errorf("%s set aside as %q (%d bytes): want <topic>-<partition>.<id>-stray within %d bytes", name[:min(len(name), 20)], base, len(base), maxDirName)
		}
		if _, err := os.Stat(filepath.Join(to, "00000000000000000000.log")); err != nil {
			t.Errorf("files did not move with the directory: %v", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after SetAside", dir)
		}
	}
}

func TestIsAsideRecognizesSetAsideNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orders-3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	to, err := SetAside(vfs.Default, dir, DeleteDirSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if !IsAside(filepath.Base(to), DeleteDirSuffix) || IsAside(filepath.Base(to), StrayDirSuffix) {
		t.Errorf("%s: not recognized as set aside for deletion only", to)
	}
	for _, name := range []string{"orders-3", "orders-delete", "orders-3.abc-delete", "orders-3.0123456789abcdef0123456789abcdeg-delete"} {
		if IsAside(name, DeleteDirSuffix) {
			t.Errorf("%q taken for a directory set aside", name)
		}
	}
}
