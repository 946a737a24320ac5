package testkit

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Checker records what a producer attempted and what it was told was
// acknowledged, then checks a full read of the topic against it:
//
//   - every acknowledged record is read back at the partition and offset it
//     was acknowledged at, byte-exact;
//   - no record is read twice (records are identified by their value, which
//     must be unique per attempted record);
//   - nothing is read that was never attempted;
//   - offsets of each partition are unique and gapless from the first one read.
//
// Attempted but unacknowledged records may or may not appear. Attempt and
// Ack are safe for concurrent use (e.g. from produce promises).
type Checker struct {
	mu        sync.Mutex
	attempted map[string]*kgo.Record // by value
	acked     map[string]*kgo.Record // by value; holds partition and offset
	failed    map[string]error
}

// NewChecker returns an empty checker.
func NewChecker() *Checker {
	return &Checker{attempted: map[string]*kgo.Record{}, acked: map[string]*kgo.Record{}, failed: map[string]error{}}
}

// Attempt notes a record about to be produced. Its value must be unique.
func (c *Checker) Attempt(r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempted[string(r.Value)] = cloneRecord(r)
}

// Done notes the outcome the producer reported for a record: acknowledged at
// r.Partition/r.Offset when err is nil.
func (c *Checker) Done(r *kgo.Record, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failed[string(r.Value)] = err
		return
	}
	c.acked[string(r.Value)] = cloneRecord(r)
}

// Counts returns how many records were attempted, acknowledged and failed.
func (c *Checker) Counts() (attempted, acked, failed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.attempted), len(c.acked), len(c.failed)
}

// PartitionOffset names a record's place in a topic.
type PartitionOffset struct {
	Partition int32
	Offset    int64
}

// AckedOffsets returns where every acknowledged record was acknowledged.
func (c *Checker) AckedOffsets() map[PartitionOffset]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[PartitionOffset]bool, len(c.acked))
	for _, r := range c.acked {
		out[PartitionOffset{r.Partition, r.Offset}] = true
	}
	return out
}

// Failures returns up to max producer errors, for reporting.
func (c *Checker) Failures(max int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for v, err := range c.failed {
		if len(out) == max {
			break
		}
		out = append(out, fmt.Sprintf("%.30s: %v", v, err))
	}
	sort.Strings(out)
	return out
}

// Verify checks read, a full read of the topic's partitions, against what was
// acknowledged, and fails the test listing the first violations.
func (c *Checker) Verify(t testing.TB, read []*kgo.Record) {
	t.Helper()
	res := c.Check(read)
	for i, v := range res.Violations {
		if i == 20 {
			t.Errorf("... and %d more violations", len(res.Violations)-20)
			break
		}
		t.Errorf("%s", v)
	}
	if len(res.Violations) > 0 {
		t.Fatalf("checker: %d violations (%d acknowledged records lost) over %d records read, %d attempted, %d acknowledged",
			len(res.Violations), res.Lost, res.Read, res.Attempted, res.Acked)
	}
}

// CheckResult is what Check found.
type CheckResult struct {
	Read, Attempted, Acked int
	// Lost counts acknowledged records not read; Duplicated records read
	// more than once (the same value at two offsets); Misplaced
	// acknowledged records read at another partition or offset than
	// acknowledged; Reordered offsets read out of order or with a gap;
	// DoubleAcked offsets acknowledged for two different records (two
	// leaders handed out the same offset).
	Lost, Duplicated, Misplaced, Reordered, DoubleAcked int
	Violations                                          []string
}

// Check is Verify without a test: it returns the figures and every
// violation.
func (c *Checker) Check(read []*kgo.Record) CheckResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := CheckResult{Read: len(read), Attempted: len(c.attempted), Acked: len(c.acked)}
	fail := func(format string, args ...any) {
		res.Violations = append(res.Violations, fmt.Sprintf(format, args...))
	}
	type at struct {
		p int32
		o int64
	}
	seenVal := map[string]at{}
	seenAt := map[at]bool{}
	next := map[int32]int64{}
	for _, r := range read {
		k := at{r.Partition, r.Offset}
		if seenAt[k] {
			res.Reordered++
			fail("partition %d offset %d read twice", r.Partition, r.Offset)
			continue
		}
		seenAt[k] = true
		if n, ok := next[r.Partition]; ok && r.Offset != n {
			res.Reordered++
			fail("partition %d: offset %d follows %d (gap or reorder)", r.Partition, r.Offset, n-1)
		}
		next[r.Partition] = r.Offset + 1
		v := string(r.Value)
		if prev, dup := seenVal[v]; dup {
			res.Duplicated++
			fail("record %.30q appears twice: at %d/%d and %d/%d", v, prev.p, prev.o, r.Partition, r.Offset)
			continue
		}
		seenVal[v] = k
		a, ok := c.attempted[v]
		if !ok {
			fail("partition %d offset %d: read a record that was never produced (value %.30q)", r.Partition, r.Offset, v)
			continue
		}
		if d := DiffRecord(a, r); d != "" {
			fail("partition %d offset %d: %s", r.Partition, r.Offset, d)
		}
		if ack, ok := c.acked[v]; ok && (ack.Partition != r.Partition || ack.Offset != r.Offset) {
			res.Misplaced++
			fail("record %.30q acknowledged at %d/%d, read at %d/%d", v, ack.Partition, ack.Offset, r.Partition, r.Offset)
		}
	}
	ackedAt := make(map[at]string, len(c.acked))
	for v, ack := range c.acked {
		k := at{ack.Partition, ack.Offset}
		if other, dup := ackedAt[k]; dup {
			res.DoubleAcked++
			fail("partition %d offset %d acknowledged for two records: %.30q and %.30q", k.p, k.o, other, v)
		}
		ackedAt[k] = v
	}
	for v, ack := range c.acked {
		if _, ok := seenVal[v]; !ok {
			res.Lost++
			fail("acknowledged record lost: %.30q acknowledged at %d/%d", v, ack.Partition, ack.Offset)
		}
	}
	return res
}

func cloneRecord(r *kgo.Record) *kgo.Record {
	c := &kgo.Record{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Key:       append([]byte(nil), r.Key...),
		Value:     append([]byte(nil), r.Value...),
	}
	if r.Key == nil {
		c.Key = nil
	}
	for _, h := range r.Headers {
		c.Headers = append(c.Headers, kgo.RecordHeader{Key: h.Key, Value: append([]byte{}, h.Value...)})
	}
	return c
}
