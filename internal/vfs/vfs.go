// Package vfs is the file-system seam of the broker: the FS and File
// interfaces that every piece of code writing the data directory goes
// through (the partition logs of internal/storage, the partition.metadata
// file of internal/partition, the controller's cluster-metadata.json), the
// operating system's implementation (Default), and the one helper that
// replaces a small file atomically (WriteAtomic). Tests swap in
// vfs/errorfs to make chosen operations fail, as cockroachdb/pebble's
// vfs/errorfs does.
//
// It is a package of its own rather than part of storage because the
// controller writes its metadata file through it too, and the controller
// must not depend on storage (it knows nothing of partitions); vfs is a
// leaf: it imports only the standard library and x/sys.
//
// The interfaces cover what the broker uses and nothing more. File keeps
// the *os.File of the OS implementation reachable (OSFile): the fetch path
// sends record bytes from segment files with sendfile, which needs the
// real descriptor.
//
// Concurrency: the OS implementation is safe for concurrent use, as the
// os package is; a File's ReadAt and WriteAt may run concurrently.
package vfs

import (
	"io"
	"io/fs"
	"os"
)

// FS is the file-system operations the broker uses. Paths are OS paths.
// Errors are those of the os package (errors.Is(err, fs.ErrNotExist)
// works), or wrap them.
type FS interface {
	// Create creates name for reading and writing, truncating it if it
	// exists (os.O_RDWR|os.O_CREATE|os.O_TRUNC, mode 0644).
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes path and everything below it; a missing path is
	// not an error.
	RemoveAll(path string) error
	// Rename renames (moves) oldname to newname, replacing newname.
	Rename(oldname, newname string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists dir, sorted by name.
	ReadDir(dir string) ([]fs.DirEntry, error)
	// Stat describes name.
	Stat(name string) (os.FileInfo, error)
	// SyncDir fsyncs directory dir, making the entries created, renamed
	// or removed in it durable.
	SyncDir(dir string) error
}

// File is an open file.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	// Name is the name the file was opened with.
	Name() string
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	// Sync is fsync: the file's data and metadata reach the disk.
	Sync() error
	// SyncData is fdatasync: the data, and the metadata needed to read it
	// back (its size), reach the disk. After it fails, what it was to make
	// durable must be treated as lost: the kernel may have dropped the
	// dirty pages, and a later SyncData that succeeds says nothing about
	// them (PostgreSQL's "fsyncgate").
	SyncData() error
}

// OSFile returns the *os.File behind f, or nil when f has none. The fetch
// path needs it for sendfile; wrappers (errorfs) expose the file they wrap.
func OSFile(f File) *os.File {
	if o, ok := f.(interface{ OSFile() *os.File }); ok {
		return o.OSFile()
	}
	return nil
}

// ReadFile reads the whole of name.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	buf := make([]byte, 0, size+512) // room to see EOF without growing
	for {
		n, err := f.ReadAt(buf[len(buf):cap(buf)], int64(len(buf)))
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}
