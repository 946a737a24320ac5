//go:build cgo

package cluster_test

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// stallPatterns match what librdkafka (v2.x: rdkafka_topic.c,
// rdkafka_partition.c, rdkafka_metadata.c) logs with debug=metadata,topic
// when a partition it produces to has no usable leader, and keeps its
// messages queued:
//
//   - METADATA "Topic %s [%d] Leader %d Epoch %d" with leader -1;
//   - BRKDELGT "%s [%d]: no broker delegated" and delegation to the
//     internal broker (":0/internal"), which is what happens when the named
//     leader is -1 or is not in the broker list;
//   - "Partition %s(%s)[%d]: new leader%d not found in cache" when a leader
//     id is missing from the broker list.
//
// This is the seed's failure (DESIGN.md §2): metadata from a follower named
// leaders that were not in its broker list, and librdkafka waited silently.
var stallPatterns = []*regexp.Regexp{
	regexp.MustCompile(`\] Leader -1 Epoch`),
	regexp.MustCompile(`no broker delegated`),
	regexp.MustCompile(`delegate to broker :0/internal`),
	regexp.MustCompile(`new leader-?\d+ not found in cache`),
	regexp.MustCompile(`(?i)unknown leader`),
}

// leaderLine is the per-partition line librdkafka logs for every metadata
// answer it applies.
var leaderLine = regexp.MustCompile(`Topic \S+ \[\d+\] Leader -?\d+ Epoch -?\d+`)

// rdkLog collects librdkafka's log events and the lines, logged after the
// first acknowledged write, that show a wait for an unknown leader.
type rdkLog struct {
	mu       sync.Mutex
	lines    []string
	firstAck time.Time
	closing  time.Time // events after it come from shutting down
	stalls   []string
	done     chan struct{}
	stopped  chan struct{}
}

func newRdkLog(ch chan kafka.LogEvent) *rdkLog {
	l := &rdkLog{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(l.stopped)
		for {
			select {
			case ev := <-ch:
				l.add(ev)
			case <-l.done:
				for {
					select {
					case ev := <-ch:
						l.add(ev)
					default:
						return
					}
				}
			}
		}
	}()
	return l
}

func (l *rdkLog) add(ev kafka.LogEvent) {
	line := ev.Timestamp.Format("15:04:05.000") + " " + ev.Tag + " " + ev.Message
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 20000 {
		l.lines = append(l.lines, line)
	}
	if l.firstAck.IsZero() || ev.Timestamp.Before(l.firstAck) || (!l.closing.IsZero() && ev.Timestamp.After(l.closing)) {
		return
	}
	for _, re := range stallPatterns {
		if re.MatchString(ev.Message) {
			l.stalls = append(l.stalls, line)
			return
		}
	}
}

func (l *rdkLog) acked() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.firstAck.IsZero() {
		l.firstAck = time.Now()
	}
}

// beginClose ignores what the client logs from now on: a closing client
// undelegates its partitions, which is no stall.
func (l *rdkLog) beginClose() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closing = time.Now()
}

func (l *rdkLog) stop() {
	close(l.done)
	<-l.stopped
}

// TestLibrdkafkaThroughFollower is DESIGN.md §2 rule 8: librdkafka
// bootstrapped through one node that is not the controller creates an RF=3
// topic, produces 100-byte records with acks=all for about five seconds, and
// reads them all back: no loss, no duplicates, gapless offsets. The test
// fails if librdkafka ever logs a wait for an unknown leader after its first
// acknowledged write.
func TestLibrdkafkaThroughFollower(t *testing.T) {
	c := testkit.StartCluster(t, nodes)
	boot := nonController(t, c).KafkaAddr()
	topic := testkit.TopicName(t, "")

	logs := make(chan kafka.LogEvent, 10000)
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":      boot,
		"client.id":              "strom-test-cluster-librdkafka",
		"acks":                   "all",
		"enable.idempotence":     true,
		"linger.ms":              5,
		"message.timeout.ms":     30000,
		"debug":                  "metadata,broker,topic",
		"go.logs.channel.enable": true,
		"go.logs.channel":        logs,
	})
	if err != nil {
		t.Fatalf("kafka.NewProducer: %v", err)
	}
	rl := newRdkLog(logs)
	closed := false
	closeProducer := func() {
		if !closed {
			closed = true
			rl.beginClose()
			p.Close()
			rl.stop()
		}
	}
	defer closeProducer()
	t.Cleanup(func() {
		if t.Failed() {
			rl.mu.Lock()
			defer rl.mu.Unlock()
			n := len(rl.lines)
			from := max(0, n-400)
			t.Logf("last %d librdkafka log lines:\n%s", n-from, strings.Join(rl.lines[from:], "\n"))
		}
	})

	createTopicLibrdkafka(t, p, topic)
	c.WaitTopic(t, topic, partitions)

	chk := testkit.NewChecker()
	reports := make(chan kafka.Event, 1000)
	const batch = 200
	sent := 0
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		for i := 0; i < batch; i++ {
			n := sent + i
			r := &kgo.Record{Topic: topic, Partition: int32(n % partitions), Value: value100("rdk", n)}
			chk.Attempt(r)
			m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: r.Partition}, Value: r.Value, Opaque: r}
			if err := p.Produce(m, reports); err != nil {
				t.Fatalf("Produce %d: %v", n, err)
			}
		}
		sent += batch
		deadline := time.After(30 * time.Second)
		for i := 0; i < batch; i++ {
			select {
			case ev := <-reports:
				m, ok := ev.(*kafka.Message)
				if !ok {
					t.Fatalf("unexpected delivery event %T: %v", ev, ev)
				}
				r := m.Opaque.(*kgo.Record)
				if err := m.TopicPartition.Error; err != nil {
					chk.Done(r, err)
					t.Fatalf("delivery failed: %v", err)
				}
				if m.TopicPartition.Partition != r.Partition {
					t.Fatalf("record sent to partition %d delivered to %d", r.Partition, m.TopicPartition.Partition)
				}
				r.Offset = int64(m.TopicPartition.Offset)
				chk.Done(r, nil)
				rl.acked()
			case <-deadline:
				t.Fatalf("librdkafka: %d of %d delivery reports in 30s (messages queued for a partition without a usable leader?)", i, batch)
			}
		}
	}
	closeProducer()
	_, acked, _ := chk.Counts()
	t.Logf("librdkafka produced %d records with acks=all in %v", acked, time.Since(start).Round(time.Millisecond))

	// The stall check means something only if the debug lines arrived.
	leaderLines := 0
	for _, l := range rl.lines {
		if leaderLine.MatchString(l) {
			leaderLines++
		}
	}
	if leaderLines == 0 {
		t.Errorf("librdkafka logged no per-partition leader lines (debug=metadata not captured?); the stall check saw nothing")
	}
	if len(rl.stalls) > 0 {
		t.Errorf("librdkafka logged %d waits for an unknown leader after its first acknowledged write; first ones:\n%s",
			len(rl.stalls), strings.Join(rl.stalls[:min(20, len(rl.stalls))], "\n"))
	}

	ends := testkit.HighWatermarks(t, boot, topic)
	read := consumeLibrdkafka(t, boot, topic, ends)
	chk.Verify(t, read)
	if len(read) != acked {
		t.Errorf("read %d records, acknowledged %d", len(read), acked)
	}
}

func createTopicLibrdkafka(t *testing.T, p *kafka.Producer, topic string) {
	t.Helper()
	adm, err := kafka.NewAdminClientFromProducer(p)
	if err != nil {
		t.Fatalf("NewAdminClientFromProducer: %v", err)
	}
	defer adm.Close()
	ctx, cancel := contextWithTimeout(30 * time.Second)
	defer cancel()
	res, err := adm.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: partitions, ReplicationFactor: rf}},
		kafka.SetAdminOperationTimeout(20*time.Second))
	if err != nil {
		t.Fatalf("CreateTopics through librdkafka: %v", err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			t.Fatalf("CreateTopics %s through librdkafka: %v", r.Topic, r.Error)
		}
	}
}

// consumeLibrdkafka reads each partition from offset 0 to its end with
// assign(); group.id is required by the client but no group request is made.
func consumeLibrdkafka(t *testing.T, boot, topic string, ends map[int32]int64) []*kgo.Record {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":        boot,
		"client.id":                "strom-test-cluster-librdkafka",
		"group.id":                 "strom-test-unused",
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"auto.offset.reset":        "error",
		"enable.partition.eof":     true,
	})
	if err != nil {
		t.Fatalf("kafka.NewConsumer: %v", err)
	}
	defer c.Close()
	var assign []kafka.TopicPartition
	for p, end := range ends {
		if end > 0 {
			assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(0)})
		}
	}
	if err := c.Assign(assign); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	var out []*kgo.Record
	done := map[int32]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(done) < len(assign) {
		if time.Now().After(deadline) {
			t.Fatalf("librdkafka consumer: %d records, partitions done %v of ends %v after 60s", len(out), done, ends)
		}
		switch ev := c.Poll(200).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				t.Fatalf("consume: %v", ev.TopicPartition.Error)
			}
			p, off := ev.TopicPartition.Partition, int64(ev.TopicPartition.Offset)
			if off < ends[p] {
				out = append(out, &kgo.Record{Topic: topic, Partition: p, Offset: off, Key: ev.Key, Value: ev.Value})
			}
			if off+1 >= ends[p] {
				done[p] = true
			}
		case kafka.PartitionEOF:
			if int64(ev.Offset) >= ends[ev.Partition] {
				done[ev.Partition] = true
			}
		case kafka.Error:
			if ev.IsFatal() {
				t.Fatalf("librdkafka consumer: %v", ev)
			}
			t.Logf("librdkafka consumer: %v", ev)
		}
	}
	return out
}
