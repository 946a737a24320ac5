package storage

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strom-broker/strom/internal/vfs"
)

// Suffixes of partition directories renamed aside, as Apache Kafka names
// them (<topic>-<partition>.<unique id><suffix>): a directory being deleted,
// and a stray one kept for an operator to look at.
const (
	DeleteDirSuffix = "-delete"
	StrayDirSuffix  = "-stray"
)

// asideID is the random part of a name set aside.
type asideID [16]byte

// maxDirName is the longest file name most file systems take.
const maxDirName = 255

// asideName is the name dir gets when renamed aside with suffix: the
// partition's name, a random id so that repeated renames never collide, and
// the suffix; the topic part is shortened when the whole would be too long
// for a file name (as Kafka does).
func asideName(dir, suffix string) string {
	var id asideID
	rand.Read(id[:]) // never fails (crypto/rand, Go 1.24+)
	tail := "." + hex.EncodeToString(id[:]) + suffix
	base := filepath.Base(dir)
	if len(base)+len(tail) > maxDirName {
		// Keep the "-<partition>" end of the name; cut the topic.
		i := strings.LastIndexByte(base, '-')
		part := base[i:]
		base = base[:maxDirName-len(tail)-len(part)] + part
	}
	return filepath.Join(filepath.Dir(dir), base+tail)
}

// IsAside reports whether name is a directory renamed aside with suffix
// by SetAside (<topic>-<partition>.<32 hex digits><suffix>).
func IsAside(name, suffix string) bool {
	rest, ok := strings.CutSuffix(name, suffix)
	if !ok {
		return false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 || len(rest)-dot-1 != 2*len(asideID{}) {
		return false
	}
	_, err := hex.DecodeString(rest[dot+1:])
	return err == nil
}

// SetAside renames the partition directory dir to its aside name with
// suffix (DeleteDirSuffix or StrayDirSuffix) and syncs the parent, so that
// after a crash the directory is either still in place or renamed, never
// half-removed under its partition's name. It returns the new path. The
// log in dir must be closed.
func SetAside(fsys vfs.FS, dir, suffix string) (string, error) {
	to := asideName(dir, suffix)
	if err := fsys.Rename(dir, to); err != nil {
		return "", fmt.Errorf("set aside %s: %w", dir, err)
	}
	if err := fsys.SyncDir(filepath.Dir(dir)); err != nil {
		return "", fmt.Errorf("set aside %s: %w", dir, err)
	}
	return to, nil
}

// DiskSpace returns the total and usable (available to unprivileged
// writers) bytes of the file system holding dir.
func DiskSpace(dir string) (total, usable int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, -1, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), nil
}
