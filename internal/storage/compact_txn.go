package storage

// Compaction of transactional data, as Kafka's cleaner does it
// (CleanedTransactionMetadata): the batches of aborted transactions are
// removed and never enter the offset map (an aborted record must not
// supersede a committed one); a transaction's marker stays while the run
// still sees data of its transaction, then gets a delete horizon
// (delete.retention.ms from that run, KIP-534) and goes in a run after
// the horizon passed. Only the log below the last stable offset is
// cleaned (the partition passes it as uncleanableFrom), so every
// transaction met here is decided.

import (
	"slices"

	"github.com/strom-broker/strom/internal/record"
)

// txnTracker follows transactions through one pass over batches in
// offset order.
type txnTracker struct {
	aborted []AbortedTxn // every aborted transaction of the log, by first offset
	next    int          // aborted[next:] not yet started
	// ongoingAborted: aborted transactions started at or before the
	// current batch whose marker has not been read; seen is set when one
	// of their data batches was read.
	ongoingAborted map[int64]*abortedInPass
	// ongoingCommitted: producers whose transaction had data read since
	// its start, awaiting a COMMIT marker.
	ongoingCommitted map[int64]bool
}

type abortedInPass struct {
	txn  AbortedTxn
	seen bool
}

// newTxnTracker starts a pass with the log's aborted transactions.
func newTxnTracker(aborted []AbortedTxn) *txnTracker {
	a := slices.Clone(aborted)
	slices.SortFunc(a, func(x, y AbortedTxn) int {
		switch {
		case x.FirstOffset < y.FirstOffset:
			return -1
		case x.FirstOffset > y.FirstOffset:
			return 1
		}
		return 0
	})
	return &txnTracker{aborted: a, ongoingAborted: map[int64]*abortedInPass{}, ongoingCommitted: map[int64]bool{}}
}

func (t *txnTracker) consumeUpTo(offset int64) {
	for t.next < len(t.aborted) && t.aborted[t.next].FirstOffset <= offset {
		a := t.aborted[t.next]
		t.ongoingAborted[a.ProducerID] = &abortedInPass{txn: a}
		t.next++
	}
}

// onDataBatch reads a data batch and reports whether it belongs to an
// aborted transaction (and must go).
func (t *txnTracker) onDataBatch(h record.BatchHeader) bool {
	t.consumeUpTo(h.LastOffset())
	if !h.IsTransactional() {
		return false
	}
	if a := t.ongoingAborted[h.ProducerID]; a != nil && h.BaseOffset <= a.txn.LastOffset {
		a.seen = true
		return true
	}
	t.ongoingCommitted[h.ProducerID] = true
	return false
}

// onControlBatch reads a control batch and reports whether it may go
// (once its delete horizon passed): its transaction has no data left in
// what this pass read.
func (t *txnTracker) onControlBatch(h record.BatchHeader, b []byte) bool {
	t.consumeUpTo(h.LastOffset())
	m, ok, err := record.ParseMarker(b)
	if err != nil {
		return false
	}
	if !ok {
		// An empty control batch (an earlier cleaning emptied it) or one of
		// another type: nothing depends on it.
		return h.NumRecords == 0
	}
	if !m.Commit() {
		a := t.ongoingAborted[h.ProducerID]
		delete(t.ongoingAborted, h.ProducerID)
		return a == nil || !a.seen
	}
	had := t.ongoingCommitted[h.ProducerID]
	delete(t.ongoingCommitted, h.ProducerID)
	return !had
}

// filterControl decides what of a control batch a rewritten segment keeps:
// the batch as is while its transaction has data, then a copy carrying a
// delete horizon, and nothing once the horizon passed.
func (c *cleaner) filterControl(b []byte, h record.BatchHeader) ([]byte, bool, error) {
	if !c.txns.onControlBatch(h, b) {
		return b, true, nil
	}
	if h.Attributes&attrDeleteHorizon != 0 {
		if c.now >= h.FirstTimestamp {
			c.stats.RecordsRemoved += int64(h.NumRecords)
			return nil, false, nil
		}
		c.minHorizon = min(c.minHorizon, h.FirstTimestamp)
		return b, true, nil
	}
	horizon := c.now + c.cfg.DeleteRetentionMs
	c.minHorizon = min(c.minHorizon, horizon)
	var err error
	if c.body, err = c.encodeRecords(c.body[:0], b, h, horizon, func(int64, record.Record) bool { return true }); err != nil {
		return nil, false, err
	}
	out, err := c.buildBatch(h, h.Attributes|attrDeleteHorizon, horizon, h.NumRecords)
	return out, true, err
}

// allAbortedTxns is every aborted transaction the log indexes.
func (l *Log) allAbortedTxns() []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []AbortedTxn
	for _, s := range l.mu.segments {
		out = append(out, s.aborted...)
	}
	return out
}
