// Command kcat runs the client-matrix scenario with the kcat command-line
// client (librdkafka). kcat has no admin API, so the topic is created and
// deleted with franz-go and those steps are reported n/a. kcat sets headers
// per run, not per record, so every record is produced by its own kcat run.
// The consumer is kcat's balanced consumer (-G), which commits the consumed
// offsets when it exits (librdkafka auto-commit on close).
// Usage: kcat BOOTSTRAP TOPIC GROUP RF
package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/test/compat/matrix/scenario"
)

func main() {
	a := scenario.ParseArgs()
	var r scenario.Run
	admCl, err := kgo.NewClient(kgo.SeedBrokers(a.Brokers()...))
	if err != nil {
		panic(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	r.NA("create_topic", "kcat has no admin API; the topic is created with franz-go")
	ctx, cancel := context.WithTimeout(context.Background(), scenario.StepTimeout)
	resp, err := adm.CreateTopic(ctx, scenario.Partitions, a.RF, nil, a.Topic)
	cancel()
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		r.Step("create_topic", func(context.Context) (string, error) { return "", fmt.Errorf("franz-go create: %w", err) })
		r.Exit()
	}
	run(a, &r, adm)
	r.NA("delete_topic", "kcat has no admin API; the topic is deleted with franz-go")
	ctx, cancel = context.WithTimeout(context.Background(), scenario.StepTimeout)
	defer cancel()
	if _, err := adm.DeleteTopic(ctx, a.Topic); err != nil {
		r.Step("delete_topic", func(context.Context) (string, error) { return "", fmt.Errorf("franz-go delete: %w", err) })
	}
	r.Exit()
}

func kcat(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kcat %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}

// produce runs one kcat per record, a few at a time.
func produce(ctx context.Context, a scenario.Args, codec, label string, n int) (string, error) {
	recs := scenario.Group(label, n)
	errs := make([]error, len(recs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, rec := range recs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			args := []string{"-b", a.Bootstrap, "-P", "-t", a.Topic, "-z", codec, "-K", "\t",
				"-X", "acks=all", "-X", "enable.idempotence=true"}
			for _, h := range rec.Headers {
				args = append(args, "-H", h.Key+"="+string(h.Value))
			}
			line := append(append(append(append([]byte{}, rec.Key...), '\t'), rec.Value...), '\n')
			_, errs[i] = kcat(ctx, line, args...)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%d records acknowledged (one kcat run each)", n), nil
}

// consume runs kcat's balanced consumer until it reaches the end of every
// assigned partition and checks what it printed.
func consume(ctx context.Context, a scenario.Args, chk *scenario.Checker) error {
	out, err := kcat(ctx, nil, "-b", a.Bootstrap, "-G", a.Group, "-e", "-q",
		"-X", "auto.offset.reset=earliest", "-f", "%p\t%o\t%k\t%s\t%h\n", a.Topic)
	if err != nil {
		return err
	}
	for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		f := bytes.SplitN(line, []byte("\t"), 5)
		if len(f) != 5 {
			return fmt.Errorf("kcat output line %q: want 5 tab-separated fields", line)
		}
		got := scenario.Record{Key: f[2], Value: f[3]}
		for _, h := range bytes.Split(f[4], []byte(",")) {
			k, v, ok := bytes.Cut(h, []byte("="))
			if !ok {
				return fmt.Errorf("kcat output line %q: header %q is not k=v", line, h)
			}
			got.Headers = append(got.Headers, scenario.Header{Key: string(k), Value: v})
		}
		if err := chk.Add(got, fmt.Sprintf("partition %s offset %s", f[0], f[1])); err != nil {
			return err
		}
	}
	if !chk.Done() {
		return fmt.Errorf("kcat exited at the end of its partitions with %s", chk.Progress())
	}
	return nil
}

func run(a scenario.Args, r *scenario.Run, adm *kadm.Client) {
	var want []scenario.Record
	for _, c := range scenario.Codecs {
		if !r.Step("produce_"+c, func(ctx context.Context) (string, error) {
			return produce(ctx, a, c, c, scenario.PerCodec)
		}) {
			return
		}
		want = append(want, scenario.Group(c, scenario.PerCodec)...)
	}
	ok := r.Step("consume_group", func(ctx context.Context) (string, error) {
		chk := scenario.NewChecker(want)
		if err := consume(ctx, a, chk); err != nil {
			return "", err
		}
		return chk.Progress() + " byte-exact", nil
	}) && r.Step("commit", func(ctx context.Context) (string, error) {
		committed, err := adm.FetchOffsets(ctx, a.Group)
		if err != nil {
			return "", fmt.Errorf("fetch offsets: %w", err)
		}
		ends, err := adm.ListEndOffsets(ctx, a.Topic)
		if err != nil {
			return "", fmt.Errorf("list end offsets: %w", err)
		}
		var sum int64
		for p := int32(0); p < scenario.Partitions; p++ {
			end, _ := ends.Lookup(a.Topic, p)
			got, ok := committed.Lookup(a.Topic, p)
			if !ok || got.At != end.Offset {
				return "", fmt.Errorf("partition %d: committed %d (present %v), high watermark %d", p, got.At, ok, end.Offset)
			}
			sum += end.Offset
		}
		return fmt.Sprintf("offsets committed by kcat on exit equal high watermarks (sum %d)", sum), nil
	})
	if !ok {
		return
	}
	r.Step("resume", func(ctx context.Context) (string, error) {
		if _, err := produce(ctx, a, "none", scenario.ResumeLabel, scenario.ResumeCount); err != nil {
			return "", err
		}
		if err := consume(ctx, a, scenario.NewChecker(scenario.Group(scenario.ResumeLabel, scenario.ResumeCount))); err != nil {
			return "", err
		}
		return fmt.Sprintf("restarted consumer got exactly the %d new records", scenario.ResumeCount), nil
	})
}
