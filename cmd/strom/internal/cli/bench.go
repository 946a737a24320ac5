package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/strom-broker/strom/internal/loadgen"
)

func newBenchCmd(d Deps) *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "bench",
		Short: "Measure produce and consume throughput and latency",
	})
	cf := addClientFlags(cmd, d)
	var o loadgen.Options
	var asJSON bool
	var format string
	cmd.PersistentFlags().StringVar(&o.Topic, "topic", "strom-bench", "topic")
	cmd.PersistentFlags().StringVar(&format, "format", "text", "summary format: text or json")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	_ = cmd.PersistentFlags().MarkDeprecated("json", "use --format json")
	cmd.PersistentFlags().Int64Var(&o.NumRecords, "num-records", 0, "records to send or read (0: produce for --duration, consume until idle)")

	run := func(name string, fn func(context.Context, loadgen.Options) (loadgen.Result, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			p, _, err := cf.loadProfile()
			if err != nil {
				return err
			}
			o.Bootstrap = cf.seeds(p)
			if o.ClientOpts, err = cf.opts(); err != nil {
				return err
			}
			if err := checkBenchOptions(o); err != nil {
				return err
			}
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("--format %q: want text or json", format)}
			}
			asJSON = asJSON || format == "json"
			cl, err := cf.newClient()
			if err != nil {
				return err
			}
			err = cf.reachable(cmd.Context(), cl)
			cl.Close()
			if err != nil {
				return err
			}
			o.Progress = cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			res, err := fn(ctx, o)
			if err != nil && isDialError(err) {
				err = unreachable(strings.Join(o.Bootstrap, ","), err)
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				if res.Records == 0 {
					return fmt.Errorf("bench %s: %w", name, err)
				}
				defer fmt.Fprintf(cmd.ErrOrStderr(), "strom: bench %s: %v\n", name, err)
			}
			return printSummary(cmd.OutOrStdout(), name, res, asJSON)
		}
	}

	produce := &cobra.Command{
		Use:   "produce",
		Short: "Produce records as fast as allowed and report rate and ack latency",
		Args:  cobra.NoArgs,
		RunE:  run("produce", loadgen.Produce),
	}
	pf := produce.Flags()
	pf.Int32Var(&o.Partitions, "partitions", -1, "partitions when creating a missing topic (-1: broker default)")
	pf.Int16Var(&o.ReplicationFactor, "replication-factor", -1, "replication factor when creating a missing topic (-1: broker default)")
	pf.IntVar(&o.RecordSize, "record-size", 100, "value bytes per record")
	pf.DurationVar(&o.Duration, "duration", 10*time.Second, "measured run length when --num-records is 0")
	pf.DurationVar(&o.Warmup, "warmup", 0, "run this long before measuring")
	pf.Float64Var(&o.Throughput, "throughput", -1, "target records/s (-1: unlimited)")
	pf.StringVar(&o.Acks, "acks", "all", "acks: 0, 1 or all")
	pf.StringVar(&o.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	pf.DurationVar(&o.Linger, "linger", 0, "producer linger")
	pf.Int32Var(&o.BatchMaxBytes, "batch-max-bytes", 0, "max bytes per batch (0: client default)")
	pf.IntVar(&o.MaxBuffered, "max-buffered", 10000, "records buffered awaiting acknowledgement")

	consume := &cobra.Command{
		Use:   "consume",
		Short: "Read the topic from the start and report the rate",
		Args:  cobra.NoArgs,
		RunE:  run("consume", loadgen.Consume),
	}
	consume.Flags().StringVar(&o.Group, "group", "", "consume in this group (default: assign all partitions)")
	consume.Flags().DurationVar(&o.IdleTimeout, "idle-timeout", 5*time.Second, "stop after this long without a record")

	cmd.AddCommand(produce, consume)
	return cmd
}

// checkBenchOptions rejects bad flag values before connecting.
func checkBenchOptions(o loadgen.Options) error {
	if _, err := loadgen.AcksOpt(o.Acks); err != nil {
		return usageError{err}
	}
	if _, err := loadgen.CompressionOpt(o.Compression); err != nil {
		return usageError{err}
	}
	if o.RecordSize < 0 {
		return usageError{fmt.Errorf("--record-size: must be >= 0, got %d", o.RecordSize)}
	}
	if o.NumRecords < 0 {
		return usageError{fmt.Errorf("--num-records: must be >= 0, got %d", o.NumRecords)}
	}
	return nil
}

// benchSummary is the --format json form of a result; durations are in
// milliseconds.
type benchSummary struct {
	Mode      string  `json:"mode"`
	Records   int64   `json:"records"`
	Bytes     int64   `json:"bytes"`
	Errors    int64   `json:"errors"`
	ElapsedMs float64 `json:"elapsed_ms"`
	MsgPerSec float64 `json:"msg_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"`
	LatKind   string  `json:"latency_kind,omitempty"`
	LatAvgMs  float64 `json:"latency_avg_ms"`
	LatP50Ms  float64 `json:"latency_p50_ms"`
	LatP99Ms  float64 `json:"latency_p99_ms"`
	LatP999Ms float64 `json:"latency_p999_ms"`
	LatMaxMs  float64 `json:"latency_max_ms"`
}

func printSummary(out io.Writer, mode string, r loadgen.Result, asJSON bool) error {
	if !asJSON {
		_, err := fmt.Fprintf(out, "%s: %s\n", mode, r.Summary())
		return err
	}
	ms := func(ns float64) float64 { return ns / 1e6 }
	s := benchSummary{
		Mode: mode, Records: r.Records, Bytes: r.Bytes, Errors: r.Errors,
		ElapsedMs: ms(float64(r.Elapsed)), MsgPerSec: r.MsgPerSec(), MBPerSec: r.MBPerSec(),
	}
	if h := r.Latency; h != nil && h.Count() > 0 {
		s.LatKind = r.LatencyKind
		s.LatAvgMs = ms(h.Mean())
		s.LatP50Ms = ms(float64(h.Quantile(0.5)))
		s.LatP99Ms = ms(float64(h.Quantile(0.99)))
		s.LatP999Ms = ms(float64(h.Quantile(0.999)))
		s.LatMaxMs = ms(float64(h.Max()))
	}
	enc := json.NewEncoder(out)
	return enc.Encode(s)
}
