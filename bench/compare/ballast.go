package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Why a ballast: on a virtual machine whose balloon driver reports free
// pages to the host (virtio-balloon free page reporting, as on the machine in
// docs/benchmarks.md), the first touch of a free page faults in the host and
// costs the guest about 2 CPU seconds per GiB, charged to whichever process
// writes. A benchmark writing gigabytes of new log then measures the
// hypervisor: the broker that happens to write into freshly reported memory
// looks slow, and a 3-node cluster, writing every byte three times, pays
// three times. The ballast is a file filling free memory with clean page
// cache before anything is measured, so every broker's writes take pages the
// kernel reclaims from it, as on a machine that has been up for a while.

// fillFreeMemory writes a file in dir that leaves keep bytes of memory free,
// syncs it so its pages are clean and reclaimable, and returns a func that
// removes it. It does nothing when /proc/meminfo has no MemFree.
func fillFreeMemory(dir string, keep int64) (func(), error) {
	free, err := memFree()
	if err != nil || free <= keep {
		return func() {}, err
	}
	size := free - keep
	path := filepath.Join(dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	remove := func() { os.Remove(path) }
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
			remove()
			return nil, fmt.Errorf("write ballast: %w", err)
		}
		written += int64(n)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		remove()
		return nil, fmt.Errorf("sync ballast: %w", err)
	}
	if err := f.Close(); err != nil {
		remove()
		return nil, err
	}
	fmt.Printf("ballast: done in %s\n", time.Since(start).Round(time.Second))
	return remove, nil
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
