package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/vfs"
)

// DamageError is a batch that recovery cannot read where a torn write
// cannot explain it: in a segment before the last, or anywhere in a log
// that was closed cleanly. What is there was acknowledged, so the log is
// not opened: it is neither cut off silently nor served. It wraps
// ErrCorruptSegment (clients get KAFKA_STORAGE_ERROR).
type DamageError struct {
	File     string     // the segment file
	Position int64      // byte position of the first bad batch in File
	Offset   ids.Offset // the first offset that cannot be read
	Err      error      // why the batch is bad
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("segment %s: corrupt batch at position %d (offset %d): %v", e.File, e.Position, e.Offset, e.Err)
}

// Unwrap makes the error match ErrCorruptSegment and the cause.
func (e *DamageError) Unwrap() []error { return []error{ErrCorruptSegment, e.Err} }

// TruncateDamage cuts the closed log in dir at the damage d found by Open:
// the damaged segment is truncated at d.Position, every later segment is
// removed, and the recovery point is set to the damaged segment, so the
// next Open recovers from there and ends at d.Offset. A replica does this
// before it fetches the range again from the leader, as a Kafka follower
// whose log directory failed does. Everything removed is logged by the
// caller; nothing in the kept range changes.
func TruncateDamage(fsys vfs.FS, dir string, d *DamageError) error {
	base, ok := parseSegmentName(filepath.Base(d.File), logSuffix)
	if !ok || filepath.Dir(d.File) != filepath.Clean(dir) {
		return fmt.Errorf("truncate damage: %s is not a segment of %s", d.File, dir)
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("truncate damage: %w", err)
	}
	// The recovery point first: should the removals below be cut short,
	// the next Open still scans the damaged segment (and finds the damage
	// again) instead of trusting it.
	if err := writeOffsetFile(fsys, filepath.Join(dir, recoveryPointFile), base, vfs.Durable); err != nil {
		return fmt.Errorf("truncate damage: %w", err)
	}
	if err := fsys.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("truncate damage: %w", err)
	}
	for _, e := range ents {
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if b, ok := parseSegmentName(e.Name(), suf); ok && (b > base || (b == base && suf != logSuffix)) {
				if err := fsys.Remove(filepath.Join(dir, e.Name())); err != nil {
					return fmt.Errorf("truncate damage: %w", err)
				}
			}
		}
	}
	f, err := fsys.OpenReadWrite(d.File)
	if err != nil {
		return fmt.Errorf("truncate damage: %w", err)
	}
	terr := f.Truncate(d.Position)
	serr := f.SyncData()
	if err := errors.Join(terr, serr, f.Close()); err != nil {
		return fmt.Errorf("truncate damage: %s at %d: %w", d.File, d.Position, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("truncate damage: %w", err)
	}
	return nil
}
