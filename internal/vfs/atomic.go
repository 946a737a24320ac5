package vfs

import (
	"errors"
	"fmt"
	"path/filepath"
)

// TempSuffix ends the name of the temporary file WriteAtomic writes
// before renaming it into place. Owners of a directory delete leftovers
// with it (a crash between the write and the rename).
const TempSuffix = ".tmp"

// Durability says what a crash may leave after WriteAtomic.
type Durability int8

const (
	// Durable: the temporary file is fsynced before the rename and the
	// directory after it, so once WriteAtomic returns a crash leaves the
	// new content, and before it the old or the new, never a mix.
	Durable Durability = iota
	// NotSynced: nothing is fsynced. A crash may leave the old content,
	// the new one, or (file systems that do not order a rename after the
	// data it names) an empty or cut file under name. Only for files
	// where every such leftover reads as absent or as an older, safe
	// value, and that are written too often to sync each time.
	NotSynced
)

// WriteAtomic replaces name with data: it writes name+TempSuffix, syncs
// it (Durable), renames it over name, and syncs the directory (Durable).
// On failure before the rename the temporary file is removed and name is
// untouched.
func WriteAtomic(fsys FS, name string, data []byte, d Durability) error {
	tmp := name + TempSuffix
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, werr := f.Write(data)
	var serr error
	if werr == nil && d == Durable {
		serr = f.Sync()
	}
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := fsys.Rename(tmp, name); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if d == Durable {
		if err := fsys.SyncDir(filepath.Dir(name)); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
