// Package loadgen is Strom's benchmark engine: a producer and a consumer
// load generator built on franz-go, with rate control, warm-up, per-second
// progress and an HDR-style latency histogram. `strom bench` and Go
// benchmarks both drive it through Produce and Consume.
//
// Concurrency: Produce and Consume each own the client and goroutines they
// start and stop them before returning; they are safe to call concurrently
// with each other (for example a consumer measuring end-to-end latency
// while a producer runs). A Histogram is not safe for concurrent use.
package loadgen

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Options configures a Produce or Consume run. Zero values take the
// defaults noted on each field.
type Options struct {
	Bootstrap []string // seed brokers; default 127.0.0.1:9092
	Topic     string   // required

	// Partitions and ReplicationFactor are used to create Topic when it is
	// missing; -1 (or 0) lets the broker choose.
	Partitions        int32
	ReplicationFactor int16

	RecordSize int           // value bytes per record; default 100
	NumRecords int64         // measured records to send/read; 0 = use Duration (produce) or read until idle (consume)
	Duration   time.Duration // measured run length for produce when NumRecords is 0; default 10s
	Warmup     time.Duration // produce runs this long first, excluded from results

	// Throughput caps the send rate in records/s; <= 0 is unlimited.
	Throughput float64

	Acks          string        // "0", "1" or "all" (default)
	Compression   string        // none (default), gzip, snappy, lz4, zstd
	Linger        time.Duration // producer linger; default 0 (franz-go default)
	BatchMaxBytes int32         // producer max batch bytes; 0 = franz-go default
	// MaxBuffered caps records produced but not yet acknowledged; default 10000.
	MaxBuffered int

	// Group, for Consume, joins this consumer group instead of assigning
	// every partition directly.
	Group string
	// IdleTimeout ends Consume when no record arrives for this long;
	// default 5s.
	IdleTimeout time.Duration

	// Progress receives one line per ProgressInterval (default 1s); nil
	// prints nothing.
	Progress         io.Writer
	ProgressInterval time.Duration

	// ClientOpts are appended to the franz-go client options, last wins.
	ClientOpts []kgo.Opt
}

// ErrBadOptions matches (errors.Is) every option validation error; the
// errors themselves read as the option's problem alone, so a command line
// tool can print them as they are.
var ErrBadOptions = errors.New("loadgen: bad options")

// optionError is an option validation error.
type optionError string

func (e optionError) Error() string        { return string(e) }
func (e optionError) Is(target error) bool { return target == ErrBadOptions }

func badOption(format string, args ...any) error { return optionError(fmt.Sprintf(format, args...)) }

func (o *Options) withDefaults() (Options, error) {
	c := *o
	if c.Topic == "" {
		return c, badOption("topic is required")
	}
	if len(c.Bootstrap) == 0 {
		c.Bootstrap = []string{"127.0.0.1:9092"}
	}
	if c.Partitions <= 0 {
		c.Partitions = -1
	}
	if c.ReplicationFactor <= 0 {
		c.ReplicationFactor = -1
	}
	if c.RecordSize == 0 {
		c.RecordSize = 100
	}
	if c.RecordSize < 0 {
		return c, badOption("record size %d < 0", c.RecordSize)
	}
	if c.NumRecords < 0 {
		return c, badOption("num records %d < 0", c.NumRecords)
	}
	if c.NumRecords == 0 && c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Acks == "" {
		c.Acks = "all"
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 10000
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Second
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	if _, err := AcksOpt(c.Acks); err != nil {
		return c, err
	}
	if _, err := CompressionOpt(c.Compression); err != nil {
		return c, err
	}
	return c, nil
}

// AcksOpt maps "0", "1", "all" (or "-1") to the franz-go producer options.
// Anything but all disables idempotence, which requires acks=all.
func AcksOpt(acks string) ([]kgo.Opt, error) {
	switch strings.ToLower(acks) {
	case "0":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}, nil
	case "1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, nil
	case "all", "-1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, nil
	}
	return nil, badOption("acks %q (want 0, 1 or all)", acks)
}

// CompressionOpt maps a codec name to the franz-go producer option.
func CompressionOpt(name string) (kgo.Opt, error) {
	var c kgo.CompressionCodec
	switch strings.ToLower(name) {
	case "none", "":
		c = kgo.NoCompression()
	case "gzip":
		c = kgo.GzipCompression()
	case "snappy":
		c = kgo.SnappyCompression()
	case "lz4":
		c = kgo.Lz4Compression()
	case "zstd":
		c = kgo.ZstdCompression()
	default:
		return nil, badOption("compression %q (want none, gzip, snappy, lz4 or zstd)", name)
	}
	return kgo.ProducerBatchCompression(c), nil
}

// Result is what one run measured. Warm-up records are not included.
type Result struct {
	Records int64         // records acknowledged (produce) or read (consume)
	Bytes   int64         // value bytes of those records
	Elapsed time.Duration // measured wall time
	Errors  int64         // records that failed to produce
	// Latency holds nanoseconds: produce acknowledgement time minus send
	// time, or for Consume, receive time minus record timestamp (meaningful
	// only when producer and consumer clocks agree).
	Latency *Histogram
	// LatencyKind names what Latency measures: "ack" or "end-to-end".
	LatencyKind string
}

// MsgPerSec is the record rate over Elapsed.
func (r Result) MsgPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Records) / r.Elapsed.Seconds()
}

// MBPerSec is the value-byte rate over Elapsed, in MiB/s as Kafka's
// perf tools print it.
func (r Result) MBPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / (1 << 20) / r.Elapsed.Seconds()
}

// Summary formats the result in one line, latency percentiles included
// when any were recorded.
func (r Result) Summary() string {
	s := fmt.Sprintf("%d records in %s, %.1f msg/s, %.2f MB/s",
		r.Records, r.Elapsed.Round(time.Millisecond), r.MsgPerSec(), r.MBPerSec())
	if r.Errors > 0 {
		s += fmt.Sprintf(", %d errors", r.Errors)
	}
	if h := r.Latency; h != nil && h.Count() > 0 {
		kind := r.LatencyKind
		if kind == "" {
			kind = "latency"
		} else {
			kind += " latency"
		}
		s += fmt.Sprintf(", %s avg %s p50 %s p99 %s p99.9 %s max %s", kind,
			fmtDur(time.Duration(h.Mean())), fmtDur(h.QuantileDuration(0.5)), fmtDur(h.QuantileDuration(0.99)),
			fmtDur(h.QuantileDuration(0.999)), fmtDur(time.Duration(h.Max())))
	} else if r.LatencyKind == "end-to-end" && r.Records > 0 {
		s += ", no end-to-end latency (no record written by strom bench produce during the run)"
	}
	return s
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
