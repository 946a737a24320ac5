// Command gen-datadir-v0 writes test/crash/testdata/datadir-v0.tar.gz: the
// data directory of a single-node strom broker as the code of the commit
// named in ../README.md wrote it, before partition directories carried a
// partition.metadata file. TestUpgradeFromV0DataDir starts today's broker on
// it.
//
// It lives under testdata so that `go build ./...` and `go test ./...` skip
// it; run it from the module root with a strom binary built from the commit
// whose on-disk layout the fixture should capture:
//
//	git worktree add /tmp/strom-v0 <commit>
//	(cd /tmp/strom-v0 && CGO_ENABLED=0 go build -o /tmp/strom-v0.bin ./cmd/strom)
//	go run ./test/crash/testdata/gen-datadir-v0 -strom /tmp/strom-v0.bin \
//	    -out test/crash/testdata/datadir-v0.tar.gz
//
// The records are a pure function of (topic, partition, index): fixtureRecord
// here and in test/crash/upgrade_test.go must stay identical.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The fixture's contents; test/crash/upgrade_test.go checks exactly these.
const (
	topicA           = "upgrade-a" // 3 partitions, retention.ms=-1, segment.bytes=2048
	topicB           = "upgrade-b" // 1 partition, cleanup.policy=compact
	partitionsA      = 3
	partitionsB      = 1
	recordsPerPart   = 50
	group            = "upgrade-g"
	groupMetadata    = "upgrade-fixture"
	fixtureEpochMsec = 1_700_000_000_000
)

// groupOffsets are the offsets committed for group on topicA, by partition.
var groupOffsets = map[int32]int64{0: 50, 1: 25, 2: 10}

// fixtureRecord is record i of partition p of topic. Timestamps are fixed so
// that the fixture's batches are the same on every regeneration.
func fixtureRecord(topic string, p int32, i int) *kgo.Record {
	return &kgo.Record{
		Topic:     topic,
		Partition: p,
		Key:       []byte(fmt.Sprintf("%s-%d-key-%03d", topic, p, i)),
		Value:     []byte(fmt.Sprintf("%s-%d-value-%03d-%s", topic, p, i, strings.Repeat("x", i%37))),
		Headers:   []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}},
		Timestamp: time.UnixMilli(fixtureEpochMsec + int64(p)*1000 + int64(i)),
	}
}

func main() {
	bin := flag.String("strom", "", "strom binary to write the data directory with (required)")
	out := flag.String("out", "test/crash/testdata/datadir-v0.tar.gz", "tar.gz to write")
	keep := flag.String("keep", "", "if set, also leave the data directory here (must not exist)")
	flag.Parse()
	if *bin == "" {
		log.Fatal("-strom is required")
	}
	if err := run(*bin, *out, *keep); err != nil {
		log.Fatal(err)
	}
}

func run(bin, out, keep string) error {
	dir, err := os.MkdirTemp("", "strom-datadir-v0-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dataDir := filepath.Join(dir, "data")

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	var logs syncBuffer
	cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
			fmt.Fprintf(os.Stderr, "---- strom output ----\n%s", logs.String())
		}
	}()

	if err := populate(addr, exited); err != nil {
		return err
	}

	// A clean stop: the broker trims preallocated index files and leaves
	// .clean-shutdown markers, as an operator's stop before an upgrade would.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			return fmt.Errorf("strom exited uncleanly after SIGTERM: %w\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		return errors.New("strom did not exit within 30s of SIGTERM")
	}

	if err := writeTarGz(dataDir, out); err != nil {
		return err
	}
	if keep != "" {
		if err := os.Rename(dataDir, keep); err != nil {
			return err
		}
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes)\n", out, st.Size())
	return nil
}

// populate creates the topics, writes the records, commits the group's
// offsets, and reads everything back.
func populate(addr string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := waitReady(ctx, addr, exited); err != nil {
		return err
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		topic string
		parts int32
		cfg   map[string]*string
	}{
		{topicA, partitionsA, map[string]*string{"retention.ms": str("-1"), "segment.bytes": str("2048")}},
		{topicB, partitionsB, map[string]*string{"cleanup.policy": str("compact")}},
	} {
		resp, err := adm.CreateTopic(ctx, tc.parts, 1, tc.cfg, tc.topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", tc.topic, err)
		}
	}

	// upgrade-a uncompressed, upgrade-b zstd; 10 records per produce call so
	// each partition holds several batches.
	for _, tc := range []struct {
		topic string
		parts int32
		codec kgo.CompressionCodec
	}{
		{topicA, partitionsA, kgo.NoCompression()},
		{topicB, partitionsB, kgo.ZstdCompression()},
	} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(tc.codec),
			kgo.MaxProduceRequestsInflightPerBroker(1))
		if err != nil {
			return err
		}
		for p := int32(0); p < tc.parts; p++ {
			for i := 0; i < recordsPerPart; i += 10 {
				var recs []*kgo.Record
				for j := i; j < i+10; j++ {
					recs = append(recs, fixtureRecord(tc.topic, p, j))
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					cl.Close()
					return fmt.Errorf("produce %s/%d: %w", tc.topic, p, err)
				}
				for j, r := range recs {
					if r.Offset != int64(i+j) {
						cl.Close()
						return fmt.Errorf("%s/%d record %d acknowledged at offset %d", tc.topic, p, i+j, r.Offset)
					}
				}
			}
		}
		cl.Close()
	}

	var offs kadm.Offsets
	for p, o := range groupOffsets {
		offs.Add(kadm.Offset{Topic: topicA, Partition: p, At: o, LeaderEpoch: -1, Metadata: groupMetadata})
	}
	committed, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return fmt.Errorf("commit offsets for %s: %w", group, err)
	}
	fetched, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = fetched.Error()
	}
	if err != nil {
		return fmt.Errorf("fetch offsets of %s: %w", group, err)
	}
	for p, o := range groupOffsets {
		got, ok := fetched.Lookup(topicA, p)
		if !ok || got.At != o || got.Metadata != groupMetadata {
			return fmt.Errorf("group %s %s/%d: committed %+v, want offset %d", group, topicA, p, got, o)
		}
	}

	return verify(ctx, addr)
}

// verify reads every partition back and compares it with fixtureRecord.
func verify(ctx context.Context, addr string) error {
	for _, tc := range []struct {
		topic string
		parts int32
	}{{topicA, partitionsA}, {topicB, partitionsB}} {
		assign := map[int32]kgo.Offset{}
		for p := int32(0); p < tc.parts; p++ {
			assign[p] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tc.topic: assign}))
		if err != nil {
			return err
		}
		seen := 0
		for seen < int(tc.parts)*recordsPerPart {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				cl.Close()
				return fmt.Errorf("read back %s: %d records: %w", tc.topic, seen, err)
			}
			var ferr error
			fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("fetch %s/%d: %w", tc.topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				w := fixtureRecord(tc.topic, r.Partition, int(r.Offset))
				if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || !r.Timestamp.Equal(w.Timestamp) {
					ferr = fmt.Errorf("%s/%d@%d: read %q=%q", tc.topic, r.Partition, r.Offset, r.Key, r.Value)
				}
				seen++
			})
			if ferr != nil {
				cl.Close()
				return ferr
			}
		}
		cl.Close()
	}
	return nil
}

// waitReady polls until the broker answers a metadata request.
func waitReady(ctx context.Context, addr string, exited <-chan error) error {
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = cl.Ping(rctx)
		cancel()
		cl.Close()
		if err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("strom exited before it was ready: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("strom on %s not ready: %w", addr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeTarGz packs dir's contents (paths relative to dir, sorted, owner
// zeroed) into out.
func writeTarGz(dir, out string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, path := range paths {
		st, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if !st.IsDir() && !st.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file or directory", path)
		}
		hdr, err := tar.FileInfoHeader(st, "")
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		hdr.Name = filepath.ToSlash(rel)
		if st.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if st.Mode().IsRegular() {
			if err := copyFile(tw, path); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
