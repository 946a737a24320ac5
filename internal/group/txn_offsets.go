package group

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/strom-broker/strom/internal/partition"
)

// Transactional offset commits (TxnOffsetCommit, KIP-98/KIP-447): offsets
// written by a transactional producer are pending until the transaction
// coordinator's marker for the group's __consumer_offsets partition comes
// (CompleteTxn): on COMMIT they become the group's committed offsets, on
// ABORT they are dropped. While pending, OffsetFetch with RequireStable
// answers UNSTABLE_OFFSET_COMMIT for the partition (HasPendingTxn).

// TxnWrite makes a Write a transactional batch of a producer (or, with
// Control, that producer's COMMIT/ABORT marker).
type TxnWrite struct {
	ProducerID    int64
	ProducerEpoch int16
	// Sequence is the batch's base sequence: per producer and partition,
	// from 0 at each epoch, so the partition's idempotence checks accept
	// consecutive commits. Kafka skips those checks for a coordinator's
	// batches (AppendOrigin.COORDINATOR); after this coordinator reloads
	// the partition the count restarts, which only such a partition
	// accepts. Markers carry none (-1).
	Sequence int32
	Control  bool
	Commit   bool  // Control: COMMIT, else ABORT
	Epoch    int32 // Control: the transaction coordinator's epoch
	// Guard is the KIP-890 verification the commit passed (0: none): a
	// marker of the producer between the verification and the append
	// voids it, and the append is refused (INVALID_TXN_STATE).
	Guard uint64
	// Added: the transaction coordinator added the partition for this
	// commit (TxnOffsetCommit v5+), so the append is
	// partition.AppendAdded's.
	Added bool
}

// TxnCommitRequest is a TxnOffsetCommit, decoded, for partitions the
// handler found to exist.
type TxnCommitRequest struct {
	Group         string
	ProducerID    int64
	ProducerEpoch int16
	Generation    int32 // -1: not from a group member (or v0-2)
	MemberID      string
	InstanceID    *string
	Offsets       []CommitOffset
	// Guard: the partition's token of the verification (or implicit add,
	// TxnOffsetCommit v5+) the handler did with the transaction
	// coordinator before the commit, 0 when none (KIP-890).
	Guard uint64
	Added bool // the coordinator added the partition (v5+)
}

// txnSeqKey names a producer's sequence on one __consumer_offsets partition.
type txnSeqKey struct {
	partition int32
	producer  int64
}

type txnSeq struct {
	epoch int16
	next  int32
}

// txnState is the machine's share of transactional commits.
type txnState struct {
	// pending: group -> producer id -> offsets, written but not yet
	// committed or aborted.
	pending map[string]map[int64]map[TopicPartition]Offset
	seqs    map[txnSeqKey]txnSeq
}

func (m *Machine) txns() *txnState {
	if m.txn.pending == nil {
		m.txn.pending = map[string]map[int64]map[TopicPartition]Offset{}
		m.txn.seqs = map[txnSeqKey]txnSeq{}
	}
	return &m.txn
}

// nextSequence reserves n sequence numbers of producer pid at epoch on p.
func (m *Machine) nextSequence(p int32, pid int64, epoch int16, n int) int32 {
	t := m.txns()
	k := txnSeqKey{p, pid}
	s := t.seqs[k]
	if s.epoch != epoch {
		s = txnSeq{epoch: epoch}
	}
	seq := s.next
	s.next += int32(n)
	t.seqs[k] = s
	return seq
}

// validateTxnCommit is Kafka 4's validation of a transactional commit
// (OffsetMetadataManager.validateTransactionalOffsetCommit): a group that
// does not exist is created as a simple group when the generation is -1,
// else ILLEGAL_GENERATION; members are checked as for OffsetCommit but a
// rebalance in progress does not refuse the commit.
func (m *Machine) validateTxnCommit(now time.Time, req TxnCommitRequest) error {
	if cg := m.consumers[req.Group]; cg != nil {
		if req.Generation < 0 && len(cg.members) == 0 {
			return nil
		}
		mem := cg.members[req.MemberID]
		switch {
		case mem == nil:
			return ErrUnknownMember
		case req.Generation > mem.epoch:
			return ErrFencedMemberEpoch
		case req.Generation < mem.epoch:
			return ErrStaleMemberEpoch
		}
		return nil
	}
	g := m.groups[req.Group]
	if g == nil {
		if req.Generation >= 0 {
			return ErrIllegalGeneration
		}
		g = newGroup(req.Group, m.PartitionFor(req.Group), now)
		m.groups[req.Group] = g
	}
	if g.state == Dead {
		return ErrCoordinatorNotAvailable
	}
	if req.Generation < 0 && g.state == Empty {
		return nil
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
			return err
		}
		if req.Generation != g.generation {
			return ErrIllegalGeneration
		}
	}
	return nil
}

// TxnCommit handles a TxnOffsetCommit: the offsets are written as the
// producer's transactional batch and kept pending; the answer (a
// *CommitResult) goes to to once they are durable.
func (m *Machine) TxnCommit(now time.Time, to ReplyID, req TxnCommitRequest) {
	if err := m.check(req.Group); err != nil {
		m.reply(to, &CommitResult{Err: err})
		return
	}
	if err := m.validateTxnCommit(now, req); err != nil {
		m.reply(to, &CommitResult{Err: err})
		return
	}
	res := &CommitResult{Partitions: make([]error, len(req.Offsets))}
	var recs []Record
	var written []int
	ts := now.UnixMilli()
	for i, o := range req.Offsets {
		if len(o.Metadata) > m.cfg.MaxMetadataBytes {
			res.Partitions[i] = ErrOffsetMetadataTooLarge
			continue
		}
		recs = append(recs, offsetRecord(req.Group, o.TopicPartition, Offset{o.Offset, o.LeaderEpoch, o.Metadata, ts}))
		written = append(written, i)
	}
	if len(recs) == 0 {
		m.reply(to, res)
		return
	}
	p := m.PartitionFor(req.Group)
	tw := &TxnWrite{ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch,
		Sequence: m.nextSequence(p, req.ProducerID, req.ProducerEpoch, len(recs)), Guard: req.Guard, Added: req.Added}
	m.writeTxn(p, recs, tw, func(_ time.Time, err error) {
		if err != nil {
			// A fenced producer's batch is refused by the partition's
			// producer state (INVALID_PRODUCER_EPOCH), and so is one whose
			// verification a marker voided (INVALID_TXN_STATE); anything
			// else is a failed write the client retries.
			if !errors.Is(err, partition.ErrInvalidProducerEpoch) && !errors.Is(err, partition.ErrTxnState) {
				err = ErrCoordinatorNotAvailable
			}
			for _, i := range written {
				res.Partitions[i] = err
			}
			m.reply(to, res)
			return
		}
		if m.owned[p] != partActive {
			for _, i := range written {
				res.Partitions[i] = ErrNotCoordinator
			}
			m.reply(to, res)
			return
		}
		byPID := m.txns().pending[req.Group]
		if byPID == nil {
			byPID = map[int64]map[TopicPartition]Offset{}
			m.txns().pending[req.Group] = byPID
		}
		offs := byPID[req.ProducerID]
		if offs == nil {
			offs = map[TopicPartition]Offset{}
			byPID[req.ProducerID] = offs
		}
		for _, i := range written {
			o := req.Offsets[i]
			offs[o.TopicPartition] = Offset{o.Offset, o.LeaderEpoch, o.Metadata, ts}
		}
		m.reply(to, res)
	})
}

// CompleteTxn writes producer pid's COMMIT or ABORT marker to partition p
// of __consumer_offsets (for the transaction coordinator's WriteTxnMarkers)
// and, once it is durable, makes the producer's pending offsets of every
// group of p committed or drops them. The answer (an error, nil on
// success) goes to to.
func (m *Machine) CompleteTxn(now time.Time, to ReplyID, p int32, pid int64, epoch int16, coordinatorEpoch int32, commit bool) {
	switch m.owned[p] {
	case partActive:
	case partLoading:
		m.reply(to, ErrLoading)
		return
	default:
		m.reply(to, ErrNotCoordinator)
		return
	}
	tw := &TxnWrite{ProducerID: pid, ProducerEpoch: epoch, Sequence: -1, Control: true, Commit: commit, Epoch: coordinatorEpoch}
	m.writeTxn(p, []Record{controlRecord(commit, coordinatorEpoch)}, tw, func(now time.Time, err error) {
		if err != nil {
			m.reply(to, err)
			return
		}
		if m.owned[p] == partActive {
			m.applyTxnEnd(now, p, pid, commit)
		}
		// The sequence continues: under transactions v1 the producer's
		// next transaction has the same epoch.
		m.reply(to, nil)
	})
}

// applyTxnEnd moves or drops pid's pending offsets of the groups of p.
func (m *Machine) applyTxnEnd(now time.Time, p int32, pid int64, commit bool) {
	t := m.txns()
	for groupID, byPID := range t.pending {
		if m.PartitionFor(groupID) != p {
			continue
		}
		offs, ok := byPID[pid]
		if !ok {
			continue
		}
		delete(byPID, pid)
		if len(byPID) == 0 {
			delete(t.pending, groupID)
		}
		if !commit {
			continue
		}
		target := m.offsetsOf(now, groupID, p)
		for tp, o := range offs {
			target[tp] = o
		}
	}
}

// offsetsOf is the committed-offsets map of groupID, creating a simple
// group if it no longer exists (its offsets are durable in the log).
func (m *Machine) offsetsOf(now time.Time, groupID string, p int32) map[TopicPartition]Offset {
	if cg := m.consumers[groupID]; cg != nil {
		return cg.offsets
	}
	g := m.groups[groupID]
	if g == nil || g.state == Dead {
		g = newGroup(groupID, p, now)
		m.groups[groupID] = g
	}
	return g.offsets
}

// HasPendingTxn reports which of tps (all of the group's when nil) have a
// transactional commit pending.
func (m *Machine) HasPendingTxn(groupID string, tps []TopicPartition) map[TopicPartition]bool {
	out := map[TopicPartition]bool{}
	for _, offs := range m.txns().pending[groupID] {
		for tp := range offs {
			out[tp] = true
		}
	}
	if tps == nil {
		return out
	}
	sel := map[TopicPartition]bool{}
	for _, tp := range tps {
		if out[tp] {
			sel[tp] = true
		}
	}
	return sel
}

// dropTxnPartition forgets the pending commits of partition p's groups
// (the partition was unloaded; its next coordinator replays them).
func (m *Machine) dropTxnPartition(p int32) {
	t := m.txns()
	for groupID := range t.pending {
		if m.PartitionFor(groupID) == p {
			delete(t.pending, groupID)
		}
	}
	for k := range t.seqs {
		if k.partition == p {
			delete(t.seqs, k)
		}
	}
}

// installTxnPending adds the pending commits a load found.
func (m *Machine) installTxnPending(pending map[string]map[int64]map[TopicPartition]Offset) {
	t := m.txns()
	for groupID, byPID := range pending {
		if len(byPID) == 0 {
			continue
		}
		t.pending[groupID] = byPID
	}
}

// writeTxn is write for a transactional batch or a marker.
func (m *Machine) writeTxn(p int32, recs []Record, tw *TxnWrite, done func(now time.Time, err error)) {
	m.token++
	m.pending[m.token] = done
	m.out.Writes = append(m.out.Writes, Write{Partition: p, Records: recs, Token: m.token, Txn: tw})
}

// ApplyTxn replays one record of producer pid's transactional batch: an
// offset commit kept pending until the producer's marker.
func (l *Loader) ApplyTxn(pid int64, key, value []byte) error {
	d, ok, err := decodeRecord(key, value)
	if err != nil || !ok || d.isMeta || d.offset == nil {
		return err
	}
	byGroup := l.txnPending[pid]
	if byGroup == nil {
		byGroup = map[string]map[TopicPartition]Offset{}
		l.txnPending[pid] = byGroup
	}
	offs := byGroup[d.group]
	if offs == nil {
		offs = map[TopicPartition]Offset{}
		byGroup[d.group] = offs
	}
	offs[d.tp] = *d.offset
	return nil
}

// EndTxn replays producer pid's COMMIT or ABORT marker.
func (l *Loader) EndTxn(pid int64, commit bool) {
	byGroup := l.txnPending[pid]
	delete(l.txnPending, pid)
	if !commit {
		return
	}
	for groupID, offs := range byGroup {
		target := l.offsets[groupID]
		if target == nil {
			target = map[TopicPartition]Offset{}
			l.offsets[groupID] = target
		}
		for tp, o := range offs {
			target[tp] = o
		}
	}
}

// pendingByGroup regroups what is still pending after the load by group.
func (l *Loader) pendingByGroup() map[string]map[int64]map[TopicPartition]Offset {
	out := map[string]map[int64]map[TopicPartition]Offset{}
	for pid, byGroup := range l.txnPending {
		for groupID, offs := range byGroup {
			if out[groupID] == nil {
				out[groupID] = map[int64]map[TopicPartition]Offset{}
			}
			out[groupID][pid] = offs
		}
	}
	return out
}

// controlRecord is a COMMIT or ABORT marker record: Kafka's
// EndTransactionMarker, key (version 0, type 1 commit / 0 abort) and value
// (version 0, coordinator epoch).
func controlRecord(commit bool, coordinatorEpoch int32) Record {
	key := make([]byte, 4)
	if commit {
		binary.BigEndian.PutUint16(key[2:], 1)
	}
	value := make([]byte, 6)
	binary.BigEndian.PutUint32(value[2:], uint32(coordinatorEpoch))
	return Record{Key: key, Value: value}
}

// IsCommitMarker reads a control record's key: whether it is a COMMIT
// marker (ok false for other control records).
func IsCommitMarker(key []byte) (commit, ok bool) {
	if len(key) < 4 {
		return false, false
	}
	switch binary.BigEndian.Uint16(key[2:]) {
	case 0:
		return false, true
	case 1:
		return true, true
	}
	return false, false
}

// ApplyTxnEnd applies a transaction's end to the pending offsets of
// partition p, whose marker another writer appended (WriteTxnMarkers).
func (m *Machine) ApplyTxnEnd(now time.Time, p int32, pid int64, commit bool) error {
	switch m.owned[p] {
	case partActive:
	case partLoading:
		return ErrLoading
	default:
		return ErrNotCoordinator
	}
	m.applyTxnEnd(now, p, pid, commit)
	return nil
}
