// Command rdkafka measures a Kafka-compatible broker with librdkafka (the one
// confluent-kafka-go bundles, so it needs cgo): it creates a topic, produces
// --num-records records, then reads them all back from the beginning with an
// assigned (not subscribed) consumer, and reports throughput and, with
// --broker-pid, the broker's CPU time per phase read from /proc.
//
// --client c (the default) runs both phases in C loops over librdkafka's API,
// as rdkafka_performance does (native.c); --client go runs them through
// confluent-kafka-go's Go API, which adds a cgo call and Go allocations per
// record.
//
// The last line of output is one JSON object (see result) for scripts.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

type config struct {
	extra       map[string]string // --config: librdkafka properties for every client
	bootstrap   string
	client      string
	group       bool
	topic       string
	partitions  int
	replication int
	recordSize  int
	numRecords  int
	acks        string
	compression string
	lingerMs    int
	batchSize   int
	batchNum    int
	queueMsgs   int
	brokerPIDs  []int
	fetchBackMs int
	queuedMin   int
	label       string
	timeout     time.Duration
}

// result is the machine-readable summary printed as the last line.
type result struct {
	Label            string  `json:"label,omitempty"`
	Client           string  `json:"client"`
	Group            bool    `json:"group,omitempty"`
	Records          int     `json:"records"`
	RecordSize       int     `json:"record_size"`
	Partitions       int     `json:"partitions"`
	Acks             string  `json:"acks"`
	Compression      string  `json:"compression"`
	ProduceSeconds   float64 `json:"produce_s"`
	ProduceMsgsPerS  float64 `json:"produce_msgs_per_s"`
	ProduceMBPerS    float64 `json:"produce_mb_per_s"`
	ConsumeSeconds   float64 `json:"consume_s"`
	ConsumeMsgsPerS  float64 `json:"consume_msgs_per_s"`
	ConsumeMBPerS    float64 `json:"consume_mb_per_s"`
	DeliveryErrors   int64   `json:"delivery_errors"`
	BrokerPIDs       []int   `json:"broker_pids,omitempty"`
	ProduceCPUS      float64 `json:"broker_produce_cpu_s,omitempty"`
	ConsumeCPUS      float64 `json:"broker_consume_cpu_s,omitempty"`
	ProduceCPUPerM   float64 `json:"broker_produce_cpu_s_per_m,omitempty"`
	ConsumeCPUPerM   float64 `json:"broker_consume_cpu_s_per_m,omitempty"`
	ClientProduceCPU float64 `json:"client_produce_cpu_s"`
	ClientConsumeCPU float64 `json:"client_consume_cpu_s"`
}

func main() {
	var c config
	flag.StringVar(&c.bootstrap, "bootstrap", "127.0.0.1:9092", "bootstrap servers")
	flag.StringVar(&c.client, "client", "c", "c: librdkafka's C API in C loops; go: confluent-kafka-go's Go API")
	flag.BoolVar(&c.group, "group", false, "consume as a member of a new consumer group (subscribe, auto commit, a final synchronous commit) instead of assigning the partitions; --client c only")
	flag.StringVar(&c.topic, "topic", "", "topic (default: a new name per run)")
	flag.IntVar(&c.partitions, "partitions", 3, "partitions of the created topic")
	flag.IntVar(&c.replication, "replication", 1, "replication factor of the created topic")
	flag.IntVar(&c.recordSize, "record-size", 100, "value size in bytes (no key)")
	flag.IntVar(&c.numRecords, "num-records", 2_000_000, "records to produce and consume")
	flag.StringVar(&c.acks, "acks", "all", "producer acks: 0, 1 or all")
	flag.StringVar(&c.compression, "compression", "none", "compression.type: none, gzip, snappy, lz4, zstd")
	flag.IntVar(&c.lingerMs, "linger-ms", 5, "linger.ms")
	flag.IntVar(&c.batchSize, "batch-size", 1_000_000, "batch.size in bytes (librdkafka default)")
	flag.IntVar(&c.batchNum, "batch-num-messages", 10_000, "batch.num.messages (librdkafka default)")
	flag.IntVar(&c.queueMsgs, "queue-messages", 100_000, "queue.buffering.max.messages (librdkafka default)")
	flag.IntVar(&c.fetchBackMs, "fetch-queue-backoff-ms", 10,
		"fetch.queue.backoff.ms: pause before refetching when the local queue is full (librdkafka default 1000 makes the consumer measure its own back-off)")
	flag.IntVar(&c.queuedMin, "queued-min-messages", 100_000, "queued.min.messages (librdkafka default)")
	flag.Func("broker-pid", "broker process id, to report its CPU time from /proc; repeat or separate with commas for a cluster (CPU is summed)", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return fmt.Errorf("bad pid %q", f)
			}
			c.brokerPIDs = append(c.brokerPIDs, pid)
		}
		return nil
	})
	c.extra = map[string]string{}
	flag.Func("config", "a librdkafka property key=value given to every client (security.protocol, ssl.ca.location, sasl.mechanism, sasl.username, sasl.password, ...); repeat", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("--config %q: want key=value", v)
		}
		c.extra[k] = val
		return nil
	})
	flag.StringVar(&c.label, "label", "", "name of the broker under test, copied into the JSON line")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if c.topic == "" {
		c.topic = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "rdkafka bench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	producerConf := map[string]string{
		"bootstrap.servers":            c.bootstrap,
		"acks":                         c.acks,
		"compression.type":             c.compression,
		"linger.ms":                    strconv.Itoa(c.lingerMs),
		"batch.size":                   strconv.Itoa(c.batchSize),
		"batch.num.messages":           strconv.Itoa(c.batchNum),
		"queue.buffering.max.messages": strconv.Itoa(c.queueMsgs),
	}
	consumerConf := map[string]string{
		"bootstrap.servers":      c.bootstrap,
		"enable.partition.eof":   "false",
		"fetch.queue.backoff.ms": strconv.Itoa(c.fetchBackMs),
		"queued.min.messages":    strconv.Itoa(c.queuedMin),
	}
	for k, v := range c.extra {
		producerConf[k], consumerConf[k] = v, v
	}
	ac := toConfigMap(producerConf)
	adm, err := kafka.NewAdminClient(&ac)
	if err != nil {
		return fmt.Errorf("create admin client: %w", err)
	}
	err = createTopic(ctx, adm, c)
	adm.Close()
	if err != nil {
		return err
	}

	var doProduce func() (time.Duration, int64, error)
	var doConsume func() (time.Duration, error)
	switch c.client {
	case "c":
		doProduce = func() (time.Duration, int64, error) { return nativeProduce(c, producerConf) }
		doConsume = func() (time.Duration, error) { return nativeConsume(c, consumerConf) }
		if c.group {
			gc := maps.Clone(consumerConf)
			gc["group.id"] = fmt.Sprintf("bench-%d", time.Now().UnixNano())
			gc["auto.offset.reset"] = "earliest"
			doConsume = func() (time.Duration, error) { return nativeConsumeGroup(c, gc) }
		}
	case "go":
		if c.group {
			return errors.New("--group needs --client c")
		}
		pc := toConfigMap(producerConf)
		pc["go.delivery.report.fields"] = "none"
		producer, err := kafka.NewProducer(&pc)
		if err != nil {
			return fmt.Errorf("create producer: %w", err)
		}
		defer producer.Close()
		cc := toConfigMap(consumerConf)
		// Required by the Go client; offsets are never committed.
		cc["group.id"] = fmt.Sprintf("bench-%d", time.Now().UnixNano())
		cc["enable.auto.commit"] = false
		cc["auto.offset.reset"] = "earliest"
		consumer, err := kafka.NewConsumer(&cc)
		if err != nil {
			return fmt.Errorf("create consumer: %w", err)
		}
		defer consumer.Close()
		parts := make([]kafka.TopicPartition, c.partitions)
		for i := range parts {
			parts[i] = kafka.TopicPartition{Topic: &c.topic, Partition: int32(i), Offset: kafka.OffsetBeginning}
		}
		// With a group.id librdkafka looks up the group coordinator, which makes
		// a broker create its offsets topic; do that now, outside the measurements.
		// Best effort: the consumer never needs the coordinator, so a broker
		// without one is still measured.
		warmCoordinator(ctx, consumer, parts)
		doProduce = func() (time.Duration, int64, error) { return produce(ctx, producer, c) }
		doConsume = func() (time.Duration, error) { return consume(ctx, consumer, parts, c) }
	default:
		return fmt.Errorf("--client %q: want c or go", c.client)
	}

	res := result{
		Label: c.label, Client: c.client, Group: c.group, Records: c.numRecords, RecordSize: c.recordSize, Partitions: c.partitions,
		Acks: c.acks, Compression: c.compression, BrokerPIDs: c.brokerPIDs,
	}
	mb := float64(c.numRecords) * float64(c.recordSize) / 1e6

	cpu0, err := brokerCPU(c.brokerPIDs)
	if err != nil {
		return err
	}
	self0 := selfCPU()
	produceTime, errs, err := doProduce()
	if err != nil {
		return err
	}
	cpu1, err := brokerCPU(c.brokerPIDs)
	if err != nil {
		return err
	}
	self1 := selfCPU()
	res.ProduceSeconds = produceTime.Seconds()
	res.ProduceMsgsPerS = float64(c.numRecords) / res.ProduceSeconds
	res.ProduceMBPerS = mb / res.ProduceSeconds
	res.DeliveryErrors = errs
	res.ClientProduceCPU = self1 - self0
	fmt.Printf("produce: %d records in %.2fs: %.0f msg/s, %.1f MB/s, %d delivery errors\n",
		c.numRecords, res.ProduceSeconds, res.ProduceMsgsPerS, res.ProduceMBPerS, errs)

	consumeTime, err := doConsume()
	if err != nil {
		return err
	}
	cpu2, err := brokerCPU(c.brokerPIDs)
	if err != nil {
		return err
	}
	res.ClientConsumeCPU = selfCPU() - self1
	res.ConsumeSeconds = consumeTime.Seconds()
	res.ConsumeMsgsPerS = float64(c.numRecords) / res.ConsumeSeconds
	res.ConsumeMBPerS = mb / res.ConsumeSeconds
	fmt.Printf("consume: %d records in %.2fs: %.0f msg/s, %.1f MB/s\n",
		c.numRecords, res.ConsumeSeconds, res.ConsumeMsgsPerS, res.ConsumeMBPerS)

	if len(c.brokerPIDs) > 0 {
		millions := float64(c.numRecords) / 1e6
		res.ProduceCPUS, res.ConsumeCPUS = cpu1-cpu0, cpu2-cpu1
		res.ProduceCPUPerM, res.ConsumeCPUPerM = res.ProduceCPUS/millions, res.ConsumeCPUS/millions
		fmt.Printf("broker cpu (pid %v): produce %.2fs (%.2fs per million), consume %.2fs (%.2fs per million)\n",
			c.brokerPIDs, res.ProduceCPUS, res.ProduceCPUPerM, res.ConsumeCPUS, res.ConsumeCPUPerM)
	}
	fmt.Printf("client cpu: produce %.2fs, consume %.2fs\n", res.ClientProduceCPU, res.ClientConsumeCPU)

	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	if errs > 0 {
		return fmt.Errorf("%d records were not delivered", errs)
	}
	return nil
}

// warmCoordinator retries an offset fetch until it succeeds (the offsets topic
// exists and is loaded), the broker does not answer, or 30 seconds pass.
func warmCoordinator(ctx context.Context, cons *kafka.Consumer, parts []kafka.TopicPartition) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cons.Committed(parts, 10_000)
		if err == nil {
			return
		}
		var kerr kafka.Error
		timedOut := errors.As(err, &kerr) && kerr.Code() == kafka.ErrTimedOut
		// A broker that does not answer at all is not loading its offsets
		// topic; only retry the errors a coordinator gives while it starts.
		if timedOut || time.Now().After(deadline) || ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "warning: no group coordinator, measuring without one:", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond): // retry back-off, not a wait for a condition
		}
	}
}

// toConfigMap turns string settings into a confluent-kafka-go ConfigMap.
func toConfigMap(conf map[string]string) kafka.ConfigMap {
	m := kafka.ConfigMap{}
	for k, v := range conf {
		m[k] = v
	}
	return m
}

func createTopic(ctx context.Context, adm *kafka.AdminClient, c config) error {
	res, err := adm.CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic: c.topic, NumPartitions: c.partitions, ReplicationFactor: c.replication,
	}}, kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("create topic %s: %w", c.topic, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrTopicAlreadyExists {
			return fmt.Errorf("create topic %s: %v", r.Topic, r.Error)
		}
	}
	return nil
}

// produce sends every record and returns when all delivery reports are in.
func produce(ctx context.Context, p *kafka.Producer, c config) (time.Duration, int64, error) {
	var delivered, failed atomic.Int64
	done := make(chan struct{})
	total := int64(c.numRecords)
	go func() {
		for ev := range p.Events() {
			m, ok := ev.(*kafka.Message)
			if !ok {
				continue // logs, stats and transient client errors are not deliveries
			}
			if m.TopicPartition.Error != nil {
				if failed.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "delivery failed:", m.TopicPartition.Error)
				}
			} else {
				delivered.Add(1)
			}
			if delivered.Load()+failed.Load() == total {
				close(done)
				return
			}
		}
	}()

	value := make([]byte, c.recordSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	tp := kafka.TopicPartition{Topic: &c.topic, Partition: kafka.PartitionAny}
	// Learn the new topic's leaders before the clock starts, so the run
	// does not time librdkafka's metadata refresh timer.
	if _, err := p.GetMetadata(&c.topic, false, 10000); err != nil {
		return 0, 0, fmt.Errorf("metadata before produce: %w", err)
	}
	start := time.Now()
	for i := 0; i < c.numRecords; {
		err := p.Produce(&kafka.Message{TopicPartition: tp, Value: value}, nil)
		if err == nil {
			i++
			continue
		}
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull {
			p.Flush(10) // wait for room, as rdkafka_performance polls on QUEUE_FULL
			if ctx.Err() != nil {
				return 0, 0, fmt.Errorf("produce: %w after %d records", ctx.Err(), i)
			}
			continue
		}
		return 0, 0, fmt.Errorf("produce record %d: %w", i, err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("produce: %w with %d of %d delivered", ctx.Err(),
			delivered.Load()+failed.Load(), total)
	}
	return time.Since(start), failed.Load(), nil
}

// consume reads from the start of every partition until it has seen every
// record. The clock starts at the first record: before it, librdkafka
// spends 0.5 or 1 s on its own timers (the leader lookup of a newly
// assigned topic retries after a fixed 500 ms, metadata refreshes every
// second) whatever the broker, which at a few million records would
// measure those timers instead of the broker.
func consume(ctx context.Context, cons *kafka.Consumer, parts []kafka.TopicPartition, c config) (time.Duration, error) {
	topic := *parts[0].Topic
	if _, err := cons.GetMetadata(&topic, false, 10000); err != nil {
		return 0, fmt.Errorf("metadata before assign: %w", err)
	}
	if err := cons.Assign(parts); err != nil {
		return 0, fmt.Errorf("assign: %w", err)
	}
	var start time.Time
	seen := 0
	for seen < c.numRecords {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("consume: %w after %d of %d records", ctx.Err(), seen, c.numRecords)
		}
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				return 0, fmt.Errorf("consume: %w", ev.TopicPartition.Error)
			}
			if len(ev.Value) != c.recordSize {
				return 0, fmt.Errorf("consume: record of %d bytes, want %d", len(ev.Value), c.recordSize)
			}
			if seen == 0 {
				start = time.Now()
			}
			seen++
		case kafka.Error:
			if ev.IsFatal() {
				return 0, fmt.Errorf("consume: %w", ev)
			}
		}
	}
	return time.Since(start), nil
}

// brokerCPU returns the summed utime+stime of pids in seconds.
func brokerCPU(pids []int) (float64, error) {
	var sum float64
	for _, pid := range pids {
		t, err := processCPU(pid)
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// processCPU returns utime+stime of pid in seconds.
func processCPU(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read broker cpu: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after its ')' are
	// state (3), ..., utime (14), stime (15).
	s := string(data)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(rest) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(rest[11], 10, 64)
	stime, err2 := strconv.ParseInt(rest[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return float64(utime+stime) / clockTicks, nil
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
