package diff

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestProduce(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "acks", key: 0, short: true, run: produceAcks},
		{name: "errors", key: 0, short: true, run: produceErrors},
		{name: "idempotent", key: 0, short: true, run: produceIdempotent},
		{name: "topic-configs", key: 0, short: true, run: produceTopicConfigs},
	})
}

func produceAcks(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, nil)
	for _, acks := range []int16{1, -1, 0} {
		req := s.produceReq(v, name, 0, makeBatch(plain, "a", "b"))
		req.Acks = acks
		s.do("acks "+itoa(int(acks)), req)
	}
	// Strom makes an acks=0 write visible after its fsync, so the next
	// request may not see it yet (docs/compatibility.md#acks0-visibility).
	s.waitLogEnd(name, 0, 6)
	s.do("log end after acks=0", listOffsetsReq(s, s.newest(2), name, 0, -1))
	s.do("stored batches", fetchReq(s, s.newest(1), name, 0, 0))
}

func produceErrors(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, map[string]string{"max.message.bytes": "1000"})
	s.do("unknown topic", s.produceReq(v, s.topic("missing"), 0, makeBatch(plain, "x")))
	s.do("unknown partition", s.produceReq(v, name, 7, makeBatch(plain, "x")))

	corrupt := makeBatch(plain, "x", "y")
	corrupt[len(corrupt)-2] ^= 0xff // inside the last record: CRC no longer matches
	s.do("corrupt CRC", s.produceReq(v, name, 0, corrupt))

	s.do("batch over max.message.bytes", s.produceReq(v, name, 0, makeBatch(plain, strings.Repeat("z", 2000))))

	bad := makeBatch(plain, "x")
	bad[16] = 1 // magic v1 header on a v2 body
	s.do("wrong magic", s.produceReq(v, name, 0, bad))

	s.do("empty records", s.produceReq(v, name, 0, []byte{}))

	count := makeBatch(plain, "x", "y")
	binary.BigEndian.PutUint32(count[57:], 3) // header says 3 records, body holds 2
	s.do("record count above the records", s.produceReq(v, name, 0, fixCRC(count)))
	delta := makeBatch(plain, "x", "y")
	binary.BigEndian.PutUint32(delta[23:], 5) // last offset delta 5 for 2 records
	s.do("last offset delta beyond the records", s.produceReq(v, name, 0, fixCRC(delta)))
	s.do("gzip batch", s.produceReq(v, name, 0, gzipBatch(makeBatch(plain, "g1", "g2"), nil)))
	s.do("gzip batch with a corrupt payload and a valid CRC", s.produceReq(v, name, 0, gzipBatch(makeBatch(plain, "g3"), []byte("not gzip at all"))))

	// Transactions: a transactional batch needs a transactional id (the
	// whole request is refused), a control batch is never a client's.
	txn := makeBatch(batchOpts{pid: 1000, epoch: 0, seq: 0}, "t")
	binary.BigEndian.PutUint16(txn[21:], 0x10)
	s.do("transactional batch without a transactional id", s.produceReq(v, name, 0, fixCRC(txn)))
	ctl := makeBatch(plain, "c")
	binary.BigEndian.PutUint16(ctl[21:], 0x20)
	s.do("control batch", s.produceReq(v, name, 0, fixCRC(ctl)))

	invalidAcks := s.produceReq(v, name, 0, makeBatch(plain, "x"))
	invalidAcks.Acks = 2
	s.do("acks=2", invalidAcks)

	s.do("stored", fetchReq(s, s.newest(1), name, 0, 0))
}

// produceTopicConfigs: the topic configs that act on produce.
// message.timestamp.*.max.ms refuse records far from the broker's clock
// (INVALID_TIMESTAMP naming each record); compression.type recompresses
// (the stored bytes differ by compressor, so offsets are compared).
func produceTopicConfigs(s *session, v int16) {
	name := s.topic("ts")
	s.createTopic(name, 1, map[string]string{"message.timestamp.before.max.ms": "3600000", "message.timestamp.after.max.ms": "60000"})
	at := func(d time.Duration) batchOpts {
		return batchOpts{pid: -1, epoch: -1, seq: -1, ts: time.Now().Add(d).UnixMilli()}
	}
	s.do("an hour ahead", s.produceReq(v, name, 0, makeBatch(at(time.Hour), "x", "y")))
	s.do("a day old", s.produceReq(v, name, 0, makeBatch(at(-24*time.Hour), "x")))
	s.do("now", s.produceReq(v, name, 0, makeBatch(at(0), "x")))
	def := s.topic("default")
	s.createTopic(def, 1, nil)
	s.do("two hours ahead, default limits", s.produceReq(v, def, 0, makeBatch(at(2*time.Hour), "x")))
	s.do("a year old, default limits", s.produceReq(v, def, 0, makeBatch(at(-365*24*time.Hour), "x")))
	gz := s.topic("gzip")
	s.createTopic(gz, 1, map[string]string{"compression.type": "gzip"})
	s.do("uncompressed batch to a gzip topic", s.produceReq(v, gz, 0, makeBatch(plain, "a", "b", "c")))
	s.do("gzip batch to a gzip topic", s.produceReq(v, gz, 0, gzipBatch(makeBatch(plain, "d", "e"), nil)))
	s.do("log end of the gzip topic", listOffsetsReq(s, s.newest(2), gz, 0, -1))
}

func produceIdempotent(s *session, v int16) {
	name := s.topic("t")
	s.createTopic(name, 1, nil)
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version = s.newest(22)
	ip.TransactionTimeoutMillis = 60000
	pid := s.initProducerID()
	b := func(epoch int16, seq int32, vals ...string) []byte {
		return makeBatch(batchOpts{pid: pid, epoch: epoch, seq: seq}, vals...)
	}
	s.do("first batch", s.produceReq(v, name, 0, b(0, 0, "a", "b", "c")))
	s.do("duplicate retry", s.produceReq(v, name, 0, b(0, 0, "a", "b", "c")))
	s.do("next batch", s.produceReq(v, name, 0, b(0, 3, "d")))
	s.do("older duplicate", s.produceReq(v, name, 0, b(0, 0, "a", "b", "c")))
	s.do("sequence gap", s.produceReq(v, name, 0, b(0, 9, "e")))
	s.do("bumped epoch from zero", s.produceReq(v, name, 0, b(1, 0, "f")))
	s.do("old epoch", s.produceReq(v, name, 0, b(0, 4, "g")))
	s.do("new epoch, non-zero first sequence", s.produceReq(v, name, 0, b(2, 5, "h")))
	s.do("stored batches", fetchReq(s, s.newest(1), name, 0, 0))
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func fetchReq(s *session, v int16, topic string, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = v
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	if v >= 13 {
		ft.TopicID = s.topicID(topic)
	}
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition = partition
	fp.FetchOffset = offset
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	return req
}

func TestFetch(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "offsets", key: 1, short: true, run: fetchOffsets},
		{name: "sessions", key: 1, short: true, run: fetchSessions},
	})
}

// threeBatches creates a topic holding batches at offsets 0-2, 3-4 and 5.
func threeBatches(s *session, name string) {
	s.createTopic(name, 1, nil)
	s.produce(name, 0, makeBatch(plain, "a", "b", "c"))
	s.produce(name, 0, makeBatch(batchOpts{pid: -1, epoch: -1, seq: -1, ts: baseTimestamp + 100}, "d", "e"))
	s.produce(name, 0, makeBatch(batchOpts{pid: -1, epoch: -1, seq: -1, ts: baseTimestamp + 50}, "f"))
}

func fetchOffsets(s *session, v int16) {
	name := s.topic("t")
	threeBatches(s, name)
	s.do("from 0", fetchReq(s, v, name, 0, 0))
	s.do("from the middle of a batch", fetchReq(s, v, name, 0, 4))
	s.do("at the high watermark", fetchReq(s, v, name, 0, 6))
	s.do("beyond the log end", fetchReq(s, v, name, 0, 100))
	s.do("negative offset", fetchReq(s, v, name, 0, -3))
	small := fetchReq(s, v, name, 0, 0)
	small.Topics[0].Partitions[0].PartitionMaxBytes = 1
	s.do("partition max bytes 1", small)
	part := fetchReq(s, v, name, 0, 0)
	part.Topics[0].Partitions[0].PartitionMaxBytes = 100
	s.do("partition max bytes within the second batch", part)
	tiny := fetchReq(s, v, name, 0, 0)
	tiny.MaxBytes = 1
	s.do("response max bytes 1", tiny)
	s.do("unknown partition", fetchReq(s, v, name, 5, 0))
	s.do("unknown topic", fetchReq(s, v, s.topic("missing"), 0, 0))
	empty := s.topic("empty")
	s.createTopic(empty, 1, nil)
	s.do("empty partition", fetchReq(s, v, empty, 0, 0))
	if v >= 4 {
		rc := fetchReq(s, v, name, 0, 0)
		rc.IsolationLevel = 1
		s.do("read committed", rc)
	}
	if v >= 9 {
		fenced := fetchReq(s, v, name, 0, 0)
		fenced.Topics[0].Partitions[0].CurrentLeaderEpoch = 5
		s.do("future leader epoch", fenced)
	}
}

func fetchSessions(s *session, v int16) {
	if v < 7 {
		s.record("sessions", "need v7")
		return
	}
	name := s.topic("t")
	threeBatches(s, name)
	create := fetchReq(s, v, name, 0, 0)
	create.SessionID, create.SessionEpoch = 0, 0
	resp := s.do("create session", create)
	var id int32
	if r, ok := resp.(*kmsg.FetchResponse); ok {
		id = r.SessionID
	}
	inc := fetchReq(s, v, name, 0, 6)
	inc.SessionID, inc.SessionEpoch = id, 1
	inc.Topics = nil
	s.do("incremental, nothing new", inc)
	s.produce(name, 0, makeBatch(plain, "g"))
	inc2 := fetchReq(s, v, name, 0, 6)
	inc2.SessionID, inc2.SessionEpoch = id, 2
	inc2.Topics = nil
	s.do("incremental, new data", inc2)
	bad := fetchReq(s, v, name, 0, 0)
	bad.SessionID, bad.SessionEpoch = id, 9
	bad.Topics = nil
	s.do("wrong epoch", bad)
	unknown := fetchReq(s, v, name, 0, 0)
	unknown.SessionID, unknown.SessionEpoch = id+12345, 1
	unknown.Topics = nil
	s.do("unknown session id", unknown)
	closeReq := fetchReq(s, v, name, 0, 0)
	closeReq.SessionID, closeReq.SessionEpoch = id, -1
	closeReq.Topics = nil
	s.do("close session", closeReq)
}

func listOffsetsReq(s *session, v int16, topic string, partition int32, ts int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = v
	req.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition = partition
	lp.Timestamp = ts
	lp.MaxNumOffsets = 1
	lt.Partitions = append(lt.Partitions, lp)
	req.Topics = append(req.Topics, lt)
	return req
}

func TestListOffsets(t *testing.T) {
	runScenarios(t, []scenario{{name: "specs", key: 2, short: true, run: listOffsets}})
}

func listOffsets(s *session, v int16) {
	name := s.topic("t")
	threeBatches(s, name)
	cases := []struct {
		step string
		ts   int64
		min  int16
	}{
		{"earliest", -2, 0},
		{"latest", -1, 0},
		{"timestamp inside the first batch", baseTimestamp + 1, 0},
		{"timestamp of the out-of-order batch", baseTimestamp + 60, 0},
		{"timestamp after every record", baseTimestamp + 1000, 0},
		{"timestamp 0", 0, 0},
		{"max timestamp", -3, 7},
		{"earliest local", -4, 8},
		{"earliest pending upload", -5, 9},
		{"latest tiered", -6, 10},
	}
	for _, c := range cases {
		if v >= c.min {
			s.do(c.step, listOffsetsReq(s, v, name, 0, c.ts))
		}
	}
	s.do("unknown partition", listOffsetsReq(s, v, name, 3, -1))
	s.do("unknown topic", listOffsetsReq(s, v, s.topic("missing"), 0, -1))
	if v >= 4 {
		e := listOffsetsReq(s, v, name, 0, -1)
		e.Topics[0].Partitions[0].CurrentLeaderEpoch = 7
		s.do("future leader epoch", e)
	}
	if v >= 2 {
		rc := listOffsetsReq(s, v, name, 0, -1)
		rc.IsolationLevel = 1
		s.do("latest, read committed", rc)
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	runScenarios(t, []scenario{{name: "epochs", key: 23, short: false, run: offsetForLeaderEpoch}})
}

func offsetForLeaderEpoch(s *session, v int16) {
	name := s.topic("t")
	threeBatches(s, name)
	req := func(topic string, partition, epoch, current int32) *kmsg.OffsetForLeaderEpochRequest {
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		r.Version = v
		r.ReplicaID = -1
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic = topic
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.Partition, p.LeaderEpoch, p.CurrentLeaderEpoch = partition, epoch, current
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		return r
	}
	s.do("current epoch", req(name, 0, 0, -1))
	s.do("future epoch", req(name, 0, 5, -1))
	s.do("negative epoch", req(name, 0, -1, -1))
	if v >= 2 {
		s.do("fenced current epoch", req(name, 0, 0, 3))
		s.do("current epoch matches", req(name, 0, 0, 0))
	}
	s.do("unknown partition", req(name, 4, 0, -1))
	s.do("unknown topic", req(s.topic("missing"), 0, 0, -1))
}

// waitLogEnd polls until the high watermark of a partition reaches want.
func (s *session) waitLogEnd(topic string, partition int32, want int64) {
	var got int64
	for range 300 {
		r := s.must("list offsets", listOffsetsReq(s, s.newest(2), topic, partition, -1)).(*kmsg.ListOffsetsResponse)
		if got = r.Topics[0].Partitions[0].Offset; got >= want {
			return
		}
		sleepPoll()
	}
	s.fail("high watermark of %s-%d stayed at %d, want %d", topic, partition, got, want)
}

// initProducerID gets an idempotent producer id, retrying while the
// coordinator loads (Kafka creates its transaction state topic on first use).
func (s *session) initProducerID() int64 {
	var code int16
	for range 300 {
		ip := kmsg.NewPtrInitProducerIDRequest()
		ip.Version = s.newest(22)
		ip.TransactionTimeoutMillis = 60000
		r := s.must("init producer id", ip).(*kmsg.InitProducerIDResponse)
		if code = r.ErrorCode; code == 0 {
			return r.ProducerID
		}
		sleepPoll()
	}
	s.fail("InitProducerId: error %d", code)
	return 0
}
