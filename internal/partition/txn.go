package partition

// Transactions on a partition (the partition side of Kafka's
// transactions): transactional batches start a producer's transaction
// here, the coordinator's COMMIT or ABORT marker (AppendMarker, sent by
// WriteTxnMarkers) ends it. The last stable offset is the high watermark,
// held back by the first offset of the earliest transaction still
// unstable: in progress, or ended by a marker not yet below the high
// watermark (Kafka's firstUnstableOffset). Aborted transactions are kept
// in the log's aborted-transaction index (storage/txnindex.go), which
// read_committed fetches read. Leader, followers and recovery all derive
// this state from the log (replayLocked), so a restart or a leader change
// keeps the last stable offset where it was.

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/storage"
)

// AbortedTxn is an aborted transaction, as read_committed fetches report
// it (storage.AbortedTxn).
type AbortedTxn = storage.AbortedTxn

// unstableTxn is a transaction that holds the last stable offset back.
type unstableTxn struct {
	producerID int64
	first      int64
	marker     int64 // offset of its marker, -1 while in progress
}

// lastStableLocked is the last stable offset. Needs mu.
func (p *Partition) lastStableLocked() ids.Offset {
	if len(p.mu.unstable) == 0 {
		return p.mu.hw
	}
	return min(p.mu.hw, ids.Offset(p.mu.unstable[0].first))
}

// pruneUnstableLocked forgets the ended transactions whose marker is below
// the high watermark. Needs mu.
func (p *Partition) pruneUnstableLocked() {
	p.mu.unstable = slices.DeleteFunc(p.mu.unstable, func(t unstableTxn) bool {
		return t.marker >= 0 && ids.Offset(t.marker) < p.mu.hw
	})
}

// applyTxnEventLocked records what an appended batch did to the
// transactions. Needs appendMu.
func (p *Partition) applyTxnEventLocked(ev txnEvent) {
	switch ev.kind {
	case txnStarted:
		p.mu.Lock()
		p.mu.unstable = append(p.mu.unstable, unstableTxn{producerID: ev.producerID, first: ev.first, marker: -1})
		p.mu.Unlock()
	case txnEnded:
		p.mu.Lock()
		for i := range p.mu.unstable {
			if t := &p.mu.unstable[i]; t.producerID == ev.producerID && t.marker < 0 {
				t.marker = ev.marker
			}
		}
		p.pruneUnstableLocked()
		p.mu.Unlock()
		if ev.abort {
			a := AbortedTxn{ProducerID: ev.producerID, FirstOffset: ev.first, LastOffset: ev.marker, LastStableOffset: ev.lastStable}
			if err := p.log.AddAbortedTxn(a); err != nil {
				// The entry is in memory; the file is rebuilt at the next open.
				p.logger.Warn("write aborted transaction index", "topic", p.Topic, "partition", p.Index, "err", err)
			}
		}
	}
}

// replayLocked applies a batch of the log (a follower's copy of the
// leader's) to the producer state. Needs appendMu.
func (p *Partition) replayLocked(h record.BatchHeader, batch []byte) {
	var m *record.Marker
	if h.IsControl() {
		if mk, ok, err := record.ParseMarker(batch); err == nil && ok {
			m = &mk
		}
	}
	p.applyTxnEventLocked(p.producers.update(h, m))
}

// rebuildProducersLocked rebuilds the producer state, the unstable
// transactions and the aborted-transaction index from the log (open and
// truncation). Ended transactions whose marker is at or above keepFrom
// are kept aside (openEnded): the high watermark a replicated partition
// restores after opening (restoreHW) may lie below their markers, and
// then they still hold the last stable offset. Needs appendMu (or
// exclusive use, at open).
func (p *Partition) rebuildProducersLocked(keepFrom ids.Offset) error {
	ps := newProducerState()
	var ended []unstableTxn
	var aborted []AbortedTxn
	err := p.log.ScanWithControl(p.log.LogStartOffset(), func(h record.BatchHeader, control []byte) error {
		var m *record.Marker
		if control != nil {
			mk, ok, err := record.ParseMarker(control)
			if err != nil {
				return fmt.Errorf("control batch at %d: %w", h.BaseOffset, err)
			}
			if ok {
				m = &mk
			}
		}
		if ev := ps.update(h, m); ev.kind == txnEnded {
			if ids.Offset(ev.marker) >= keepFrom {
				ended = append(ended, unstableTxn{producerID: ev.producerID, first: ev.first, marker: ev.marker})
			}
			if ev.abort {
				aborted = append(aborted, AbortedTxn{ProducerID: ev.producerID, FirstOffset: ev.first, LastOffset: ev.marker, LastStableOffset: ev.lastStable})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild producer state of %s-%d: %w", p.Topic, p.Index, err)
	}
	if err := p.log.SetAbortedTxns(aborted); err != nil {
		p.logger.Warn("write aborted transaction index", "topic", p.Topic, "partition", p.Index, "err", err)
	}
	p.producers = ps
	unstable := slices.Clone(ended)
	for pid, first := range ps.ongoing {
		unstable = append(unstable, unstableTxn{producerID: pid, first: first, marker: -1})
	}
	sortUnstable(unstable)
	p.mu.Lock()
	p.mu.unstable = unstable
	p.pruneUnstableLocked()
	p.mu.openEnded = ended
	p.mu.Unlock()
	return nil
}

func sortUnstable(u []unstableTxn) {
	slices.SortFunc(u, func(a, b unstableTxn) int { return cmp.Compare(a.first, b.first) })
}

// restoreUnstableLocked takes back the transactions ended at open whose
// marker is not below the high watermark restored from the checkpoint.
// Needs mu.
func (p *Partition) restoreUnstableLocked() {
	for _, t := range p.mu.openEnded {
		if ids.Offset(t.marker) >= p.mu.hw {
			p.mu.unstable = append(p.mu.unstable, t)
		}
	}
	p.mu.openEnded = nil
	sortUnstable(p.mu.unstable)
}

// AppendMarker appends the COMMIT or ABORT marker m of producer pid at
// epoch, as the transaction coordinator asks with WriteTxnMarkers (Kafka's
// appendRecords with origin COORDINATOR). The marker is checked against
// the producer's state (checkMarker: an older producer or coordinator
// epoch is fenced); a marker of a producer without a transaction here is
// written all the same, as Kafka does. The caller waits for it with
// WaitVisible (markers are written with acks=all).
func (p *Partition) AppendMarker(pid int64, epoch int16, m record.Marker) (AppendResult, error) {
	p.mu.Lock()
	leaderEpoch, ferr, role := p.mu.leaderEpoch, p.mu.flushErr, p.mu.role
	cfg := p.mu.cfg
	p.mu.Unlock()
	if role != RoleLeader {
		return AppendResult{}, fmt.Errorf("marker for %s-%d: %w", p.Topic, p.Index, ErrNotLeader)
	}
	if ferr != nil {
		return AppendResult{}, fmt.Errorf("partition %s-%d: earlier sync failed: %w", p.Topic, p.Index, ferr)
	}
	res := AppendResult{LogAppendTime: -1}
	now := time.Now().UnixMilli()
	batch := record.AppendMarkerBatch(nil, pid, epoch, now, m)
	h, err := record.ParseHeader(batch)
	if err != nil {
		return res, err
	}
	if cfg.LogAppendTime {
		res.LogAppendTime = now
		record.SetLogAppendTime(batch, &h, now)
	}

	p.appendMu.Lock()
	if err := p.producers.checkMarker(pid, epoch, m.CoordinatorEpoch); err != nil {
		p.appendMu.Unlock()
		return res, fmt.Errorf("marker for %s-%d: %w", p.Topic, p.Index, err)
	}
	hs := [1]record.BatchHeader{h}
	info, err := p.log.Append(batch, hs[:], leaderEpoch)
	if err != nil {
		p.appendMu.Unlock()
		return res, fmt.Errorf("append marker to %s-%d: %w", p.Topic, p.Index, err)
	}
	h.BaseOffset = int64(info.FirstOffset)
	p.applyTxnEventLocked(p.producers.update(h, &m))
	p.appendMu.Unlock()

	res.BaseOffset, res.LastOffset = info.FirstOffset, info.LastOffset
	res.LogStartOffset = p.log.LogStartOffset()
	if cfg.Flush.SyncOnAck() || p.log.UnflushedMessages() >= cfg.Flush.Messages {
		p.requestFlush()
	}
	p.mu.Lock()
	wakeAll(p.mu.waiters[BoundLogEnd])
	if !cfg.Flush.SyncOnAck() {
		p.maybeAdvanceHWLocked()
	}
	p.mu.Unlock()
	return res, nil
}

// StartTxnVerification begins KIP-890's check of a transactional write of
// pid/epoch: it returns the guard to append with (AppendVerified) once the
// coordinator confirmed the partition is in the producer's transaction,
// or 0 when no check is needed (a transaction of that epoch is already in
// progress here). A marker for the producer in between voids the guard,
// so a write that arrives after its transaction ended is refused
// (INVALID_TXN_STATE) instead of opening a transaction nobody will end.
func (p *Partition) StartTxnVerification(pid int64, epoch int16) uint64 {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.producers.startVerification(pid, epoch)
}

// AppendAdded is AppendVerified for a transactional batch whose partition
// the coordinator added to the producer's transaction (transactions v2,
// KIP-890 part 2) after the verification under guard started. A client of
// transactions v2 starts its next transaction as soon as EndTxn answers,
// so the marker of the previous transaction often lands between the start
// of the verification and the add (which waits for that marker): it voids
// guard, though the batch is legitimate. Such a marker carries the epoch
// of the new transaction at most (EndTxn v5 bumped it once); the end of
// the new transaction itself, by EndTxn or a coordinator's abort, bumps
// the epoch again, and its marker refuses the batch by epoch. So the batch
// is guarded afresh and appended once more; a marker of a later epoch still
// refuses it.
func (p *Partition) AppendAdded(batch []byte, origin Origin, guard uint64) (AppendResult, error) {
	res, err := p.AppendVerified(batch, origin, guard)
	if guard == 0 || !errors.Is(err, ErrTxnState) {
		return res, err
	}
	h, herr := record.ParseHeader(batch)
	if herr != nil || !h.IsTransactional() {
		return res, err
	}
	return p.AppendVerified(batch, origin, p.StartTxnVerification(h.ProducerID, h.ProducerEpoch))
}

// ExpireProducers forgets the producers of this replica idle for longer
// than expiration and without an open transaction here
// (producer.id.expiration.ms): DescribeProducers no longer lists them, and
// their next write is taken as a new producer's. Every replica expires
// its own, as in Kafka.
func (p *Partition) ExpireProducers(now time.Time, expiration time.Duration) {
	p.appendMu.Lock()
	gone := p.producers.removeExpired(now.UnixMilli(), expiration.Milliseconds())
	p.appendMu.Unlock()
	if len(gone) > 0 {
		p.logger.Debug("expired producer ids", "topic", p.Topic, "partition", p.Index, "producers", gone)
	}
}

// AbortedTxns returns the aborted transactions that overlap the offsets
// [from, upper), for a read_committed fetch of that range.
func (p *Partition) AbortedTxns(from, upper ids.Offset) []AbortedTxn {
	return p.log.AbortedTxns(from, upper)
}

// Producers lists the producers the partition knows, by producer id
// (DescribeProducers; kafka-transactions.sh find-hanging reads their
// transaction start offsets).
func (p *Partition) Producers() []ProducerInfo {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	out := make([]ProducerInfo, 0, len(p.producers.entries))
	for pid, e := range p.producers.entries {
		pi := ProducerInfo{ProducerID: pid, Epoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTimestamp,
			CoordinatorEpoch: e.coordinatorEpoch, TxnStartOffset: e.txnFirst}
		if l := e.last(); l != nil {
			pi.LastSequence = l.lastSeq
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}
