package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type consumeFlags struct {
	topic, group, format string
	offsets              []string
	partitions           []int32
	exit, fromBeginning  bool
	printKey             bool
	maxMessages          int64
}

func newConsumeCmd(d Deps) *cobra.Command {
	var f consumeFlags
	cmd := &cobra.Command{
		Use:   "consume --topic TOPIC",
		Short: "Print records, one per line (or as a kcat -f template, or JSON)",
		Long: `Print records of a topic. Without --group it reads the partitions directly
(all, or those given by --partition) from --offset; with --group it joins
the group, starts at the committed offsets, and commits what it printed.

--offset takes kcat's forms: beginning, end, stored (the group's committed
offset), N (absolute), -N (N before the end), s@TS (the first record at or
after TS, Unix milliseconds) and e@TS (stop before the first record at or
after TS; implies --exit). Give --offset twice to combine s@ and e@.

--exit (-e) stops at the end of every partition as it was at start, as
kcat -e; with --max-messages the command ends at whichever comes first.

--format is text (the value, or key<TAB>value with --print-key), json (one
object per line), or a template as kcat -f: %t topic, %p partition,
%o offset, %k key, %s value, %K key length, %S value length, %T timestamp
(ms), %h headers (k=v,...), %% a percent sign, and \n \t \r \\ escapes.`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(cmd, d)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err := consume(ctx, cf, &f, cmd.OutOrStdout())
		if errors.Is(err, context.Canceled) {
			return nil
		}
		if err != nil && isDialError(err) {
			return unreachable(cf.seedList(), err)
		}
		return err
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.topic, "topic", "t", "", "topic to consume (required)")
	fl.StringVarP(&f.group, "group", "g", "", "consumer group to join and commit offsets in")
	fl.Int32SliceVarP(&f.partitions, "partition", "p", nil, "partitions to read (repeatable; default all; not with --group)")
	fl.StringArrayVarP(&f.offsets, "offset", "o", nil, "where to start: beginning, end, stored, N, -N, s@TS; e@TS to stop (default: end, or stored with --group)")
	fl.BoolVarP(&f.exit, "exit", "e", false, "exit at the end of the partitions (kcat -e)")
	fl.BoolVar(&f.fromBeginning, "from-beginning", false, "same as --offset beginning (with --group: where there is no committed offset)")
	fl.Int64VarP(&f.maxMessages, "max-messages", "c", 0, "exit after this many records (0: no limit)")
	fl.StringVarP(&f.format, "format", "f", "text", "text, json, or a kcat -f template such as '%k=%s @%o\\n'")
	fl.BoolVar(&f.printKey, "print-key", false, "text format: print key<TAB>value")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

// offsetSpec is a parsed --offset.
type offsetSpec struct {
	kind string // beginning, end, stored, abs, rel, ts
	n    int64
}

func parseOffsets(specs []string, fromBeginning bool, group string) (start offsetSpec, stopTS int64, err error) {
	stopTS = -1
	start = offsetSpec{kind: "end"}
	if group != "" {
		start.kind = "stored"
	}
	if fromBeginning && group == "" {
		start.kind = "beginning"
	}
	seenStart := false
	for _, s := range specs {
		var o offsetSpec
		switch {
		case s == "beginning" || s == "earliest":
			o.kind = "beginning"
		case s == "end" || s == "latest":
			o.kind = "end"
		case s == "stored":
			o.kind = "stored"
		case strings.HasPrefix(s, "s@"), strings.HasPrefix(s, "e@"):
			ts, perr := strconv.ParseInt(s[2:], 10, 64)
			if perr != nil || ts < 0 {
				return start, stopTS, usageError{fmt.Errorf("--offset %q: want a timestamp in Unix milliseconds after %s", s, s[:2])}
			}
			if s[0] == 'e' {
				stopTS = ts
				continue
			}
			o = offsetSpec{kind: "ts", n: ts}
		default:
			n, perr := strconv.ParseInt(s, 10, 64)
			if perr != nil {
				return start, stopTS, usageError{fmt.Errorf("--offset %q: want beginning, end, stored, N, -N, s@TS or e@TS", s)}
			}
			o = offsetSpec{kind: "abs", n: n}
			if n < 0 {
				o = offsetSpec{kind: "rel", n: -n}
			}
		}
		if seenStart {
			return start, stopTS, usageError{errors.New("--offset: give one start (and at most one e@TS)")}
		}
		seenStart, start = true, o
	}
	if start.kind == "stored" && group == "" {
		return start, stopTS, usageError{errors.New("--offset stored needs --group")}
	}
	if group != "" && start.kind != "stored" && start.kind != "beginning" && start.kind != "end" {
		return start, stopTS, usageError{errors.New("with --group, --offset takes beginning, end or stored (where the group has no committed offset)")}
	}
	return start, stopTS, nil
}

func consume(ctx context.Context, cf *clientFlags, f *consumeFlags, out io.Writer) error {
	start, stopTS, err := parseOffsets(f.offsets, f.fromBeginning, f.group)
	if err != nil {
		return err
	}
	if f.group != "" && len(f.partitions) > 0 {
		return usageError{errors.New("--partition and --group exclude each other: the group assigns partitions")}
	}
	if f.maxMessages < 0 {
		return usageError{fmt.Errorf("--max-messages: must be >= 0, got %d", f.maxMessages)}
	}
	printer, err := newRecordPrinter(f.format, f.printKey)
	if err != nil {
		return err
	}
	exit := f.exit || stopTS >= 0

	// Plan with an admin client: the topic must exist, and -e needs
	// each partition's start and end.
	admCl, err := cf.newClient()
	if err != nil {
		return err
	}
	defer admCl.Close()
	if err := cf.reachable(ctx, admCl); err != nil {
		return err
	}
	plan, err := planConsume(ctx, kadm.NewClient(admCl), f, start, stopTS)
	if err != nil {
		return err
	}
	admCl.Close()

	// Control records (transaction markers) are kept so that -e sees every
	// offset up to the end; they are never printed.
	opts := []kgo.Opt{kgo.KeepControlRecords()}
	if f.group != "" {
		reset := kgo.NewOffset().AtEnd()
		if start.kind == "beginning" || f.fromBeginning {
			reset = kgo.NewOffset().AtStart()
		}
		opts = append(opts, kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(f.topic), kgo.ConsumeResetOffset(reset), kgo.DisableAutoCommit())
	} else {
		parts := map[int32]kgo.Offset{}
		for p, at := range plan.start {
			parts[p] = kgo.NewOffset().At(at)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.topic: parts}))
	}
	cl, err := cf.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if !exit {
		plan.stop = nil
	}
	return consumeRecords(ctx, cl, out, printer, f.maxMessages, plan, f.group != "")
}

// consumePlan holds, per partition, where reading starts and (with -e or
// e@TS) the offset it stops before.
type consumePlan struct {
	start map[int32]int64
	stop  map[int32]int64 // nil: no end
}

func planConsume(ctx context.Context, adm *kadm.Client, f *consumeFlags, start offsetSpec, stopTS int64) (consumePlan, error) {
	plan := consumePlan{start: map[int32]int64{}, stop: map[int32]int64{}}
	tds, err := adm.ListTopics(ctx, f.topic)
	if err != nil {
		return plan, fmt.Errorf("topic %s: %w", f.topic, err)
	}
	td, ok := tds[f.topic]
	if !ok {
		return plan, fmt.Errorf("topic %s: metadata did not answer for it", f.topic)
	}
	if td.Err != nil {
		return plan, fmt.Errorf("topic %s: %w", f.topic, td.Err)
	}
	parts := f.partitions
	if len(parts) == 0 {
		for p := range td.Partitions {
			parts = append(parts, p)
		}
	}
	for _, p := range parts {
		if _, ok := td.Partitions[p]; !ok {
			return plan, usageError{fmt.Errorf("--partition %d: topic %s has %d partition(s)", p, f.topic, len(td.Partitions))}
		}
	}
	starts, err := adm.ListStartOffsets(ctx, f.topic)
	if err != nil {
		return plan, fmt.Errorf("list offsets of %s: %w", f.topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, f.topic)
	if err != nil {
		return plan, fmt.Errorf("list offsets of %s: %w", f.topic, err)
	}
	offsetOf := func(l kadm.ListedOffsets, p int32) (int64, error) {
		o, ok := l.Lookup(f.topic, p)
		if !ok {
			return 0, fmt.Errorf("list offsets of %s[%d]: no answer", f.topic, p)
		}
		if o.Err != nil {
			return 0, fmt.Errorf("list offsets of %s[%d]: %w", f.topic, p, o.Err)
		}
		return o.Offset, nil
	}
	var byTime, stopAt kadm.ListedOffsets
	if start.kind == "ts" {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, start.n, f.topic); err != nil {
			return plan, fmt.Errorf("list offsets of %s: %w", f.topic, err)
		}
	}
	if stopTS >= 0 {
		if stopAt, err = adm.ListOffsetsAfterMilli(ctx, stopTS, f.topic); err != nil {
			return plan, fmt.Errorf("list offsets of %s: %w", f.topic, err)
		}
	}
	var committed kadm.OffsetResponses
	if f.group != "" {
		if committed, err = adm.FetchOffsets(ctx, f.group); err != nil {
			return plan, fmt.Errorf("group %s: %w", f.group, err)
		}
	}
	for _, p := range parts {
		lo, err := offsetOf(starts, p)
		if err != nil {
			return plan, err
		}
		hi, err := offsetOf(ends, p)
		if err != nil {
			return plan, err
		}
		at := hi
		switch start.kind {
		case "beginning":
			at = lo
		case "abs":
			at = min(max(start.n, lo), hi)
		case "rel":
			at = max(hi-start.n, lo)
		case "ts":
			if at, err = offsetOf(byTime, p); err != nil {
				return plan, err
			}
			if at < 0 {
				at = hi
			}
		}
		if f.group != "" {
			// The group starts where it committed, else at its reset.
			if c, ok := committed.Lookup(f.topic, p); ok && c.Err == nil && c.At >= 0 {
				at = c.At
			} else if start.kind == "beginning" || f.fromBeginning {
				at = lo
			}
		}
		plan.start[p] = at
		stop := hi
		if stopTS >= 0 {
			if s, err := offsetOf(stopAt, p); err == nil && s >= 0 {
				stop = min(s, hi)
			}
		}
		plan.stop[p] = stop
	}
	return plan, nil
}

// consumeRecords prints records until max are printed (0: no limit), every
// partition in plan.stop is at its stop offset, or ctx ends. With commit
// set it commits what it printed.
func consumeRecords(ctx context.Context, cl *kgo.Client, out io.Writer, pr recordPrinter, max int64, plan consumePlan, commit bool) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	var n int64
	var printed []*kgo.Record
	defer func() {
		if commit && len(printed) > 0 {
			// Commit on a fresh context: ctx may be the interrupt.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
			defer cancel()
			_ = cl.CommitRecords(cctx, printed...)
		}
	}()
	pending := map[int32]bool{}
	for p, stop := range plan.stop {
		if plan.start[p] < stop {
			pending[p] = true
		}
	}
	for (max == 0 || n < max) && (plan.stop == nil || len(pending) > 0) {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			fetchErr = firstErrOf(fetchErr, fmt.Errorf("consume %s[%d]: %w", t, p, err))
		})
		if fetchErr != nil {
			return fetchErr
		}
		printed = printed[:0]
		var werr error
		fetches.EachRecord(func(r *kgo.Record) {
			if (max != 0 && n >= max) || werr != nil {
				return
			}
			if plan.stop != nil {
				stop, ok := plan.stop[r.Partition]
				if !ok || r.Offset >= stop {
					delete(pending, r.Partition)
					return
				}
				if r.Offset+1 >= stop {
					delete(pending, r.Partition)
				}
			}
			if r.Attrs.IsControl() {
				return
			}
			werr = pr(w, r)
			printed = append(printed, r)
			n++
		})
		if werr == nil {
			werr = w.Flush()
		}
		if werr != nil {
			return fmt.Errorf("write output: %w", werr)
		}
		if commit && len(printed) > 0 {
			if err := cl.CommitRecords(ctx, printed...); err != nil {
				return fmt.Errorf("commit offsets: %w", err)
			}
			printed = printed[:0]
		}
	}
	return nil
}

// recordPrinter writes one record.
type recordPrinter func(w *bufio.Writer, r *kgo.Record) error

func newRecordPrinter(format string, printKey bool) (recordPrinter, error) {
	switch format {
	case "", "text":
		return func(w *bufio.Writer, r *kgo.Record) error {
			if printKey {
				w.Write(r.Key)
				w.WriteByte('\t')
			}
			w.Write(r.Value)
			return w.WriteByte('\n')
		}, nil
	case "json":
		return printJSON, nil
	case "yaml":
		return nil, usageError{errors.New("--format yaml is for list and describe commands; consume takes text, json or a template")}
	}
	return parseTemplate(format)
}

// jsonRecord is one line of --format json; key and value are strings (as
// kcat -J), null when absent.
type jsonRecord struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp int64             `json:"timestamp"`
	Headers   map[string]string `json:"headers"`
	Key       *string           `json:"key"`
	Value     *string           `json:"value"`
}

func printJSON(w *bufio.Writer, r *kgo.Record) error {
	j := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Headers: map[string]string{}}
	for _, h := range r.Headers {
		j.Headers[h.Key] = string(h.Value)
	}
	if r.Key != nil {
		k := string(r.Key)
		j.Key = &k
	}
	if r.Value != nil {
		v := string(r.Value)
		j.Value = &v
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

// parseTemplate compiles a kcat -f template into a printer.
func parseTemplate(tmpl string) (recordPrinter, error) {
	type piece func(w *bufio.Writer, r *kgo.Record)
	var pieces []piece
	lit := func(s string) { pieces = append(pieces, func(w *bufio.Writer, _ *kgo.Record) { w.WriteString(s) }) }
	var buf strings.Builder
	flush := func() {
		if buf.Len() > 0 {
			lit(buf.String())
			buf.Reset()
		}
	}
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if (c != '%' && c != '\\') || i+1 == len(tmpl) {
			buf.WriteByte(c)
			continue
		}
		i++
		d := tmpl[i]
		if c == '\\' {
			switch d {
			case 'n':
				buf.WriteByte('\n')
			case 't':
				buf.WriteByte('\t')
			case 'r':
				buf.WriteByte('\r')
			case '\\':
				buf.WriteByte('\\')
			default:
				buf.WriteByte('\\')
				buf.WriteByte(d)
			}
			continue
		}
		var p piece
		switch d {
		case '%':
			buf.WriteByte('%')
			continue
		case 't':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(r.Topic) }
		case 'p':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.FormatInt(int64(r.Partition), 10)) }
		case 'o':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.FormatInt(r.Offset, 10)) }
		case 'k':
			p = func(w *bufio.Writer, r *kgo.Record) { w.Write(r.Key) }
		case 's':
			p = func(w *bufio.Writer, r *kgo.Record) { w.Write(r.Value) }
		case 'K':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.Itoa(len(r.Key))) }
		case 'S':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.Itoa(len(r.Value))) }
		case 'T':
			p = func(w *bufio.Writer, r *kgo.Record) { w.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10)) }
		case 'h':
			p = func(w *bufio.Writer, r *kgo.Record) {
				for i, h := range r.Headers {
					if i > 0 {
						w.WriteByte(',')
					}
					w.WriteString(h.Key)
					w.WriteByte('=')
					w.Write(h.Value)
				}
			}
		default:
			return nil, usageError{fmt.Errorf("--format %q: unknown %%%c (want %%t %%p %%o %%k %%s %%K %%S %%T %%h or %%%%)", tmpl, d)}
		}
		flush()
		pieces = append(pieces, p)
	}
	flush()
	if !strings.Contains(tmpl, "%") {
		return nil, usageError{fmt.Errorf("--format %q: want text, json or a template with %%s, %%k, ...", tmpl)}
	}
	return func(w *bufio.Writer, r *kgo.Record) error {
		for _, p := range pieces {
			p(w, r)
		}
		return nil
	}, nil
}
