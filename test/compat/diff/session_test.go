package diff

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// scenario is one scripted sequence of requests. run is called once per
// broker, each with its own session, so it may use what that broker
// answered earlier (topic ids, producer ids, session ids); it must send the
// same steps in the same order to both.
type scenario struct {
	name  string
	key   int16 // API whose common versions are iterated; -1 runs once with v=-1
	short bool  // part of the default subset
	run   func(s *session, v int16)
}

// observation is one normalised answer, named by the step that produced it.
type observation struct {
	step  string
	value any
}

// session is one broker's side of a scenario run.
type session struct {
	side  string // "kafka" or "strom"
	addr  string
	p     *pair
	name  string // scenario name and version, for topic names
	conn  *wireConn
	obs   []observation
	abort string // why the scenario stopped early
	ids   map[string][16]byte
	// user, when set, is the SASL/SCRAM-SHA-512 user each new
	// connection authenticates as (the authorizer pair, authz_test.go).
	user string
}

// errAbort stops a scenario on one side; the reason is recorded as an
// observation so the other side's steps show as missing.
var errAbort = errors.New("scenario aborted")

func (s *session) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// send sends req on the session's connection (dialling if needed) without
// recording anything. A failed exchange drops the connection.
func (s *session) send(req kmsg.Request) (kmsg.Response, error) {
	if s.conn == nil {
		c, err := dial(s.addr)
		if err != nil {
			return nil, err
		}
		if s.user != "" {
			if err := c.login(s.user, passwords[s.user]); err != nil {
				c.Close()
				return nil, err
			}
		}
		s.conn = c
	}
	resp, err := s.conn.roundTrip(req)
	if err != nil {
		s.close()
	}
	return resp, err
}

// do sends req at its set version and records the normalised response (or
// what happened to the connection) under step.
func (s *session) do(step string, req kmsg.Request) kmsg.Response {
	resp, err := s.send(req)
	step = fmt.Sprintf("%s (%s v%d)", step, kmsg.NameForKey(req.Key()), req.GetVersion())
	switch {
	case err != nil:
		s.record(step, transportOutcome(err))
	case resp == nil:
		s.record(step, "no response")
	default:
		s.record(step, normalize(resp))
	}
	return resp
}

func transportOutcome(err error) string {
	switch {
	case isClosed(err):
		return "connection closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer before the deadline"
	default:
		return "transport error"
	}
}

func (s *session) record(step string, value any) {
	s.obs = append(s.obs, observation{step, value})
}

// must is send for set-up requests: a failure aborts the scenario.
func (s *session) must(what string, req kmsg.Request) kmsg.Response {
	resp, err := s.send(req)
	if err != nil {
		s.fail("%s: %v", what, err)
	}
	return resp
}

func (s *session) fail(format string, args ...any) {
	s.abort = fmt.Sprintf(format, args...)
	s.record("set-up", "aborted: "+s.abort)
	panic(errAbort)
}

// topic names a topic for this scenario and version; both brokers get the
// same names.
func (s *session) topic(suffix string) string {
	return "diff-" + s.name + "-" + suffix
}

// newest is the newest version of key both brokers serve, for set-up
// requests.
func (s *session) newest(key int16) int16 {
	k, s2 := s.p.kafkaVersions[key], s.p.stromVersions[key]
	return min(k[1], s2[1], kmsg.RequestForKey(key).MaxVersion())
}

var slug = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// runScenarios runs each scenario at each common version of its API
// against both brokers and compares what they answered.
func runScenarios(t *testing.T, list []scenario) {
	runScenariosOn(t, brokers(t), list)
}

// runScenariosOn is runScenarios against the pair p.
func runScenariosOn(t *testing.T, p *pair, list []scenario) {
	for _, sc := range list {
		t.Run(sc.name, func(t *testing.T) {
			if !sc.short && !fullSuite() {
				t.Skip("full suite only (STROM_COMPAT=full or -tags compat)")
			}
			vs := []int16{-1}
			if sc.key >= 0 {
				if vs = p.versions(sc.key); len(vs) == 0 {
					t.Skipf("no version of %s common to both brokers", kmsg.NameForKey(sc.key))
				}
			}
			for _, v := range vs {
				name := fmt.Sprintf("v%d", v)
				if v < 0 {
					name = "once"
				}
				t.Run(name, func(t *testing.T) { p.compare(t, sc, v) })
			}
		})
	}
}

func (p *pair) compare(t *testing.T, sc scenario, v int16) {
	base := strings.ToLower(strings.Trim(slug.ReplaceAllString(t.Name(), "-"), "-"))
	base = strings.TrimPrefix(base, "test")
	mk := func(side, addr string) *session {
		return &session{side: side, addr: addr, p: p, name: base}
	}
	sides := []*session{mk("kafka", p.kafkaAddr), mk("strom", p.stromAddr)}
	var wg sync.WaitGroup
	for _, s := range sides {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.close()
			defer func() {
				if r := recover(); r != nil && r != errAbort {
					s.abort = fmt.Sprintf("panic: %v", r)
					s.record("scenario", "panicked: "+fmt.Sprint(r))
				}
			}()
			sc.run(s, v)
		}()
	}
	wg.Wait()
	k, st := sides[0], sides[1]
	if k.abort != "" {
		// Kafka is the oracle: a scenario that cannot run against it is
		// broken, not a Strom difference.
		t.Fatalf("scenario failed against Apache Kafka: %s\n%s", k.abort, p.kafka.LogTail(30))
	}
	if os.Getenv("STROM_COMPAT_DUMP") != "" {
		for i := range max(len(k.obs), len(st.obs)) {
			t.Logf("step %d\n  kafka: %s\n  strom: %s", i, dump(k.obs, i), dump(st.obs, i))
		}
	}
	for i := range max(len(k.obs), len(st.obs)) {
		if i >= len(k.obs) || i >= len(st.obs) || k.obs[i].step != st.obs[i].step {
			t.Errorf("step sequences diverge at %d: kafka %s, strom %s", i, stepName(k.obs, i), stepName(st.obs, i))
			if st.abort != "" {
				t.Errorf("strom: %s", st.abort)
			}
			return
		}
		step := k.obs[i].step
		for _, d := range diffValues(k.obs[i].value, st.obs[i].value) {
			if e := allowed(t.Name(), step, d.path); e != nil {
				t.Logf("known difference %s (docs/compatibility.md#%s): %s: %s: kafka=%s strom=%s", e.id, e.id, step, d.path, d.kafka, d.strom)
				continue
			}
			t.Errorf("%s: %s: kafka=%s strom=%s", step, d.path, d.kafka, d.strom)
		}
	}
}

func stepName(obs []observation, i int) string {
	if i >= len(obs) {
		return "<end>"
	}
	return fmt.Sprintf("%q", obs[i].step)
}

func dump(obs []observation, i int) string {
	if i >= len(obs) {
		return "<end>"
	}
	return obs[i].step + " " + compactJSON(obs[i].value)
}

// waitReady polls until every partition of topic has a leader and answers
// ListOffsets, so the scenario's own requests do not race leader election.
func (s *session) waitReady(topic string, partitions int32) {
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if s.ready(topic, partitions, &last) {
			return
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	s.fail("topic %s not ready: %s", topic, last)
}

func (s *session) ready(topic string, partitions int32, last *string) bool {
	md := kmsg.NewPtrMetadataRequest()
	md.Version = s.newest(3)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	md.Topics = append(md.Topics, mt)
	md.AllowAutoTopicCreation = false
	resp, err := s.send(md)
	if err != nil {
		*last = err.Error()
		return false
	}
	r := resp.(*kmsg.MetadataResponse)
	if len(r.Topics) != 1 || r.Topics[0].ErrorCode != 0 || int32(len(r.Topics[0].Partitions)) != partitions {
		*last = "metadata: " + compactJSON(normalize(r))
		return false
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = s.newest(2)
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, p := range r.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Leader < 0 {
			*last = "metadata: " + compactJSON(normalize(r))
			return false
		}
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = p.Partition
		lp.Timestamp = -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	resp, err = s.send(lo)
	if err != nil {
		*last = err.Error()
		return false
	}
	for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				*last = "list offsets: " + compactJSON(normalize(resp))
				return false
			}
		}
	}
	return true
}

// createTopic creates a topic for the scenario (not compared) and waits
// until it is ready.
func (s *session) createTopic(name string, partitions int32, configs map[string]string) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = s.newest(19)
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = partitions
	rt.ReplicationFactor = 1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp := s.must("create topic "+name, req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 || (resp.Topics[0].ErrorCode != 0 && resp.Topics[0].ErrorCode != 36) {
		s.fail("create topic %s: %s", name, compactJSON(normalize(resp)))
	}
	s.waitReady(name, partitions)
}

// produceReq builds an acks=all produce request of one batch.
func (s *session) produceReq(v int16, topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = v
	req.Acks = -1
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	if v >= 13 {
		rt.TopicID = s.topicID(topic)
	}
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produce appends a batch for set-up, failing the scenario on any error.
func (s *session) produce(topic string, partition int32, batch []byte) int64 {
	resp := s.must("produce to "+topic, s.produceReq(s.newest(0), topic, partition, batch)).(*kmsg.ProduceResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		s.fail("produce to %s: error %d", topic, p.ErrorCode)
	}
	return p.BaseOffset
}

// topicID looks up (once) the id this broker gave topic; the zero id when
// the topic does not exist.
func (s *session) topicID(topic string) [16]byte {
	if id, ok := s.ids[topic]; ok {
		return id
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = s.newest(3)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	md.Topics = append(md.Topics, mt)
	r := s.must("metadata for "+topic, md).(*kmsg.MetadataResponse)
	var id [16]byte
	if len(r.Topics) == 1 && r.Topics[0].ErrorCode == 0 {
		id = r.Topics[0].TopicID
		if s.ids == nil {
			s.ids = map[string][16]byte{}
		}
		s.ids[topic] = id
	}
	return id
}

// sleepPoll is the interval of the polling loops that wait for a broker
// state with a deadline.
func sleepPoll() { time.Sleep(100 * time.Millisecond) }
