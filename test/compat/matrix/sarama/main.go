// Command sarama runs the client-matrix scenario with IBM/sarama
// (protocol versions of Kafka 4.1).
// Usage: sarama BOOTSTRAP TOPIC GROUP RF
package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/IBM/sarama"

	"github.com/strom-broker/strom/test/compat/matrix/scenario"
)

func config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "strom-compat-sarama"
	cfg.Version = sarama.V4_1_0_0
	return cfg
}

func main() {
	a := scenario.ParseArgs()
	var r scenario.Run
	cl, err := sarama.NewClient(a.Brokers(), config())
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	adm, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		panic(err)
	}

	created := r.Step("create_topic", func(ctx context.Context) (string, error) {
		if err := adm.CreateTopic(a.Topic, &sarama.TopicDetail{NumPartitions: scenario.Partitions, ReplicationFactor: a.RF}, false); err != nil {
			return "", fmt.Errorf("create: %w", err)
		}
		err := scenario.Poll(ctx, func() (bool, string, error) {
			md, err := adm.DescribeTopics([]string{a.Topic})
			if err != nil {
				return false, err.Error(), nil
			}
			if len(md) != 1 || md[0].Err != sarama.ErrNoError || len(md[0].Partitions) != scenario.Partitions {
				return false, fmt.Sprintf("metadata %+v", md), nil
			}
			for _, p := range md[0].Partitions {
				if p.Leader < 0 {
					return false, fmt.Sprintf("partition %d has no leader", p.ID), nil
				}
			}
			return true, "", nil
		})
		return "3 partitions with leaders", err
	})
	if created {
		run(a, &r, cl, adm)
	}
	r.Always("delete_topic", func(ctx context.Context) (string, error) {
		if !created {
			return "nothing created", nil
		}
		if err := adm.DeleteTopic(a.Topic); err != nil {
			return "", fmt.Errorf("delete: %w", err)
		}
		err := scenario.Poll(ctx, func() (bool, string, error) {
			ts, err := adm.ListTopics()
			if err != nil {
				return false, err.Error(), nil
			}
			_, listed := ts[a.Topic]
			return !listed, "topic still listed", nil
		})
		return "topic gone from metadata", err
	})
	r.Exit()
}

func produce(a scenario.Args, codec, label string, n int) (string, error) {
	cfg := config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	if err := cfg.Producer.Compression.UnmarshalText([]byte(codec)); err != nil {
		return "", err
	}
	p, err := sarama.NewSyncProducer(a.Brokers(), cfg)
	if err != nil {
		return "", err
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for _, s := range scenario.Group(label, n) {
		m := &sarama.ProducerMessage{Topic: a.Topic, Key: sarama.ByteEncoder(s.Key), Value: sarama.ByteEncoder(s.Value)}
		for _, h := range s.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		msgs = append(msgs, m)
	}
	if err := p.SendMessages(msgs); err != nil {
		return "", fmt.Errorf("produce: %w", err)
	}
	return fmt.Sprintf("%d records acknowledged", n), nil
}

// member is a running consumer-group member whose handler checks records.
type member struct {
	cg     sarama.ConsumerGroup
	cancel context.CancelFunc
	errc   chan error

	mu   sync.Mutex
	chk  *scenario.Checker
	err  error
	sess sarama.ConsumerGroupSession
	done chan struct{}
	once sync.Once
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	m.sess = s
	m.mu.Unlock()
	return nil
}

func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *member) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		got := scenario.Record{Key: msg.Key, Value: msg.Value}
		for _, h := range msg.Headers {
			got.Headers = append(got.Headers, scenario.Header{Key: string(h.Key), Value: h.Value})
		}
		m.mu.Lock()
		err := m.chk.Add(got, fmt.Sprintf("partition %d offset %d", msg.Partition, msg.Offset))
		if err != nil && m.err == nil {
			m.err = err
		}
		sess.MarkMessage(msg, "")
		if err != nil || m.chk.Done() {
			m.once.Do(func() { close(m.done) })
		}
		m.mu.Unlock()
	}
	return nil
}

func join(a scenario.Args, want []scenario.Record) (*member, error) {
	cfg := config()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup(a.Brokers(), a.Group, cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{cg: cg, cancel: cancel, errc: make(chan error, 1), chk: scenario.NewChecker(want), done: make(chan struct{})}
	go func() {
		var err error
		for ctx.Err() == nil && err == nil {
			err = cg.Consume(ctx, []string{a.Topic}, m)
		}
		m.errc <- err
	}()
	return m, nil
}

// wait returns once every record arrived, one was wrong, or ctx ends.
func (m *member) wait(ctx context.Context) error {
	select {
	case <-m.done:
	case <-ctx.Done():
	case err := <-m.errc:
		m.errc <- err
		return fmt.Errorf("consume: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if !m.chk.Done() {
		return fmt.Errorf("timed out with %s", m.chk.Progress())
	}
	return nil
}

func (m *member) close() error {
	m.cancel()
	err := <-m.errc
	if cerr := m.cg.Close(); cerr != nil {
		return cerr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func run(a scenario.Args, r *scenario.Run, cl sarama.Client, adm sarama.ClusterAdmin) {
	var want []scenario.Record
	for _, c := range scenario.Codecs {
		if !r.Step("produce_"+c, func(ctx context.Context) (string, error) {
			return produce(a, c, c, scenario.PerCodec)
		}) {
			return
		}
		want = append(want, scenario.Group(c, scenario.PerCodec)...)
	}
	m, err := join(a, want)
	if err != nil {
		panic(err)
	}
	ok := r.Step("consume_group", func(ctx context.Context) (string, error) {
		if err := m.wait(ctx); err != nil {
			return "", err
		}
		return m.chk.Progress() + " byte-exact", nil
	}) && r.Step("commit", func(ctx context.Context) (string, error) {
		m.mu.Lock()
		sess := m.sess
		m.mu.Unlock()
		sess.Commit()
		resp, err := adm.ListConsumerGroupOffsets(a.Group, map[string][]int32{a.Topic: {0, 1, 2}})
		if err != nil {
			return "", fmt.Errorf("fetch offsets: %w", err)
		}
		var sum int64
		for p := int32(0); p < scenario.Partitions; p++ {
			end, err := cl.GetOffset(a.Topic, p, sarama.OffsetNewest)
			if err != nil {
				return "", fmt.Errorf("end offset: %w", err)
			}
			b := resp.GetBlock(a.Topic, p)
			if b == nil || b.Err != sarama.ErrNoError || b.Offset != end {
				return "", fmt.Errorf("partition %d: committed %+v, high watermark %d", p, b, end)
			}
			sum += end
		}
		return fmt.Sprintf("committed offsets equal high watermarks (sum %d)", sum), nil
	})
	if err := m.close(); err != nil && ok { // leaves the group
		r.Step("resume", func(context.Context) (string, error) { return "", fmt.Errorf("close consumer: %w", err) })
		return
	}
	if !ok {
		return
	}
	r.Step("resume", func(ctx context.Context) (string, error) {
		if _, err := produce(a, "none", scenario.ResumeLabel, scenario.ResumeCount); err != nil {
			return "", err
		}
		m, err := join(a, scenario.Group(scenario.ResumeLabel, scenario.ResumeCount))
		if err != nil {
			return "", err
		}
		werr := m.wait(ctx)
		cerr := m.close()
		if werr != nil {
			return "", werr
		}
		if cerr != nil {
			return "", fmt.Errorf("close consumer: %w", cerr)
		}
		return fmt.Sprintf("restarted consumer got exactly the %d new records", scenario.ResumeCount), nil
	})
}
