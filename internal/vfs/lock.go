package vfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/strom-broker/strom/internal/errcode"
)

// LockFile is the name of the lock file a process holds in a directory it
// owns, as Kafka's ".lock" in each log directory.
const LockFile = ".lock"

// ErrLocked is returned by LockDir when another process holds the lock
// (defined in errcode with every sentinel).
var ErrLocked = errcode.ErrDirLocked

// DirLock is an exclusive lock on a directory, held until Unlock or the
// process ends (the kernel drops flock locks with the last descriptor, so
// a kill -9 never leaves a directory locked).
type DirLock struct{ f *os.File }

// LockDir takes the exclusive lock of dir (creating dir and its lock file
// when missing) without waiting, and records this process's pid in the
// file. When another process holds it, the error wraps ErrLocked and names
// dir and the holder's pid.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	name := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := "unknown"
		if raw, rerr := os.ReadFile(name); rerr == nil && strings.TrimSpace(string(raw)) != "" {
			holder = strings.TrimSpace(string(raw))
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by pid %s", ErrLocked, dir, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	// The pid is a hint for the operator, not part of the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
	return err
}
