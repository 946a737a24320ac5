// Package errorfs wraps a vfs.FS to make chosen operations fail, for tests
// of what the broker does when the disk does not do what it is told: a
// failed write, fsync or rename, a short write, a full disk. It is modelled
// on cockroachdb/pebble's vfs/errorfs: every operation is described by an
// Op, and an Injector decides from it whether the operation fails and
// with what error.
//
//	fs := errorfs.Wrap(vfs.Default, nil)
//	... open the log on fs ...
//	fs.SetInjector(errorfs.Times(1, errorfs.Fail(syscall.EIO,
//		errorfs.And(errorfs.Ops(errorfs.OpSyncData), errorfs.PathMatch("*.log")))))
//
// A failed operation does nothing, except a write failing with ShortWrite,
// which first writes part of its data. Injected errors are *fs.PathError
// values wrapping the injector's error, as the os package returns them.
//
// Concurrency: an FS and its files are safe for concurrent use;
// SetInjector may be called at any time.
package errorfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/strom-broker/strom/internal/vfs"
)

// ErrInjected is a generic injected error. It wraps EIO, so the broker
// treats it as the I/O failure it stands for.
var ErrInjected = fmt.Errorf("errorfs: injected error: %w", syscall.EIO)

// OpKind is a kind of operation.
type OpKind int8

// Operations that can be made to fail.
const (
	OpCreate OpKind = iota
	OpOpen          // Open and OpenReadWrite
	OpRemove
	OpRemoveAll
	OpRename // Path is the old name, NewPath the new one
	OpMkdirAll
	OpReadDir
	OpStat
	OpSyncDir
	OpRead  // File.ReadAt
	OpWrite // File.Write and File.WriteAt
	OpTruncate
	OpSync     // File.Sync (fsync)
	OpSyncData // File.SyncData (fdatasync)
	OpFileStat
	OpClose
)

var opNames = [...]string{"create", "open", "remove", "removeall", "rename", "mkdirall", "readdir",
	"stat", "syncdir", "read", "write", "truncate", "fsync", "fdatasync", "fstat", "close"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", int(k))
}

// Op is one operation about to run.
type Op struct {
	Kind    OpKind
	Path    string // the file or directory; the file's name for file operations
	NewPath string // OpRename only
	Offset  int64  // OpRead, OpWrite (WriteAt; -1 for Write), OpTruncate (the size)
	Len     int    // OpRead, OpWrite: bytes asked for
}

// Injector decides whether an operation fails: a nil error lets it run.
type Injector interface {
	MaybeError(op Op) error
}

// InjectorFunc is an Injector as a function.
type InjectorFunc func(op Op) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// Predicate selects operations.
type Predicate func(op Op) bool

// Ops selects operations of the given kinds.
func Ops(kinds ...OpKind) Predicate {
	return func(op Op) bool {
		for _, k := range kinds {
			if op.Kind == k {
				return true
			}
		}
		return false
	}
}

// Syncs selects fsync, fdatasync and directory syncs.
var Syncs = Ops(OpSync, OpSyncData, OpSyncDir)

// PathMatch selects operations whose path's last element matches the
// filepath.Match pattern (for a rename, either path's).
func PathMatch(pattern string) Predicate {
	match := func(p string) bool {
		ok, _ := filepath.Match(pattern, filepath.Base(p))
		return p != "" && ok
	}
	return func(op Op) bool { return match(op.Path) || match(op.NewPath) }
}

// InDir selects operations on paths directly inside dir.
func InDir(dir string) Predicate {
	dir = filepath.Clean(dir)
	return func(op Op) bool {
		return filepath.Dir(op.Path) == dir || (op.NewPath != "" && filepath.Dir(op.NewPath) == dir)
	}
}

// And selects operations every predicate selects.
func And(ps ...Predicate) Predicate {
	return func(op Op) bool {
		for _, p := range ps {
			if !p(op) {
				return false
			}
		}
		return true
	}
}

// Or selects operations any predicate selects.
func Or(ps ...Predicate) Predicate {
	return func(op Op) bool {
		for _, p := range ps {
			if p(op) {
				return true
			}
		}
		return false
	}
}

// Fail fails every operation p selects with err.
func Fail(err error, p Predicate) Injector {
	return InjectorFunc(func(op Op) error {
		if p(op) {
			return err
		}
		return nil
	})
}

// Times lets inj fail at most n operations; later ones run. Times(1, ...)
// with a sync models the kernel's behaviour after a failed fsync: the next
// one succeeds, whether the data reached the disk or not.
func Times(n int, inj Injector) Injector {
	var mu sync.Mutex
	left := n
	return InjectorFunc(func(op Op) error {
		mu.Lock()
		defer mu.Unlock()
		if left <= 0 {
			return nil
		}
		err := inj.MaybeError(op)
		if err != nil {
			left--
		}
		return err
	})
}

// Any asks each injector in turn; the first error wins.
func Any(injs ...Injector) Injector {
	return InjectorFunc(func(op Op) error {
		for _, inj := range injs {
			if err := inj.MaybeError(op); err != nil {
				return err
			}
		}
		return nil
	})
}

// shortWrite is the error of ShortWrite.
type shortWrite struct {
	n   int
	err error
}

func (s *shortWrite) Error() string { return s.err.Error() }
func (s *shortWrite) Unwrap() error { return s.err }

// ShortWrite makes a failed write store its first n bytes (fewer if it
// has fewer; n < 0: half of them) before failing with err. For other
// operations it is err.
func ShortWrite(n int, err error) error { return &shortWrite{n: n, err: err} }

// FS is a vfs.FS whose operations an Injector can make fail.
type FS struct {
	inner    vfs.FS
	inj      atomic.Pointer[Injector]
	injected atomic.Int64
}

var _ vfs.FS = (*FS)(nil)

// Wrap returns inner with inj deciding failures; inj may be nil (nothing
// fails until SetInjector).
func Wrap(inner vfs.FS, inj Injector) *FS {
	f := &FS{inner: inner}
	f.SetInjector(inj)
	return f
}

// SetInjector replaces the injector; nil injects nothing.
func (f *FS) SetInjector(inj Injector) {
	if inj == nil {
		f.inj.Store(nil)
		return
	}
	f.inj.Store(&inj)
}

// Injected is how many operations failed by injection so far.
func (f *FS) Injected() int64 { return f.injected.Load() }

// maybeError asks the injector about op and counts an injection.
func (f *FS) maybeError(op Op) error {
	p := f.inj.Load()
	if p == nil {
		return nil
	}
	err := (*p).MaybeError(op)
	if err == nil {
		return nil
	}
	f.injected.Add(1)
	return err
}

func pathErr(op Op, err error) error {
	return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: unshort(err)}
}

// unshort is the error a ShortWrite fails with.
func unshort(err error) error {
	var s *shortWrite
	if errors.As(err, &s) {
		return s.err
	}
	return err
}

// Create implements vfs.FS.
func (f *FS) Create(name string) (vfs.File, error) {
	return f.open(Op{Kind: OpCreate, Path: name}, f.inner.Create)
}

// Open implements vfs.FS.
func (f *FS) Open(name string) (vfs.File, error) {
	return f.open(Op{Kind: OpOpen, Path: name}, f.inner.Open)
}

// OpenReadWrite implements vfs.FS.
func (f *FS) OpenReadWrite(name string) (vfs.File, error) {
	return f.open(Op{Kind: OpOpen, Path: name}, f.inner.OpenReadWrite)
}

func (f *FS) open(op Op, fn func(string) (vfs.File, error)) (vfs.File, error) {
	if err := f.maybeError(op); err != nil {
		return nil, pathErr(op, err)
	}
	inner, err := fn(op.Path)
	if err != nil {
		return nil, err
	}
	return &file{fs: f, inner: inner}, nil
}

func (f *FS) do(op Op, fn func() error) error {
	if err := f.maybeError(op); err != nil {
		return pathErr(op, err)
	}
	return fn()
}

// Remove implements vfs.FS.
func (f *FS) Remove(name string) error {
	return f.do(Op{Kind: OpRemove, Path: name}, func() error { return f.inner.Remove(name) })
}

// RemoveAll implements vfs.FS.
func (f *FS) RemoveAll(path string) error {
	return f.do(Op{Kind: OpRemoveAll, Path: path}, func() error { return f.inner.RemoveAll(path) })
}

// Rename implements vfs.FS.
func (f *FS) Rename(oldname, newname string) error {
	op := Op{Kind: OpRename, Path: oldname, NewPath: newname}
	if err := f.maybeError(op); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: unshort(err)}
	}
	return f.inner.Rename(oldname, newname)
}

// MkdirAll implements vfs.FS.
func (f *FS) MkdirAll(dir string, perm os.FileMode) error {
	return f.do(Op{Kind: OpMkdirAll, Path: dir}, func() error { return f.inner.MkdirAll(dir, perm) })
}

// ReadDir implements vfs.FS.
func (f *FS) ReadDir(dir string) ([]fs.DirEntry, error) {
	op := Op{Kind: OpReadDir, Path: dir}
	if err := f.maybeError(op); err != nil {
		return nil, pathErr(op, err)
	}
	return f.inner.ReadDir(dir)
}

// Stat implements vfs.FS.
func (f *FS) Stat(name string) (os.FileInfo, error) {
	op := Op{Kind: OpStat, Path: name}
	if err := f.maybeError(op); err != nil {
		return nil, pathErr(op, err)
	}
	return f.inner.Stat(name)
}

// SyncDir implements vfs.FS.
func (f *FS) SyncDir(dir string) error {
	return f.do(Op{Kind: OpSyncDir, Path: dir}, func() error { return f.inner.SyncDir(dir) })
}

// file is a vfs.File of an FS.
type file struct {
	fs    *FS
	inner vfs.File
}

// OSFile exposes the wrapped file's *os.File: reads by sendfile bypass
// injection.
func (f *file) OSFile() *os.File { return vfs.OSFile(f.inner) }

func (f *file) Name() string { return f.inner.Name() }

func (f *file) op(kind OpKind) Op { return Op{Kind: kind, Path: f.inner.Name()} }

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	op := Op{Kind: OpRead, Path: f.inner.Name(), Offset: off, Len: len(p)}
	if err := f.fs.maybeError(op); err != nil {
		return 0, pathErr(op, err)
	}
	return f.inner.ReadAt(p, off)
}

// write runs a write that may be cut short by a ShortWrite injection.
func (f *file) write(op Op, p []byte, fn func([]byte) (int, error)) (int, error) {
	err := f.fs.maybeError(op)
	if err == nil {
		return fn(p)
	}
	var s *shortWrite
	if errors.As(err, &s) {
		n := s.n
		if n < 0 {
			n = len(p) / 2
		}
		n = min(n, len(p))
		m, werr := fn(p[:n])
		if werr != nil {
			return m, werr
		}
		return m, pathErr(op, err)
	}
	return 0, pathErr(op, err)
}

func (f *file) Write(p []byte) (int, error) {
	op := Op{Kind: OpWrite, Path: f.inner.Name(), Offset: -1, Len: len(p)}
	return f.write(op, p, f.inner.Write)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	op := Op{Kind: OpWrite, Path: f.inner.Name(), Offset: off, Len: len(p)}
	return f.write(op, p, func(b []byte) (int, error) { return f.inner.WriteAt(b, off) })
}

func (f *file) Truncate(size int64) error {
	op := Op{Kind: OpTruncate, Path: f.inner.Name(), Offset: size}
	return f.fs.do(op, func() error { return f.inner.Truncate(size) })
}

func (f *file) Sync() error { return f.fs.do(f.op(OpSync), f.inner.Sync) }

func (f *file) SyncData() error { return f.fs.do(f.op(OpSyncData), f.inner.SyncData) }

func (f *file) Stat() (os.FileInfo, error) {
	op := f.op(OpFileStat)
	if err := f.fs.maybeError(op); err != nil {
		return nil, pathErr(op, err)
	}
	return f.inner.Stat()
}

// Close closes the file even when the injection fails it, as close(2)
// releases the descriptor whatever it reports.
func (f *file) Close() error {
	err := f.fs.maybeError(f.op(OpClose))
	cerr := f.inner.Close()
	if err != nil {
		return pathErr(f.op(OpClose), err)
	}
	return cerr
}
