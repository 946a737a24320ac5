// Package scenario holds what the Go programs of the client matrix share: the
// records every client writes (the same bytes in every language, see
// test/compat/matrix/README.md), a checker that compares what a consumer read
// with them byte for byte, and the STEP line protocol the driver parses.
//
// A Run is used from one goroutine.
package scenario

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Scenario constants; every language uses the same values.
const (
	Partitions  = 3
	PerCodec    = 50
	ResumeCount = 10
	// ResumeLabel names the records produced (uncompressed) for the resume step.
	ResumeLabel = "resume"
	// StepTimeout bounds each step of a client program.
	StepTimeout = 60 * time.Second
)

// Codecs are the Kafka compression codecs, by config name, in scenario order.
var Codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is what a client writes and must read back unchanged.
type Record struct {
	Key, Value []byte
	Headers    []Header
}

// Make returns record i of the codec (or ResumeLabel) group.
func Make(label string, i int) Record {
	value := []byte(fmt.Sprintf("value-%s-%d-", label, i))
	value = append(value, 0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff)
	value = append(value, bytes.Repeat([]byte("x"), 64)...)
	return Record{
		Key:   []byte(fmt.Sprintf("key-%s-%d", label, i)),
		Value: value,
		Headers: []Header{
			{Key: "trace", Value: []byte(fmt.Sprintf("h-%s-%d", label, i))},
			{Key: "bin", Value: append([]byte{0x01, 0x80, 0xff}, label...)},
		},
	}
}

// Group returns the n records of a label.
func Group(label string, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Make(label, i)
	}
	return out
}

// Checker compares consumed records with the expected set.
type Checker struct {
	want map[string]Record
	seen map[string]string // key -> where it was first read

	redelivered int
}

// NewChecker expects exactly recs, each once.
func NewChecker(recs []Record) *Checker {
	c := &Checker{want: map[string]Record{}, seen: map[string]string{}}
	for _, r := range recs {
		c.want[string(r.Key)] = r
	}
	return c
}

// Add checks one consumed record: known key, byte-exact value and headers,
// not seen before at another position. where is its position
// ("partition P offset O").
func (c *Checker) Add(got Record, where string) error {
	w, ok := c.want[string(got.Key)]
	if !ok {
		return fmt.Errorf("unexpected record key %q at %s", got.Key, where)
	}
	if first, dup := c.seen[string(got.Key)]; dup {
		// The same record at the same position again is a client's
		// at-least-once redelivery (after a rebalance, say): counted and
		// shown, not failed. The same key at another position was written twice.
		if first == where {
			c.redelivered++
			return nil
		}
		return fmt.Errorf("duplicate record %q at %s, first read at %s", got.Key, where, first)
	}
	if d := Diff(w, got); d != "" {
		return fmt.Errorf("record %q at %s: %s", got.Key, where, d)
	}
	c.seen[string(got.Key)] = where
	return nil
}

// Done reports whether every expected record has been seen.
func (c *Checker) Done() bool { return len(c.seen) == len(c.want) }

// Progress is "seen of expected", for timeouts.
func (c *Checker) Progress() string {
	s := fmt.Sprintf("%d of %d records", len(c.seen), len(c.want))
	if c.redelivered > 0 {
		s += fmt.Sprintf(" (%d redelivered at the same offset)", c.redelivered)
	}
	return s
}

// Diff describes how got differs from want, or "" when identical.
func Diff(want, got Record) string {
	if !bytes.Equal(want.Value, got.Value) {
		return fmt.Sprintf("value %q, want %q", got.Value, want.Value)
	}
	if len(want.Headers) != len(got.Headers) {
		return fmt.Sprintf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i, h := range want.Headers {
		g := got.Headers[i]
		if g.Key != h.Key || !bytes.Equal(g.Value, h.Value) {
			return fmt.Sprintf("header %d is %q=%q, want %q=%q", i, g.Key, g.Value, h.Key, h.Value)
		}
	}
	return ""
}

// Args are the command line every client program takes:
// BOOTSTRAP TOPIC GROUP RF.
type Args struct {
	Bootstrap, Topic, Group string
	RF                      int16
}

// ParseArgs parses os.Args or exits with a usage message.
func ParseArgs() Args {
	if len(os.Args) != 5 {
		fmt.Fprintf(os.Stderr, "usage: %s BOOTSTRAP TOPIC GROUP RF\n", os.Args[0])
		os.Exit(2)
	}
	rf, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad RF %q\n", os.Args[4])
		os.Exit(2)
	}
	return Args{Bootstrap: os.Args[1], Topic: os.Args[2], Group: os.Args[3], RF: int16(rf)}
}

// Brokers splits the bootstrap list.
func (a Args) Brokers() []string { return strings.Split(a.Bootstrap, ",") }

// Run prints STEP lines and stops running steps after the first failure.
type Run struct {
	failed bool
}

// Step runs f under a StepTimeout context unless an earlier step failed,
// and prints its result. It reports whether the step passed.
func (r *Run) Step(name string, f func(ctx context.Context) (string, error)) bool {
	if r.failed {
		return false
	}
	return r.Always(name, f)
}

// Always runs f even after a failure (clean-up steps such as delete_topic).
func (r *Run) Always(name string, f func(ctx context.Context) (string, error)) bool {
	ctx, cancel := context.WithTimeout(context.Background(), StepTimeout)
	defer cancel()
	detail, err := f(ctx)
	if err != nil {
		r.failed = true
		fmt.Printf("STEP %s FAIL %s\n", name, oneLine(err.Error()))
		return false
	}
	fmt.Printf("STEP %s PASS %s\n", name, oneLine(detail))
	return true
}

// NA reports a step the client cannot do.
func (r *Run) NA(name, reason string) { fmt.Printf("STEP %s NA %s\n", name, oneLine(reason)) }

// Exit ends the program: status 1 when a step failed.
func (r *Run) Exit() {
	if r.failed {
		os.Exit(1)
	}
	os.Exit(0)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Poll calls f until it returns true or an error, or ctx ends; it returns
// the last problem f described on timeout.
func Poll(ctx context.Context, f func() (bool, string, error)) error {
	last := "no attempt"
	for {
		ok, problem, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = problem
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v: %s", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
