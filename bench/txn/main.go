// Command txn measures transactional produce (acks=all, idempotent, one
// transactional id) with franz-go and with librdkafka (confluent-kafka-go,
// so it needs cgo) against Apache Kafka and Strom in one run: records/s,
// commits/s and the commit latency for transactions of a given size, and
// then the rate at which a librdkafka consumer reads the topic back with
// read_committed and with read_uncommitted. Each broker is one node on
// this machine, started and stopped by the command.
//
//	go run ./bench/txn --txn-sizes 100,10000 --records 200000 --clients franz,rdkafka
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
	clients      string
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
	flag.StringVar(&o.clients, "clients", "franz,rdkafka", "producer clients: franz (franz-go), rdkafka (librdkafka)")
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
	fmt.Printf("| client | broker | records/txn | transactions | records/s | MB/s | commits/s | commit p50 | commit p99 | read_committed records/s | read_uncommitted records/s |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, b := range strings.Split(o.brokers, ",") {
		addr, stop, err := start(o, b)
		if err != nil {
			fatal(err)
		}
		for _, client := range strings.Split(o.clients, ",") {
			for _, size := range sizes {
				if err := run(o, client, b, addr, size); err != nil {
					stop()
					fatal(err)
				}
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

// run produces o.records records with client in transactions of size
// records each (after one unreported transaction), reads them back, and
// prints a table row.
func run(o options, client, broker, addr string, size int) error {
	ctx := context.Background()
	topic := fmt.Sprintf("bench-txn-%s-%d-%d", client, size, time.Now().UnixNano())
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, int32(o.partitions), 1, nil, topic); err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	var p txnProducer
	switch client {
	case "franz":
		p, err = newFranzProducer(addr, topic, size)
	case "rdkafka":
		p, err = newRdkafkaProducer(addr, topic, size)
	default:
		err = fmt.Errorf("unknown client %q", client)
	}
	if err != nil {
		return err
	}
	defer p.close()
	value := make([]byte, o.recordSize)
	if _, err := p.txn(ctx, size, value); err != nil { // warm-up: coordinator, partitions, JIT
		return fmt.Errorf("%s: warm-up: %w", client, err)
	}
	n := max(o.records/size, 1)
	commits := make([]time.Duration, 0, n)
	t0 := time.Now()
	for range n {
		d, err := p.txn(ctx, size, value)
		if err != nil {
			return fmt.Errorf("%s: %w", client, err)
		}
		commits = append(commits, d)
	}
	elapsed := time.Since(t0)
	slices.Sort(commits)
	total := (n + 1) * size
	rc, err := consumeRate(addr, topic, o.partitions, total, true)
	if err != nil {
		return fmt.Errorf("read_committed: %w", err)
	}
	ru, err := consumeRate(addr, topic, o.partitions, total, false)
	if err != nil {
		return fmt.Errorf("read_uncommitted: %w", err)
	}
	recs := float64(n*size) / elapsed.Seconds()
	fmt.Printf("| %s | %s | %d | %d | %.0f | %.1f | %.1f | %s | %s | %.0f | %.0f |\n", client, broker, size, n, recs, recs*float64(o.recordSize)/1e6,
		float64(n)/elapsed.Seconds(),
		commits[len(commits)/2].Round(100*time.Microsecond), commits[min(len(commits)-1, len(commits)*99/100)].Round(100*time.Microsecond),
		rc, ru)
	return nil
}

// txnProducer runs one transaction of size records and returns how long
// its commit took (after every record was acknowledged).
type txnProducer interface {
	txn(ctx context.Context, size int, value []byte) (time.Duration, error)
	close()
}

type franzProducer struct{ cl *kgo.Client }

func newFranzProducer(addr, topic string, size int) (txnProducer, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(topic), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(max(size, 10000)))
	if err != nil {
		return nil, err
	}
	return franzProducer{cl}, nil
}

func (f franzProducer) close() { f.cl.Close() }

func (f franzProducer) txn(ctx context.Context, size int, value []byte) (time.Duration, error) {
	if err := f.cl.BeginTransaction(); err != nil {
		return 0, err
	}
	for range size {
		f.cl.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := f.cl.Flush(ctx); err != nil {
		return 0, err
	}
	t0 := time.Now()
	err := f.cl.EndTransaction(ctx, kgo.TryCommit)
	return time.Since(t0), err
}
