package partition

import "sort"

// ProducerSnapshot is what DescribeProducers shows of one producer id.
type ProducerSnapshot struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32 // -1 when no batch is remembered
	LastTimestamp int64 // -1 when no batch is remembered
	// CoordinatorEpoch and TxnStartOffset describe an ongoing transaction
	// (-1 when none).
	CoordinatorEpoch int32
	TxnStartOffset   int64
}

// Producers returns the producer state of the partition, by producer id.
// It reads under the append lock, so it sees every appended batch.
func (p *Partition) Producers() []ProducerSnapshot {
	p.appendMu.Lock()
	out := make([]ProducerSnapshot, 0, len(p.producers))
	for id, e := range p.producers {
		s := ProducerSnapshot{ProducerID: id, Epoch: e.epoch, LastSequence: -1, LastTimestamp: -1, CoordinatorEpoch: -1, TxnStartOffset: -1}
		if b := e.last(); b != nil {
			s.LastSequence, s.LastTimestamp = b.lastSeq, b.timestamp
		}
		out = append(out, s)
	}
	p.appendMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}
