package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Why a ballast: on a virtual machine whose balloon driver reports free
// pages to the host (virtio-balloon free page reporting, as on the machine in
// docs/benchmarks.md), the first touch of a free page faults in the host and
// costs the guest about 2 CPU seconds per GiB, charged to whichever process
// writes. A benchmark writing gigabytes of new log then measures the
// hypervisor: the broker that happens to write into freshly reported memory
// looks slow, and a 3-node cluster, writing every byte three times, pays
// three times. The ballast is files filling free memory with clean page
// cache, topped up before each broker is measured, so every broker's writes
// take pages the kernel reclaims from it, as on a machine that has been up
// for a while.

// ballast is the set of files filling free memory; top it up before each
// broker, since the previous broker's deleted data dir returned its pages
// to the free list (and so, in time, to the host).
type ballast struct {
	dir   string
	keep  int64 // bytes of free memory to leave
	files []string
}

// newBallast prepares a ballast in dir. It refuses a dir on tmpfs, where
// the file would pin memory instead of leaving reclaimable page cache.
func newBallast(dir string, keep int64) (*ballast, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil, err
	}
	const tmpfsMagic = 0x01021994
	if st.Type == tmpfsMagic {
		return nil, fmt.Errorf("ballast: %s is on tmpfs; give --out-dir on a disk, or --ballast=false", dir)
	}
	return &ballast{dir: dir, keep: keep}, nil
}

// topUp writes one more file that leaves b.keep bytes of memory free, and
// syncs it so its pages are clean and reclaimable. Less than 64 MiB to
// fill is left as it is.
func (b *ballast) topUp() error {
	free, err := memFree()
	if err != nil {
		return err
	}
	size := free - b.keep
	if size < 64<<20 {
		return nil
	}
	path := filepath.Join(b.dir, fmt.Sprintf("ballast-%d", len(b.files)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	b.files = append(b.files, path)
	start := time.Now()
	fmt.Printf("ballast: filling %.1f GiB of free memory with page cache (%s)\n", float64(size)/(1<<30), path)
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for written := int64(0); written < size; {
		n, err := f.Write(buf[:min(int64(len(buf)), size-written)])
		if err != nil {
			f.Close()
			return fmt.Errorf("write ballast: %w", err)
		}
		written += int64(n)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync ballast: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("ballast: done in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// remove deletes every ballast file.
func (b *ballast) remove() {
	for _, f := range b.files {
		os.Remove(f)
	}
	b.files = nil
}

// memFree returns MemFree from /proc/meminfo in bytes.
func memFree() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemFree:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse MemFree: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, sc.Err()
}
