package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/loadgen"
)

// commitTimeout bounds the final offset commit after an interrupt.
const commitTimeout = 5 * time.Second

type produceFlags struct {
	topic, key, keySep string
	acks, compression  string
	linesFrom          string
	files, headers     []string
	partition          int32
}

func newProduceCmd(d Deps) *cobra.Command {
	var f produceFlags
	cmd := &cobra.Command{
		Use:   "produce --topic TOPIC",
		Short: "Produce one record per stdin line (or per file)",
		Long: `Produce one record per line of stdin (or of the file given by -l), or one
record per file given by --file. Lines have no length limit of their own:
the topic's max.message.bytes is the limit. With -K SEP each line is
KEY SEP VALUE (as kcat -K); a line without SEP is a value without key.
A missing topic is created when the broker creates topics on first use
(as kcat does); otherwise the error says how to create it.`,
		Args: cobra.NoArgs,
	}
	cf := addClientFlags(cmd, d)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		hs, err := parseKV("header", f.headers)
		if err != nil {
			return usageError{err}
		}
		if cmd.Flags().Changed("key") && f.keySep != "" {
			return usageError{errors.New("--key and --key-separator exclude each other")}
		}
		if len(f.files) > 0 && f.linesFrom != "" {
			return usageError{errors.New("--file and --lines-from exclude each other")}
		}
		ackOpts, err := loadgen.AcksOpt(f.acks)
		if err != nil {
			return usageError{err}
		}
		comp, err := loadgen.CompressionOpt(f.compression)
		if err != nil {
			return usageError{err}
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		extra := append([]kgo.Opt{kgo.DefaultProduceTopic(f.topic), comp, kgo.AllowAutoTopicCreation()}, ackOpts...)
		if f.partition >= 0 {
			extra = append(extra, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		}
		maxBytes, err := checkProduceTopic(ctx, cf, f.topic, f.partition)
		if err != nil {
			return err
		}
		if maxBytes > 0 {
			extra = append(extra, kgo.ProducerBatchMaxBytes(maxBytes))
		}
		cl, err := cf.newClient(extra...)
		if err != nil {
			return err
		}
		defer cl.Close()
		p := &lineProducer{cl: cl, partition: f.partition, keySep: []byte(f.keySep)}
		for _, h := range hs {
			p.headers = append(p.headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
		}
		if cmd.Flags().Changed("key") {
			p.key = []byte(f.key)
		}
		switch {
		case len(f.files) > 0:
			err = p.produceFiles(ctx, f.files)
		case f.linesFrom != "":
			var fh *os.File
			if fh, err = os.Open(f.linesFrom); err != nil {
				return err
			}
			defer fh.Close()
			err = p.produceLines(ctx, fh)
		default:
			err = p.produceLines(ctx, cmd.InOrStdin())
		}
		if err != nil && isDialError(err) {
			return unreachable(cf.seedList(), err)
		}
		return err
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.topic, "topic", "t", "", "topic to produce to (required)")
	fl.StringVarP(&f.key, "key", "k", "", "key for every record (default: no key)")
	fl.StringVarP(&f.keySep, "key-separator", "K", "", "split each line at the first SEP into key and value (kcat -K)")
	fl.Int32VarP(&f.partition, "partition", "p", -1, "partition to produce to (-1: by key hash, else spread)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "header key=value on every record (repeatable)")
	fl.StringArrayVar(&f.files, "file", nil, "send this file's whole content as one record (repeatable)")
	fl.StringVarP(&f.linesFrom, "lines-from", "l", "", "read lines from this file instead of stdin")
	fl.StringVar(&f.acks, "acks", "all", "acks: 0, 1 or all")
	fl.StringVarP(&f.compression, "compression", "z", "none", "none, gzip, snappy, lz4 or zstd")
	_ = cmd.MarkFlagRequired("topic")
	return cmd
}

// checkProduceTopic asks for the topic the way a producer does (allowing
// the broker to create it) and fails at once when it does not exist and
// will not be created. It returns the topic's max.message.bytes (0 when it
// cannot be read), the limit of one record batch.
func checkProduceTopic(ctx context.Context, cf *clientFlags, topic string, partition int32) (int32, error) {
	cl, err := cf.newClient()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := cf.reachable(ctx, cl); err != nil {
		return 0, err
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	if len(resp.Topics) != 1 {
		return 0, fmt.Errorf("topic %s: metadata answered %d topics", topic, len(resp.Topics))
	}
	t := resp.Topics[0]
	switch err := kerr.ErrorForCode(t.ErrorCode); {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return 0, fmt.Errorf("topic %s does not exist and the broker does not create topics on first use; create it with: strom topic create %s", topic, topic)
	case errors.Is(err, kerr.LeaderNotAvailable):
		return 0, nil // being created
	case err != nil:
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	if partition >= int32(len(t.Partitions)) {
		return 0, usageError{fmt.Errorf("--partition %d: topic %s has %d partition(s)", partition, topic, len(t.Partitions))}
	}
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return 0, nil // older brokers: keep the client's default
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return 0, nil
	}
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" && c.Value != nil {
			if v, err := strconv.ParseInt(*c.Value, 10, 32); err == nil && v > 0 && v <= 100<<20 {
				return int32(v), nil
			}
		}
	}
	return 0, nil
}

// lineProducer sends records and remembers the first failure.
type lineProducer struct {
	cl        *kgo.Client
	key       []byte // fixed key, nil for none
	keySep    []byte // split lines at this, when set
	partition int32
	headers   []kgo.RecordHeader

	mu       sync.Mutex
	firstErr error
}

func (p *lineProducer) send(ctx context.Context, key, value []byte) {
	r := &kgo.Record{Key: key, Value: value, Headers: p.headers}
	if p.partition >= 0 {
		r.Partition = p.partition
	}
	p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
		if err != nil {
			p.mu.Lock()
			p.firstErr = firstErrOf(p.firstErr, err)
			p.mu.Unlock()
		}
	})
}

// produceLines sends each line of in as one record and waits for all
// acknowledgements. Lines are read whole however long: the broker's
// max.message.bytes is the only limit.
func (p *lineProducer) produceLines(ctx context.Context, in io.Reader) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var readErr error
	for ctx.Err() == nil {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		}
		if err == nil || len(line) > 0 {
			key := p.key
			if len(p.keySep) > 0 {
				if i := indexOf(line, p.keySep); i >= 0 {
					key, line = line[:i], line[i+len(p.keySep):]
				}
			}
			p.send(ctx, key, line)
		}
		if err != nil {
			if err != io.EOF {
				readErr = fmt.Errorf("read input: %w", err)
			}
			break
		}
	}
	return p.finish(ctx, readErr)
}

// produceFiles sends each file's content as one record.
func (p *lineProducer) produceFiles(ctx context.Context, files []string) error {
	var readErr error
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			readErr = err
			break
		}
		p.send(ctx, p.key, b)
	}
	return p.finish(ctx, readErr)
}

func (p *lineProducer) finish(ctx context.Context, readErr error) error {
	flushErr := p.cl.Flush(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.firstErr != nil:
		return fmt.Errorf("produce: %w", p.firstErr)
	case readErr != nil:
		return readErr
	case flushErr != nil && !errors.Is(flushErr, context.Canceled):
		return fmt.Errorf("produce: %w", flushErr)
	}
	return nil
}

func indexOf(b, sep []byte) int {
	return bytes.Index(b, sep)
}

// firstErrOf returns the first non-nil error.
func firstErrOf(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
