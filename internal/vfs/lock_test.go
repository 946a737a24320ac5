package vfs

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestLockDirIsExclusiveAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	if os.Getenv("VFS_LOCK_CHILD") != "" {
		// The child: try the lock the parent holds.
		_, err := LockDir(os.Getenv("VFS_LOCK_CHILD"))
		if !errors.Is(err, ErrLocked) {
			os.Exit(3)
		}
		os.Stdout.WriteString(err.Error())
		os.Exit(0)
	}
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLockDirIsExclusiveAcrossProcesses$")
	cmd.Env = append(os.Environ(), "VFS_LOCK_CHILD="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("a second process took the lock, or failed otherwise: %v (%s)", err, out)
	}
	if msg := string(out); !strings.Contains(msg, dir) || !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("refusal %q does not name the directory %s and the holder's pid %d", msg, dir, os.Getpid())
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock not released by Unlock: %v", err)
	}
	l2.Unlock()
}
