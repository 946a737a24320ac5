package partition

import (
	"time"
)

// The high-watermark checkpoint (Kafka's replication-offset-checkpoint,
// one file per partition here, written and read by the log:
// storage.Log.WriteHighWatermark, docs/storage-format.md) lets a replicated
// partition that restarts expose what was committed before, instead of
// nothing until its ISR has fetched again. It is written every
// hwCheckpointInterval and on a clean close; a lost or stale one only
// makes the HW start lower.
const hwCheckpointInterval = 5 * time.Second // replica.high.watermark.checkpoint.interval.ms

// restoreHW sets the starting high watermark of a replicated partition
// just opened: the checkpoint, within the log's bounds, or the log start.
// What lies above it may be an uncommitted tail; the leader's HW rule
// moves it up once the ISR has fetched.
func (p *Partition) restoreHW() {
	lso, leo := p.log.LogStartOffset(), p.log.LogEndOffset()
	hw := lso
	cp, ok, err := p.log.ReadHighWatermark()
	if err != nil {
		p.logger.Warn("ignoring unreadable high-watermark checkpoint", "topic", p.Topic, "partition", p.Index, "err", err)
	}
	if ok {
		hw = max(min(cp, leo), lso)
	}
	p.mu.Lock()
	p.mu.hw = hw
	p.mu.checkpointedHW = hw
	p.mu.replicated = true
	p.restoreUnstableLocked()
	p.mu.Unlock()
}

// checkpointHW writes the high watermark if it moved since the last write
// and force or the interval has passed.
func (p *Partition) checkpointHW(now time.Time, force bool) {
	p.mu.Lock()
	hw, last, at, replicated := p.mu.hw, p.mu.checkpointedHW, p.mu.checkpointedAt, p.mu.replicated
	p.mu.Unlock()
	if !replicated || hw == last || (!force && now.Sub(at) < hwCheckpointInterval) {
		return
	}
	if err := p.log.WriteHighWatermark(hw); err != nil {
		p.logger.Warn("high-watermark checkpoint failed", "topic", p.Topic, "partition", p.Index, "err", err)
		return
	}
	p.mu.Lock()
	p.mu.checkpointedHW, p.mu.checkpointedAt = hw, now
	p.mu.Unlock()
}
