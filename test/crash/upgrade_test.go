package crash_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// The v0 fixture is a single-node data directory written, and cleanly
// stopped, by a broker from before partition directories carried a
// partition.metadata file; testdata/README.md says which commit and how to
// regenerate it. These constants and fixtureRecord describe what it holds and
// must match testdata/gen-datadir-v0/main.go.
const (
	fixtureV0            = "testdata/datadir-v0.tar.gz"
	fixtureTopicA        = "upgrade-a" // 3 partitions, retention.ms=-1, segment.bytes=2048
	fixtureTopicB        = "upgrade-b" // 1 partition, cleanup.policy=compact, zstd batches
	fixturePartitionsA   = 3
	fixturePartitionsB   = 1
	fixtureRecordsPer    = 50 // records in each partition, at offsets 0..49
	fixtureGroup         = "upgrade-g"
	fixtureGroupMetadata = "upgrade-fixture"
	fixtureEpochMsec     = 1_700_000_000_000
	offsetsTopic         = "__consumer_offsets"
	strayLogLine         = "stray partition directory"
)

// fixtureGroupOffsets are the offsets the fixture's group committed on
// upgrade-a, by partition.
var fixtureGroupOffsets = map[int32]int64{0: 50, 1: 25, 2: 10}

// upgradeEnv keeps the fixture's group offsets: the group is a simple one
// (offsets committed without joining), whose offsets expire
// offsets_retention after their commit time, and the fixture's commit is
// older than the default 7 days.
var upgradeEnv = []string{"STROM_OFFSETS_RETENTION=876000h"}

// strayName matches Kafka's name for a partition directory set aside:
// <topic>-<partition>.<unique id>-stray.
var strayName = regexp.MustCompile(`^(.+-[0-9]+)\.[^.]+-stray$`)

// fixtureRecord is record i of partition p of topic as the fixture holds it
// at offset i.
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

// fixtureRecords are the fixture's records of the listed partitions of
// topic, each carrying its offset.
func fixtureRecords(topic string, partitions ...int32) []*kgo.Record {
	var out []*kgo.Record
	for _, p := range partitions {
		for i := 0; i < fixtureRecordsPer; i++ {
			r := fixtureRecord(topic, p, i)
			r.Offset = int64(i)
			out = append(out, r)
		}
	}
	return out
}

// TestUpgradeFromV0DataDir starts the broker under test on a data directory
// written by the previous on-disk version, plus a partition directory of a
// topic the metadata image does not know. The first start must keep every
// record and committed offset, stamp each hosted partition's directory with
// its topic id, and set the unknown directory aside as stray instead of
// deleting it; later restarts must keep all of that and keep reporting the
// stray.
func TestUpgradeFromV0DataDir(t *testing.T) {
	dir := t.TempDir()
	extractFixture(t, dir)
	copyPartitionDir(t, filepath.Join(dir, fixtureTopicA+"-0"), filepath.Join(dir, "orphan-0"))
	orphanSegments := segmentFiles(t, filepath.Join(dir, "orphan-0"))

	proc := testkit.StartProcess(t, testkit.ProcessOptions{DataDir: dir, Env: upgradeEnv})
	wantA := fixtureRecords(fixtureTopicA, 0, 1, 2)
	wantB := fixtureRecords(fixtureTopicB, 0)
	requireRecords(t, proc.Addr(), fixtureTopicA, fixturePartitionsA, wantA)
	requireRecords(t, proc.Addr(), fixtureTopicB, fixturePartitionsB, wantB)
	requireGroupOffsets(t, proc.Addr())

	ids := topicIDs(t, proc.Addr(), fixtureTopicA, fixtureTopicB, offsetsTopic)
	if ids[fixtureTopicA].partitions != fixturePartitionsA || ids[fixtureTopicB].partitions != fixturePartitionsB {
		t.Fatalf("Metadata: %s has %d partitions, %s %d; the fixture has %d and %d",
			fixtureTopicA, ids[fixtureTopicA].partitions, fixtureTopicB, ids[fixtureTopicB].partitions,
			fixturePartitionsA, fixturePartitionsB)
	}
	requireStamped(t, dir, ids)

	stray := requireStray(t, dir, "orphan-0", orphanSegments)
	seen := waitForLogLine(t, proc, strayLogLine, "orphan-0", 1)

	// New writes continue after the fixture's records, in every partition.
	moreA := testkit.MakeRecords(fixtureTopicA, "after-upgrade", 60, fixturePartitionsA)
	moreB := testkit.MakeRecords(fixtureTopicB, "after-upgrade", 20, fixturePartitionsB)
	cl := testkit.NewClient(t, proc.Addr(), testkit.ManualPartitioner())
	testkit.ProduceSync(t, cl, append(append([]*kgo.Record{}, moreA...), moreB...))
	cl.Close()
	for _, r := range append(append([]*kgo.Record{}, moreA...), moreB...) {
		if r.Offset < fixtureRecordsPer {
			t.Fatalf("record produced after the upgrade acknowledged at %s/%d@%d, over the fixture's %d records",
				r.Topic, r.Partition, r.Offset, fixtureRecordsPer)
		}
	}
	allA := append(append([]*kgo.Record{}, wantA...), moreA...)
	allB := append(append([]*kgo.Record{}, wantB...), moreB...)
	requireRecords(t, proc.Addr(), fixtureTopicA, fixturePartitionsA, allA)
	requireRecords(t, proc.Addr(), fixtureTopicB, fixturePartitionsB, allB)

	// A second start finds stamped directories and the stray already set
	// aside: nothing moves, the stray keeps its name and is reported again.
	proc.Stop(t)
	proc.Restart(t)
	requireRecords(t, proc.Addr(), fixtureTopicA, fixturePartitionsA, allA)
	requireRecords(t, proc.Addr(), fixtureTopicB, fixturePartitionsB, allB)
	requireGroupOffsets(t, proc.Addr())
	again := topicIDs(t, proc.Addr(), fixtureTopicA, fixtureTopicB, offsetsTopic)
	for topic, info := range ids {
		if again[topic] != info {
			t.Errorf("after restart Metadata gives %s %+v, before %+v", topic, again[topic], info)
		}
	}
	requireStamped(t, dir, ids)
	if got := requireStray(t, dir, "orphan-0", orphanSegments); got != stray {
		t.Errorf("stray directory renamed again across a restart: %s, then %s", stray, got)
	}
	waitForLogLine(t, proc, strayLogLine, "orphan-0", seen+1)
}

// TestUpgradeForeignTopicIDSetAside checks that a partition directory whose
// partition.metadata names another topic id than the metadata image is not
// adopted: its data must never be served as the partition's. The broker sets
// it aside as stray, intact, and the partition starts empty.
func TestUpgradeForeignTopicIDSetAside(t *testing.T) {
	dir := t.TempDir()
	extractFixture(t, dir)
	proc := testkit.StartProcess(t, testkit.ProcessOptions{DataDir: dir, Env: upgradeEnv})
	ids := topicIDs(t, proc.Addr(), fixtureTopicA)
	requireRecords(t, proc.Addr(), fixtureTopicA, fixturePartitionsA, fixtureRecords(fixtureTopicA, 0, 1, 2))
	proc.Stop(t)

	p1 := filepath.Join(dir, fixtureTopicA+"-1")
	pmPath := filepath.Join(p1, "partition.metadata")
	if id, err := readPartitionMetadata(pmPath); err != nil {
		t.Errorf("after the first start: %v", err)
	} else if id != ids[fixtureTopicA].id {
		t.Errorf("after the first start %s holds topic id %s, Metadata gives %s", pmPath, id, ids[fixtureTopicA].id)
	}
	foreign := randomTopicID(t)
	if err := os.WriteFile(pmPath, []byte("version: 0\ntopic_id: "+foreign+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	foreignSegments := segmentFiles(t, p1)

	proc.Restart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := testkit.NewAdmin(t, proc.Addr())
	starts, err := adm.ListStartOffsets(ctx, fixtureTopicA)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("list start offsets %s: %v", fixtureTopicA, err)
	}
	ends := testkit.HighWatermarks(t, proc.Addr(), fixtureTopicA)
	for p := int32(0); p < fixturePartitionsA; p++ {
		start, _ := starts.Lookup(fixtureTopicA, p)
		wantEnd := int64(fixtureRecordsPer)
		if p == 1 {
			wantEnd = 0
		}
		if start.Offset != 0 || ends[p] != wantEnd {
			t.Errorf("%s/%d: log start %d, end %d; want 0 and %d", fixtureTopicA, p, start.Offset, ends[p], wantEnd)
		}
	}
	var got, served []*kgo.Record
	for _, r := range testkit.ConsumePartitions(t, proc.Addr(), fixtureTopicA, fixturePartitionsA) {
		if r.Partition == 1 {
			served = append(served, r)
		} else {
			got = append(got, r)
		}
	}
	if len(served) > 0 {
		t.Errorf("%s/1 served %d records from the directory of topic id %s", fixtureTopicA, len(served), foreign)
	}
	requireFixtureRecords(t, fixtureRecords(fixtureTopicA, 0, 2), got)

	stray := requireStray(t, dir, fixtureTopicA+"-1", foreignSegments)
	if id, err := readPartitionMetadata(filepath.Join(dir, stray, "partition.metadata")); err != nil {
		t.Errorf("stray %s: %v", stray, err)
	} else if id != foreign {
		t.Errorf("stray %s holds topic id %s, want the foreign %s it was set aside for", stray, id, foreign)
	}
	waitForLogLine(t, proc, strayLogLine, fixtureTopicA+"-1", 1)

	// The partition's new directory belongs to the image's topic and takes
	// writes from offset 0.
	rec := &kgo.Record{Topic: fixtureTopicA, Partition: 1, Key: []byte("k"), Value: []byte("fresh")}
	cl := testkit.NewClient(t, proc.Addr(), testkit.ManualPartitioner())
	testkit.ProduceSync(t, cl, []*kgo.Record{rec})
	cl.Close()
	if rec.Offset != 0 {
		t.Errorf("first record in the re-created %s/1 acknowledged at offset %d, want 0", fixtureTopicA, rec.Offset)
	}
	if id, err := readPartitionMetadata(pmPath); err != nil {
		t.Errorf("re-created partition directory: %v", err)
	} else if id != ids[fixtureTopicA].id {
		t.Errorf("re-created %s holds topic id %s, Metadata gives %s", pmPath, id, ids[fixtureTopicA].id)
	}
}

// requireRecords reads every partition of topic and requires exactly want
// (which carries offsets), and for the fixture's own records also their
// timestamps.
func requireRecords(t *testing.T, addr, topic string, partitions int32, want []*kgo.Record) {
	t.Helper()
	got := testkit.ConsumePartitions(t, addr, topic, partitions)
	requireFixtureRecords(t, want, got)
}

func requireFixtureRecords(t *testing.T, want, got []*kgo.Record) {
	t.Helper()
	testkit.RequireSameRecords(t, want, got)
	for _, r := range got {
		if r.Offset >= fixtureRecordsPer || !strings.HasPrefix(string(r.Key), r.Topic+"-") {
			continue // written by the test, not the fixture
		}
		if w := fixtureRecord(r.Topic, r.Partition, int(r.Offset)); !r.Timestamp.Equal(w.Timestamp) {
			t.Errorf("%s/%d@%d: timestamp %v, the fixture wrote %v", r.Topic, r.Partition, r.Offset,
				r.Timestamp.UnixMilli(), w.Timestamp.UnixMilli())
		}
	}
}

// requireGroupOffsets requires the fixture's committed offsets of its group.
func requireGroupOffsets(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fetched, err := testkit.NewAdmin(t, addr).FetchOffsets(ctx, fixtureGroup)
	if err == nil {
		err = fetched.Error()
	}
	if err != nil {
		t.Fatalf("fetch offsets of group %s: %v", fixtureGroup, err)
	}
	n := 0
	fetched.Each(func(o kadm.OffsetResponse) {
		n++
		want, ok := fixtureGroupOffsets[o.Partition]
		if o.Topic != fixtureTopicA || !ok {
			t.Errorf("group %s has an offset for %s/%d, which it never committed", fixtureGroup, o.Topic, o.Partition)
		} else if o.At != want || o.Metadata != fixtureGroupMetadata {
			t.Errorf("group %s %s/%d: committed offset %d metadata %q, want %d %q",
				fixtureGroup, o.Topic, o.Partition, o.At, o.Metadata, want, fixtureGroupMetadata)
		}
	})
	if n != len(fixtureGroupOffsets) {
		t.Errorf("group %s has %d committed offsets, want %d", fixtureGroup, n, len(fixtureGroupOffsets))
	}
}

// topicInfo is what a Metadata response says about one topic.
type topicInfo struct {
	id         string // as Kafka prints it: URL-safe base64, no padding
	partitions int32
}

// topicIDs asks the broker for the listed topics' ids.
func topicIDs(t *testing.T, addr string, topics ...string) map[string]topicInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := testkit.NewClient(t, addr)
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("Metadata request: %v", err)
	}
	out := map[string]topicInfo{}
	for _, rt := range resp.Topics {
		if rt.Topic == nil || rt.ErrorCode != 0 {
			t.Fatalf("Metadata: topic %v error code %d", rt.Topic, rt.ErrorCode)
		}
		if rt.TopicID == [16]byte{} {
			t.Fatalf("Metadata (v%d) gives topic %s no topic id", req.Version, *rt.Topic)
		}
		out[*rt.Topic] = topicInfo{id: base64.RawURLEncoding.EncodeToString(rt.TopicID[:]), partitions: int32(len(rt.Partitions))}
	}
	for _, name := range topics {
		if _, ok := out[name]; !ok {
			t.Fatalf("Metadata response lacks topic %s", name)
		}
	}
	return out
}

// requireStamped requires every partition directory of the listed topics to
// hold a partition.metadata naming the topic's id. The node hosts every
// partition: the fixture is a single node.
func requireStamped(t *testing.T, dir string, ids map[string]topicInfo) {
	t.Helper()
	for topic, info := range ids {
		var bad []string
		for p := int32(0); p < info.partitions; p++ {
			pm := filepath.Join(dir, fmt.Sprintf("%s-%d", topic, p), "partition.metadata")
			id, err := readPartitionMetadata(pm)
			if err != nil {
				bad = append(bad, err.Error())
			} else if id != info.id {
				bad = append(bad, fmt.Sprintf("%s: topic id %s, Metadata gives %s", pm, id, info.id))
			}
		}
		if len(bad) > 0 {
			// One error per topic: __consumer_offsets alone has 50 partitions.
			t.Errorf("%d of %d partition directories of %s (id %s) are not stamped with it; first: %s",
				len(bad), info.partitions, topic, info.id, bad[0])
		}
	}
}

// readPartitionMetadata parses Kafka's partition.metadata, which is
//
//	version: 0
//	topic_id: <22 characters of URL-safe base64>
//
// and returns the topic id.
func readPartitionMetadata(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read partition metadata: %w", err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return "", fmt.Errorf("%s: malformed line %q", file, line)
		}
		fields[k] = v
	}
	if fields["version"] != "0" {
		return "", fmt.Errorf("%s: version %q, want 0", file, fields["version"])
	}
	id := fields["topic_id"]
	if raw, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(raw) != 16 {
		return "", fmt.Errorf("%s: topic_id %q is not 16 bytes of unpadded URL-safe base64", file, id)
	}
	return id, nil
}

func randomTopicID(t *testing.T) string {
	t.Helper()
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// requireStray requires that the partition directory name is gone from dir
// and that exactly one stray directory set aside from it exists, holding the
// segment files in want byte for byte. It returns the stray's name.
func requireStray(t *testing.T, dir, name string, want map[string][]byte) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var strays []string
	for _, e := range entries {
		if m := strayName.FindStringSubmatch(e.Name()); m != nil && m[1] == name && e.IsDir() {
			strays = append(strays, e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, name)); len(strays) == 0 && os.IsNotExist(err) {
		t.Fatalf("partition directory %s was removed, not set aside as %s.<id>-stray", name, name)
	}
	if len(strays) != 1 {
		t.Fatalf("want one directory %s.<id>-stray in the data directory, found %d: %v", name, len(strays), strays)
	}
	got := segmentFiles(t, filepath.Join(dir, strays[0]))
	for f, w := range want {
		if g, ok := got[f]; !ok {
			t.Errorf("stray %s lacks %s", strays[0], f)
		} else if !bytes.Equal(g, w) {
			t.Errorf("stray %s: %s changed (%d bytes, was %d)", strays[0], f, len(g), len(w))
		}
	}
	for f := range got {
		if _, ok := want[f]; !ok {
			t.Errorf("stray %s gained segment file %s", strays[0], f)
		}
	}
	return strays[0]
}

// waitForLogLine polls the process's output until at least n lines mention
// both phrase and name, and returns how many do.
func waitForLogLine(t *testing.T, proc *testkit.Process, phrase, name string, n int) int {
	t.Helper()
	count := func() int {
		c := 0
		for _, line := range strings.Split(proc.Logs(), "\n") {
			if strings.Contains(line, phrase) && strings.Contains(line, name) {
				c++
			}
		}
		return c
	}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c := count(); c >= n {
			return c
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("broker log has %d lines with %q and %q after 30s, want at least %d", count(), phrase, name, n)
		}
	}
}

// segmentFiles reads the segment files (.log, .index, .timeindex) of a
// partition directory.
func segmentFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".log", ".index", ".timeindex":
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = b
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no segment files", dir)
	}
	return out
}

// copyPartitionDir copies a partition directory (regular files only, no
// subdirectories), keeping modes and modification times.
func copyPartitionDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			t.Fatalf("%s: %s is not a regular file", from, e.Name())
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(to, e.Name())
		if err := os.WriteFile(dst, b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dst, info.ModTime(), info.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
}

// extractFixture unpacks the v0 data directory into dir, keeping file
// modes and modification times.
func extractFixture(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(fixtureV0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", fixtureV0, err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", fixtureV0, err)
		}
		name := path.Clean(hdr.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			t.Fatalf("%s: entry %q leaves the data directory", fixtureV0, hdr.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(hdr.Mode).Perm())
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("extract %s: %v", name, err)
			}
			if err := os.Chtimes(dst, hdr.ModTime, hdr.ModTime); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: entry %q has unsupported type %c", fixtureV0, hdr.Name, hdr.Typeflag)
		}
	}
}
