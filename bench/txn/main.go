// Command txn measures transactional produce (franz-go, acks=all,
// idempotent, one transactional id) against Apache Kafka and Strom in one
// run: records/s and the EndTxn (commit) latency for transactions of a
// given size. Each broker is one node on this machine, started and stopped
// by the command.
//
//	go run ./bench/txn --txn-sizes 100,10000 --records 200000
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
	"github.com/strom-broker/strom/internal/testkit/kafkaref"
)

type options struct {
	brokers      string
	txnSizes     string
	records      int
	recordSize   int
	partitions   int
	outDir       string
	kafkaVersion string
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", "kafka,strom", "brokers to measure, in order")
	flag.StringVar(&o.txnSizes, "txn-sizes", "100,10000", "records per transaction, comma separated")
	flag.IntVar(&o.records, "records", 200_000, "records per measured run")
	flag.IntVar(&o.recordSize, "record-size", 100, "record value size in bytes")
	flag.IntVar(&o.partitions, "partitions", 3, "partitions of the topic")
	flag.StringVar(&o.outDir, "out-dir", filepath.Join(os.TempDir(), "strom-bench-txn"), "where the strom binary and data go")
	flag.StringVar(&o.kafkaVersion, "kafka-version", kafkaref.DefaultVersion, "Apache Kafka version")
	flag.Parse()
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		fatal(err)
	}
	var sizes []int
	for _, s := range strings.Split(o.txnSizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fatal(fmt.Errorf("bad --txn-sizes %q", o.txnSizes))
		}
		sizes = append(sizes, n)
	}
	fmt.Printf("| broker | records/txn | transactions | records/s | MB/s | commit p50 | commit p99 |\n|---|---|---|---|---|---|---|\n")
	for _, b := range strings.Split(o.brokers, ",") {
		addr, stop, err := start(o, b)
		if err != nil {
			fatal(err)
		}
		for _, size := range sizes {
			if err := run(o, b, addr, size); err != nil {
				stop()
				fatal(err)
			}
		}
		stop()
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench/txn:", err)
	os.Exit(1)
}

func start(o options, broker string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	switch broker {
	case "kafka":
		b, err := kafkaref.StartProcess(ctx, kafkaref.Options{Version: o.kafkaVersion})
		if err != nil {
			return "", nil, err
		}
		return b.Addr(), b.Stop, nil
	case "strom":
		bin := filepath.Join(o.outDir, "strom")
		build := exec.Command("go", "build", "-o", bin, "./cmd/strom")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return "", nil, fmt.Errorf("build strom: %w", err)
		}
		dataDir, err := os.MkdirTemp(o.outDir, "data-")
		if err != nil {
			return "", nil, err
		}
		port, err := testkit.FreePort()
		if err != nil {
			return "", nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		log, err := os.Create(filepath.Join(o.outDir, "strom.log"))
		if err != nil {
			return "", nil, err
		}
		cmd := exec.Command(bin, "serve", "--listen", addr, "--admin-listen", "127.0.0.1:0", "--data-dir", dataDir)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			log.Close()
			os.RemoveAll(dataDir)
		}
		// Ready once it answers Metadata.
		deadline := time.Now().Add(60 * time.Second)
		for {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err == nil {
				_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
				cl.Close()
			}
			if err == nil {
				return addr, stop, nil
			}
			if time.Now().After(deadline) {
				stop()
				return "", nil, fmt.Errorf("strom not ready: %w", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return "", nil, fmt.Errorf("unknown broker %q", broker)
}

// run produces o.records records in transactions of size records each
// (after one unreported transaction) and prints a table row.
func run(o options, broker, addr string, size int) error {
	ctx := context.Background()
	topic := fmt.Sprintf("bench-txn-%d-%d", size, time.Now().UnixNano())
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, int32(o.partitions), 1, nil, topic); err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(topic), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(max(size, 10000)))
	if err != nil {
		return err
	}
	defer cl.Close()
	value := make([]byte, o.recordSize)
	txn := func() (time.Duration, error) {
		if err := cl.BeginTransaction(); err != nil {
			return 0, err
		}
		for range size {
			cl.Produce(ctx, &kgo.Record{Value: value}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			return 0, err
		}
		t0 := time.Now()
		err := cl.EndTransaction(ctx, kgo.TryCommit)
		return time.Since(t0), err
	}
	if _, err := txn(); err != nil { // warm-up: coordinator, partitions, JIT
		return err
	}
	n := max(o.records/size, 1)
	commits := make([]time.Duration, 0, n)
	t0 := time.Now()
	for range n {
		d, err := txn()
		if err != nil {
			return err
		}
		commits = append(commits, d)
	}
	elapsed := time.Since(t0)
	slices.Sort(commits)
	recs := float64(n*size) / elapsed.Seconds()
	fmt.Printf("| %s | %d | %d | %.0f | %.1f | %s | %s |\n", broker, size, n, recs, recs*float64(o.recordSize)/1e6,
		commits[len(commits)/2].Round(100*time.Microsecond), commits[min(len(commits)-1, len(commits)*99/100)].Round(100*time.Microsecond))
	return nil
}
