package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/loadgen"
)

// maxLine caps one stdin line for produce; matches the broker's default
// max.message.bytes with room for framing.
const maxLine = 1 << 20

// commitTimeout bounds the final offset commit after an interrupt.
const commitTimeout = 5 * time.Second

func newProduceCmd() *cobra.Command {
	var topic, key, acks, compression string
	var headers []string
	cmd := &cobra.Command{
		Use:   "produce --topic TOPIC",
		Short: "Produce one record per stdin line",
		Args:  cobra.NoArgs,
	}
	bootstrap := bootstrapFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		hs, err := parseKV("header", headers)
		if err != nil {
			return err
		}
		ackOpts, err := loadgen.AcksOpt(acks)
		if err != nil {
			return err
		}
		comp, err := loadgen.CompressionOpt(compression)
		if err != nil {
			return err
		}
		cl, err := kgo.NewClient(append([]kgo.Opt{
			kgo.SeedBrokers(splitList(*bootstrap)...), kgo.ClientID("strom-cli"), kgo.DefaultProduceTopic(topic), comp,
		}, ackOpts...)...)
		if err != nil {
			return fmt.Errorf("produce: connect: %w", err)
		}
		defer cl.Close()
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return produceLines(ctx, cl, cmd.InOrStdin(), key, cmd.Flags().Changed("key"), hs)
	}
	cmd.Flags().StringVar(&topic, "topic", "", "topic to produce to (required)")
	cmd.Flags().StringVar(&key, "key", "", "key for every record (default: no key)")
	cmd.Flags().StringArrayVar(&headers, "header", nil, "header key=value on every record (repeatable)")
	cmd.Flags().StringVar(&acks, "acks", "all", "acks: 0, 1 or all")
	cmd.Flags().StringVar(&compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

// produceLines sends each line of in as one record and waits for all
// acknowledgements; the first failure is returned.
func produceLines(ctx context.Context, cl *kgo.Client, in io.Reader, key string, withKey bool, headers [][2]string) error {
	var hs []kgo.RecordHeader
	for _, h := range headers {
		hs = append(hs, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
	}
	var k []byte
	if withKey {
		k = []byte(key)
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	for sc.Scan() && ctx.Err() == nil {
		v := append([]byte(nil), sc.Bytes()...)
		cl.Produce(ctx, &kgo.Record{Key: k, Value: v, Headers: hs}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = firstErrOf(firstErr, err)
				mu.Unlock()
			}
		})
	}
	scanErr := sc.Err()
	flushErr := cl.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case firstErr != nil:
		return fmt.Errorf("produce: %w", firstErr)
	case scanErr != nil:
		return fmt.Errorf("produce: read stdin: %w", scanErr)
	case flushErr != nil && !errors.Is(flushErr, context.Canceled):
		return fmt.Errorf("produce: flush: %w", flushErr)
	}
	return nil
}

// firstErrOf returns the first non-nil error.
func firstErrOf(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func newConsumeCmd() *cobra.Command {
	var topic, group string
	var fromBeginning, printKey bool
	var maxMessages int64
	cmd := &cobra.Command{
		Use:   "consume --topic TOPIC",
		Short: "Print record values, one per line",
		Args:  cobra.NoArgs,
	}
	bootstrap := bootstrapFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		start := kgo.NewOffset().AtEnd()
		if fromBeginning {
			start = kgo.NewOffset().AtStart()
		}
		opts := []kgo.Opt{
			kgo.SeedBrokers(splitList(*bootstrap)...), kgo.ClientID("strom-cli"),
			kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start),
		}
		if group != "" {
			opts = append(opts, kgo.ConsumerGroup(group), kgo.DisableAutoCommit())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return fmt.Errorf("consume: connect: %w", err)
		}
		defer cl.Close()
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = consumeRecords(ctx, cl, cmd.OutOrStdout(), maxMessages, printKey, group != "")
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	cmd.Flags().StringVar(&topic, "topic", "", "topic to consume (required)")
	cmd.Flags().StringVar(&group, "group", "", "consumer group to join and commit offsets in")
	cmd.Flags().BoolVar(&fromBeginning, "from-beginning", false, "start at the earliest offset when there is no committed one")
	cmd.Flags().Int64Var(&maxMessages, "max-messages", 0, "exit after this many records (0: run until interrupted)")
	cmd.Flags().BoolVar(&printKey, "print-key", false, "print key<TAB>value")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

// consumeRecords prints records until max are printed (0: no limit) or
// ctx ends. With commit set it commits what it printed before returning.
func consumeRecords(ctx context.Context, cl *kgo.Client, out io.Writer, max int64, printKey, commit bool) error {
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
	for max == 0 || n < max {
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
		fetches.EachRecord(func(r *kgo.Record) {
			if max != 0 && n >= max {
				return
			}
			if printKey {
				w.Write(r.Key)
				w.WriteByte('\t')
			}
			w.Write(r.Value)
			w.WriteByte('\n')
			printed = append(printed, r)
			n++
		})
		if err := w.Flush(); err != nil {
			return fmt.Errorf("consume: write: %w", err)
		}
		if commit && len(printed) > 0 {
			if err := cl.CommitRecords(ctx, printed...); err != nil {
				return fmt.Errorf("consume: commit: %w", err)
			}
			printed = printed[:0]
		}
	}
	return nil
}
