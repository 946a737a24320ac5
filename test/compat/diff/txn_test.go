package diff

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactions compares the transaction APIs field by field, each
// scenario at every common version of its API (the newest only in the
// default run): InitProducerId, AddPartitionsToTxn (v0–3 as clients send
// it, v4+ batched as brokers send it, with VerifyOnly), AddOffsetsToTxn,
// EndTxn, TxnOffsetCommit with OffsetFetch RequireStable,
// DescribeTransactions, ListTransactions and its filters,
// DescribeProducers, FindCoordinator for a transactional id, and
// read_committed Fetch (LastStableOffset, AbortedTransactions) and
// ListOffsets around open, aborted and committed transactions. Set-up
// requests go the way a transactions-v1 client sends them
// (AddPartitionsToTxn v3, Produce v11, EndTxn v4).
func TestTransactions(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "init-producer-id", key: 22, short: true, run: txnInitProducerID},
		{name: "add-partitions", key: 24, short: true, run: txnAddPartitions},
		{name: "add-offsets", key: 25, short: false, run: txnAddOffsets},
		{name: "end-txn", key: 26, short: true, run: txnEndTxn},
		{name: "txn-offset-commit", key: 28, short: true, run: txnOffsetCommit},
		{name: "describe-transactions", key: 65, short: true, run: txnDescribeTransactions},
		{name: "list-transactions", key: 66, short: true, run: txnListTransactions},
		{name: "describe-producers", key: 61, short: true, run: txnDescribeProducers},
		{name: "find-coordinator", key: 10, short: false, run: txnFindCoordinator},
		{name: "read-committed-fetch", key: 1, short: true, run: txnReadCommittedFetch},
		{name: "read-committed-list-offsets", key: 2, short: false, run: txnReadCommittedListOffsets},
	})
}

// txnState is one transactional producer of a scenario.
type txnState struct {
	id    string
	pid   int64
	epoch int16
}

func initPIDReq(v int16, id *string, timeoutMs int32) *kmsg.InitProducerIDRequest {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = v
	req.TransactionalID = id
	req.TransactionTimeoutMillis = timeoutMs
	return req
}

// initTxn gets a producer id for a transactional id, retrying while the
// coordinator loads (set-up: not compared).
func (s *session) initTxn(id string) *txnState {
	s.waitTxnCoordinator(id)
	var code int16
	for range 300 {
		r := s.must("init transactional producer id", initPIDReq(s.newest(22), &id, 60000)).(*kmsg.InitProducerIDResponse)
		if code = r.ErrorCode; code == 0 {
			return &txnState{id: id, pid: r.ProducerID, epoch: r.ProducerEpoch}
		}
		sleepPoll()
	}
	s.fail("InitProducerId %s: error %d", id, code)
	return nil
}

func addPartitionsReq(v int16, tx *txnState, topic string, partitions ...int32) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = v
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = tx.id, tx.pid, tx.epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, partitions
	req.Topics = append(req.Topics, rt)
	return req
}

func batchedAddReq(v int16, txns ...kmsg.AddPartitionsToTxnRequestTransaction) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = v
	req.Transactions = txns
	return req
}

func batchedTxn(tx *txnState, verifyOnly bool, topic string, partitions ...int32) kmsg.AddPartitionsToTxnRequestTransaction {
	bt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	bt.TransactionalID, bt.ProducerID, bt.ProducerEpoch, bt.VerifyOnly = tx.id, tx.pid, tx.epoch, verifyOnly
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = topic, partitions
	bt.Topics = append(bt.Topics, rt)
	return bt
}

func endTxnReq(v int16, tx *txnState, commit bool) *kmsg.EndTxnRequest {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = v
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = tx.id, tx.pid, tx.epoch, commit
	return req
}

func addOffsetsReq(v int16, tx *txnState, group string) *kmsg.AddOffsetsToTxnRequest {
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version = v
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = tx.id, tx.pid, tx.epoch, group
	return req
}

// clientVersion is the newest version of key a transactions-v1 client
// uses for set-up requests: AddPartitionsToTxn v4+ is broker to broker,
// and Produce v12 and EndTxn v5 belong to transactions v2.
func (s *session) clientVersion(key int16) int16 {
	v := s.newest(key)
	switch key {
	case 24:
		v = min(v, 3)
	case 0:
		v = min(v, 11)
	case 26:
		v = min(v, 4)
	}
	return v
}

// addPartitions adds partitions to tx's transaction (set-up).
func (s *session) addPartitions(tx *txnState, topic string, partitions ...int32) {
	var last string
	for range 300 {
		r := s.must("add partitions", addPartitionsReq(s.clientVersion(24), tx, topic, partitions...)).(*kmsg.AddPartitionsToTxnResponse)
		ok := true
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					ok = false
					last = errorName(rp.ErrorCode)
				}
			}
		}
		if ok {
			return
		}
		sleepPoll() // CONCURRENT_TRANSACTIONS while the previous one completes
	}
	s.fail("AddPartitionsToTxn %s: %s", tx.id, last)
}

// endTxn ends tx's transaction (set-up), retrying CONCURRENT_TRANSACTIONS.
func (s *session) endTxn(tx *txnState, commit bool) {
	var code int16
	for range 300 {
		r := s.must("end transaction", endTxnReq(s.clientVersion(26), tx, commit)).(*kmsg.EndTxnResponse)
		if code = r.ErrorCode; code == 0 {
			return
		}
		sleepPoll()
	}
	s.fail("EndTxn %s: error %d", tx.id, code)
}

// txnBatch is a transactional batch of tx starting at sequence seq.
func txnBatch(tx *txnState, seq int32, values ...string) []byte {
	b := makeBatch(batchOpts{pid: tx.pid, epoch: tx.epoch, seq: seq}, values...)
	binary.BigEndian.PutUint16(b[21:], 0x10) // transactional
	return fixCRC(b)
}

// produceTxn appends a transactional batch of tx (set-up).
func (s *session) produceTxn(tx *txnState, topic string, partition int32, seq int32, values ...string) {
	req := s.produceReq(s.clientVersion(0), topic, partition, txnBatch(tx, seq, values...))
	req.TransactionID = &tx.id
	var code int16
	for range 300 {
		r := s.must("transactional produce", req).(*kmsg.ProduceResponse)
		if code = r.Topics[0].Partitions[0].ErrorCode; code == 0 {
			return
		}
		sleepPoll()
	}
	s.fail("transactional produce to %s: error %d", topic, code)
}

// waitStable polls until the last stable offset of a partition reaches
// want: the coordinator writes the markers after it answered EndTxn.
func (s *session) waitStable(topic string, partition int32, want int64) {
	var got int64
	for range 300 {
		req := listOffsetsReq(s, s.newest(2), topic, partition, -1)
		req.IsolationLevel = 1
		r := s.must("list offsets read_committed", req).(*kmsg.ListOffsetsResponse)
		if got = r.Topics[0].Partitions[0].Offset; got >= want {
			return
		}
		sleepPoll()
	}
	s.fail("last stable offset of %s-%d stayed at %d, want %d", topic, partition, got, want)
}

// waitTxnState polls DescribeTransactions until id's transaction is in
// state (the coordinator completes a commit or abort after EndTxn).
func (s *session) waitTxnState(id, state string) {
	var got string
	for range 300 {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.Version = s.newest(65)
		req.TransactionalIDs = []string{id}
		r := s.must("describe transactions", req).(*kmsg.DescribeTransactionsResponse)
		if len(r.TransactionStates) == 1 {
			if got = r.TransactionStates[0].State; got == state {
				return
			}
		}
		sleepPoll()
	}
	s.fail("transaction %s is %q, want %q", id, got, state)
}

func txnInitProducerID(s *session, v int16) {
	id := s.topic("txn")
	tx := s.initTxn(id) // the coordinator is loaded
	r := s.do("transactional again: epoch bump", initPIDReq(v, &id, 60000))
	if ir, ok := r.(*kmsg.InitProducerIDResponse); ok && ir.ErrorCode == 0 {
		tx.pid, tx.epoch = ir.ProducerID, ir.ProducerEpoch
	}
	if v >= 3 {
		cur := initPIDReq(v, &id, 60000)
		cur.ProducerID, cur.ProducerEpoch = tx.pid, tx.epoch
		r := s.do("transactional with the current producer id and epoch", cur)
		if ir, ok := r.(*kmsg.InitProducerIDResponse); ok && ir.ErrorCode == 0 {
			tx.epoch = ir.ProducerEpoch
		}
		stale := initPIDReq(v, &id, 60000)
		stale.ProducerID, stale.ProducerEpoch = tx.pid, tx.epoch-1
		s.do("transactional with a stale epoch", stale)
		other := initPIDReq(v, &id, 60000)
		other.ProducerID, other.ProducerEpoch = tx.pid+1000, 0
		s.do("transactional with another producer id", other)
	}
	s.do("idempotent", initPIDReq(v, nil, 60000))
	empty := ""
	s.do("empty transactional id", initPIDReq(v, &empty, 60000))
	s.do("timeout above transaction.max.timeout.ms", initPIDReq(v, &id, 3600000))
	s.do("timeout 0", initPIDReq(v, &id, 0))
	s.do("negative timeout", initPIDReq(v, &id, -1))
	ongoing := s.topic("ongoing")
	topic := s.topic("t")
	s.createTopic(topic, 2, nil)
	otx := s.initTxn(ongoing)
	s.addPartitions(otx, topic, 0)
	s.do("transactional with a transaction ongoing: fences and aborts it", initPIDReq(v, &ongoing, 60000))
}

func txnAddPartitions(s *session, v int16) {
	topic := s.topic("t")
	s.createTopic(topic, 2, nil)
	tx := s.initTxn(s.topic("txn"))
	if v <= 3 {
		s.do("add", addPartitionsReq(v, tx, topic, 0))
		s.do("add again and another", addPartitionsReq(v, tx, topic, 0, 1))
		s.do("unknown partition", addPartitionsReq(v, tx, topic, 0, 7))
		unknown := addPartitionsReq(v, tx, topic, 1)
		ut := kmsg.NewAddPartitionsToTxnRequestTopic()
		ut.Topic, ut.Partitions = s.topic("missing"), []int32{0}
		unknown.Topics = append(unknown.Topics, ut)
		s.do("unknown topic with a known one", unknown)
		old := *tx
		old.epoch--
		s.do("older epoch", addPartitionsReq(v, &old, topic, 0))
		newer := *tx
		newer.epoch++
		s.do("newer epoch", addPartitionsReq(v, &newer, topic, 0))
		wrong := *tx
		wrong.pid += 1000
		s.do("wrong producer id", addPartitionsReq(v, &wrong, topic, 0))
		none := *tx
		none.id = s.topic("no-such-txn")
		s.do("unknown transactional id", addPartitionsReq(v, &none, topic, 0))
		s.do("end abort", endTxnReq(s.clientVersion(26), tx, false))
		s.do("add while the abort completes or after", addPartitionsReq(v, tx, topic, 1))
		return
	}
	// v4+: what a partition leader sends its coordinator (KIP-890).
	tx2 := s.initTxn(s.topic("txn2"))
	s.do("batched add of two transactions", batchedAddReq(v, batchedTxn(tx, false, topic, 0), batchedTxn(tx2, false, topic, 0, 1)))
	s.do("verify added partitions", batchedAddReq(v, batchedTxn(tx, true, topic, 0), batchedTxn(tx2, true, topic, 1)))
	s.do("verify a partition not added", batchedAddReq(v, batchedTxn(tx, true, topic, 1)))
	old := *tx
	old.epoch--
	s.do("verify with an older epoch", batchedAddReq(v, batchedTxn(&old, true, topic, 0)))
	none := *tx
	none.id = s.topic("no-such-txn")
	s.do("verify an unknown transactional id", batchedAddReq(v, batchedTxn(&none, true, topic, 0)))
	s.endTxn(tx, false)
	s.endTxn(tx2, false)
	s.waitTxnState(tx.id, "CompleteAbort")
	s.do("verify after the abort", batchedAddReq(v, batchedTxn(tx, true, topic, 0)))
}

func txnAddOffsets(s *session, v int16) {
	tx := s.initTxn(s.topic("txn"))
	group := s.topic("group")
	s.waitCoordinator(group)
	s.do("add offsets", addOffsetsReq(v, tx, group))
	s.do("add offsets again", addOffsetsReq(v, tx, group))
	old := *tx
	old.epoch--
	s.do("older epoch", addOffsetsReq(v, &old, group))
	wrong := *tx
	wrong.pid += 1000
	s.do("wrong producer id", addOffsetsReq(v, &wrong, group))
	none := *tx
	none.id = s.topic("no-such-txn")
	s.do("unknown transactional id", addOffsetsReq(v, &none, group))
	s.do("invalid group id", addOffsetsReq(v, tx, ""))
	s.endTxn(tx, false)
}

func txnEndTxn(s *session, v int16) {
	topic := s.topic("t")
	s.createTopic(topic, 1, nil)
	tx := s.initTxn(s.topic("txn"))
	seq := int32(0)
	// EndTxn v5 of transactions v2 bumps the epoch on every end (an
	// empty abort included); the producer goes on with the new one.
	end := func(step string, commit bool) {
		r := s.do(step, endTxnReq(v, tx, commit))
		if er, ok := r.(*kmsg.EndTxnResponse); ok && er.ErrorCode == 0 && v >= 5 && er.ProducerEpoch >= 0 &&
			(er.ProducerID != tx.pid || er.ProducerEpoch != tx.epoch) {
			tx.pid, tx.epoch, seq = er.ProducerID, er.ProducerEpoch, 0
		}
	}
	end("commit without a transaction", true)
	end("abort without a transaction", false)
	if v >= 5 {
		// A transactions-v2 producer adds partitions implicitly with
		// Produce v12 (Kafka fences AddPartitionsToTxn v3 from it once
		// it ended a transaction with EndTxn v5): waits for the
		// transaction.version feature.
		return
	}
	s.addPartitions(tx, topic, 0)
	s.produceTxn(tx, topic, 0, seq, "a", "b")
	seq += 2
	old := *tx
	old.epoch--
	s.do("commit with an older epoch", endTxnReq(v, &old, true))
	newer := *tx
	newer.epoch++
	s.do("commit with a newer epoch", endTxnReq(v, &newer, true))
	wrong := *tx
	wrong.pid += 1000
	s.do("commit with a wrong producer id", endTxnReq(v, &wrong, true))
	none := *tx
	none.id = s.topic("no-such-txn")
	s.do("commit an unknown transactional id", endTxnReq(v, &none, true))
	end("commit", true)
	s.waitTxnState(tx.id, "CompleteCommit")
	end("abort after the commit", false)
	s.waitStable(topic, 0, 3)
	s.addPartitions(tx, topic, 0)
	s.produceTxn(tx, topic, 0, seq, "c")
	end("abort", false)
	s.waitTxnState(tx.id, "CompleteAbort")
	end("commit after the abort", true)
	s.waitStable(topic, 0, 5)
	s.do("latest read_committed", rcLatest(s, topic, 0))
}

func rcLatest(s *session, topic string, partition int32) *kmsg.ListOffsetsRequest {
	req := listOffsetsReq(s, s.newest(2), topic, partition, -1)
	req.IsolationLevel = 1
	return req
}

func txnOffsetCommitReq(v int16, tx *txnState, group, topic string, partition int32, offset int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = v
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = tx.id, group, tx.pid, tx.epoch
	req.Generation = -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = partition, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func offsetFetchStableReq(s *session, group, topic string) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = s.newest(9)
	req.RequireStable = true
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = group
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = topic, []int32{0}
	g.Topics = append(g.Topics, gt)
	req.Groups = append(req.Groups, g)
	return req
}

func txnOffsetCommit(s *session, v int16) {
	topic := s.topic("t")
	s.createTopic(topic, 1, nil)
	group := s.topic("group")
	s.waitCoordinator(group)
	tx := s.initTxn(s.topic("txn"))
	var code int16
	for range 300 {
		r := s.must("add offsets", addOffsetsReq(s.newest(25), tx, group)).(*kmsg.AddOffsetsToTxnResponse)
		if code = r.ErrorCode; code == 0 {
			break
		}
		sleepPoll()
	}
	if code != 0 {
		s.fail("AddOffsetsToTxn: error %d", code)
	}
	s.do("commit offset 5", txnOffsetCommitReq(v, tx, group, topic, 0, 5))
	s.do("unknown partition", txnOffsetCommitReq(v, tx, group, topic, 3, 5))
	s.do("unknown topic", txnOffsetCommitReq(v, tx, group, s.topic("missing"), 0, 5))
	old := *tx
	old.epoch--
	s.do("older epoch", txnOffsetCommitReq(v, &old, group, topic, 0, 5))
	if v >= 3 {
		gen := txnOffsetCommitReq(v, tx, group, topic, 0, 5)
		gen.Generation, gen.MemberID = 3, "no-such-member"
		s.do("unknown member and generation", gen)
	}
	s.do("offset fetch require stable, pending", offsetFetchStableReq(s, group, topic))
	s.endTxn(tx, true)
	s.waitTxnState(tx.id, "CompleteCommit")
	var st int16
	for range 300 { // the commit marker reaches the group coordinator after EndTxn
		r := s.must("offset fetch", offsetFetchStableReq(s, group, topic)).(*kmsg.OffsetFetchResponse)
		if st = r.ErrorCode; len(r.Groups) == 1 {
			st = r.Groups[0].ErrorCode
		}
		if st == 0 {
			break
		}
		sleepPoll()
	}
	s.do("offset fetch require stable, committed", offsetFetchStableReq(s, group, topic))
	s.do("commit offsets outside a transaction", txnOffsetCommitReq(v, tx, group, topic, 0, 7))
}

func txnDescribeTransactions(s *session, v int16) {
	topic := s.topic("t")
	s.createTopic(topic, 2, nil)
	id := s.topic("txn")
	tx := s.initTxn(id)
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.Version = v
	req.TransactionalIDs = []string{id}
	s.do("empty", req)
	s.addPartitions(tx, topic, 0, 1)
	s.do("ongoing", req)
	s.endTxn(tx, true)
	s.waitTxnState(id, "CompleteCommit")
	s.do("complete commit", req)
	unknown := kmsg.NewPtrDescribeTransactionsRequest()
	unknown.Version = v
	unknown.TransactionalIDs = []string{s.topic("no-such-txn"), id}
	s.do("unknown and known ids", unknown)
	none := kmsg.NewPtrDescribeTransactionsRequest()
	none.Version = v
	s.do("no ids", none)
}

func listTxnReq(v int16, states []string, pids []int64) *kmsg.ListTransactionsRequest {
	req := kmsg.NewPtrListTransactionsRequest()
	req.Version = v
	req.StateFilters, req.ProducerIDFilters = states, pids
	return req
}

func txnListTransactions(s *session, v int16) {
	topic := s.topic("t")
	s.createTopic(topic, 1, nil)
	tx := s.initTxn(s.topic("txn"))
	s.addPartitions(tx, topic, 0)
	// Filtered by this scenario's producer id: other scenarios'
	// transactions may be listed too.
	s.do("by producer id", listTxnReq(v, nil, []int64{tx.pid}))
	s.do("ongoing, by producer id", listTxnReq(v, []string{"Ongoing"}, []int64{tx.pid}))
	s.do("empty state, by producer id", listTxnReq(v, []string{"Empty"}, []int64{tx.pid}))
	s.do("unknown state filter", listTxnReq(v, []string{"NoSuchState"}, []int64{tx.pid}))
	s.do("unknown producer id", listTxnReq(v, nil, []int64{tx.pid + 100000}))
	if v >= 1 {
		long := listTxnReq(v, nil, []int64{tx.pid})
		long.DurationFilterMillis = 3600000
		s.do("running longer than an hour", long)
		// "Longer than 0 ms" needs a millisecond to have passed since
		// the transaction started.
		time.Sleep(5 * time.Millisecond)
		short := listTxnReq(v, nil, []int64{tx.pid})
		short.DurationFilterMillis = 0
		s.do("running longer than 0 ms", short)
	}
	if v >= 2 {
		pat := listTxnReq(v, nil, nil)
		pat.TransactionalIDPattern = kmsg.StringPtr("^" + s.topic("tx") + ".*")
		s.do("by transactional id pattern", pat)
		bad := listTxnReq(v, nil, nil)
		bad.TransactionalIDPattern = kmsg.StringPtr("(")
		s.do("invalid pattern", bad)
	}
	s.endTxn(tx, false)
	s.waitTxnState(tx.id, "CompleteAbort")
	s.do("complete abort, by producer id", listTxnReq(v, []string{"CompleteAbort"}, []int64{tx.pid}))
}

func describeProducersReq(v int16, topic string, partitions ...int32) *kmsg.DescribeProducersRequest {
	req := kmsg.NewPtrDescribeProducersRequest()
	req.Version = v
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, partitions
	req.Topics = append(req.Topics, rt)
	return req
}

func txnDescribeProducers(s *session, v int16) {
	topic := s.topic("t")
	s.createTopic(topic, 2, nil)
	tx := s.initTxn(s.topic("txn"))
	s.do("no producers", describeProducersReq(v, topic, 0))
	s.addPartitions(tx, topic, 0)
	s.produceTxn(tx, topic, 0, 0, "a", "b", "c")
	s.do("transaction open", describeProducersReq(v, topic, 0, 1))
	s.endTxn(tx, true)
	s.waitStable(topic, 0, 4)
	s.do("after the commit", describeProducersReq(v, topic, 0))
	s.do("unknown partition", describeProducersReq(v, topic, 5))
	s.do("unknown topic", describeProducersReq(v, s.topic("missing"), 0))
}

func txnFindCoordinator(s *session, v int16) {
	if v < 1 { // no key type before v1
		return
	}
	id := s.topic("txn")
	s.waitTxnCoordinator(id)
	req := findCoordinatorReq(v, id)
	req.CoordinatorType = 1
	s.do("transactional id", req)
	if v >= 4 {
		batch := findCoordinatorReq(v, id)
		batch.CoordinatorType = 1
		batch.CoordinatorKeys = []string{id, s.topic("other"), ""}
		s.do("three transactional ids, one empty", batch)
	}
	{
		empty := findCoordinatorReq(v, "")
		empty.CoordinatorType = 1
		s.do("empty transactional id", empty)
	}
}

// abortedThenCommitted leaves in partition 0 of topic an aborted
// transaction (offsets 0-1, marker 2), a plain batch (3), a committed
// transaction (4, marker 5) and an open one (6-7), so the last stable
// offset is 6 and the high watermark 8.
func abortedThenCommitted(s *session, topic string) *txnState {
	s.createTopic(topic, 1, nil)
	tx := s.initTxn(s.topic("txn"))
	s.addPartitions(tx, topic, 0)
	s.produceTxn(tx, topic, 0, 0, "aborted-1", "aborted-2")
	s.endTxn(tx, false)
	s.waitStable(topic, 0, 3)
	s.produce(topic, 0, makeBatch(plain, "plain"))
	s.addPartitions(tx, topic, 0)
	s.produceTxn(tx, topic, 0, 2, "committed")
	s.endTxn(tx, true)
	s.waitStable(topic, 0, 6)
	s.addPartitions(tx, topic, 0)
	s.produceTxn(tx, topic, 0, 3, "open-1", "open-2")
	s.waitLogEnd(topic, 0, 8)
	return tx
}

func txnReadCommittedFetch(s *session, v int16) {
	if v < 4 {
		return
	}
	topic := s.topic("t")
	tx := abortedThenCommitted(s, topic)
	// One batch per fetch (partition max bytes 1: the first batch whole),
	// offset by offset: a broker may return fewer batches than it could,
	// and Kafka does right after markers are written.
	fetch := func(step string, iso int8, offsets ...int64) {
		for _, o := range offsets {
			req := fetchReq(s, v, topic, 0, o)
			req.IsolationLevel = iso
			req.Topics[0].Partitions[0].PartitionMaxBytes = 1
			s.do(step+" from "+itoa(int(o)), req)
		}
	}
	fetch("read_committed", 1, 0, 2, 3, 4, 5, 6, 7)
	fetch("read_uncommitted", 0, 0, 6)
	s.endTxn(tx, false)
	s.waitStable(topic, 0, 9)
	fetch("read_committed after the second abort", 1, 0, 4, 6, 8, 9)
}

func txnReadCommittedListOffsets(s *session, v int16) {
	if v < 2 {
		return
	}
	topic := s.topic("t")
	tx := abortedThenCommitted(s, topic)
	rc := func(ts int64) *kmsg.ListOffsetsRequest {
		req := listOffsetsReq(s, v, topic, 0, ts)
		req.IsolationLevel = 1
		return req
	}
	s.do("latest read_committed", rc(-1))
	s.do("latest read_uncommitted", listOffsetsReq(s, v, topic, 0, -1))
	s.do("earliest read_committed", rc(-2))
	s.do("by timestamp inside the open transaction", rc(baseTimestamp+1))
	s.endTxn(tx, true)
	s.waitStable(topic, 0, 9)
	s.do("latest read_committed after the commit", rc(-1))
}
