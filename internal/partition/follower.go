package partition

import (
	"errors"
	"fmt"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/storage"
)

// checkFollowerLocked fails unless this node follows at leaderEpoch: a
// fetcher holding a response from before a role change must drop it.
func (p *Partition) checkFollowerLocked(leaderEpoch ids.LeaderEpoch) error {
	if p.mu.role != RoleFollower || p.mu.leaderEpoch != leaderEpoch {
		return fmt.Errorf("partition %s-%d is a %s at leader epoch %d, not a follower at %d: %w",
			p.Topic, p.Index, p.mu.role, p.mu.leaderEpoch, leaderEpoch, ErrNotFollower)
	}
	return nil
}

func (p *Partition) checkFollower(leaderEpoch ids.LeaderEpoch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checkFollowerLocked(leaderEpoch)
}

// AppendAsFollower appends whole batches fetched from the leader of
// leaderEpoch, keeping their offsets and epochs, and records their
// idempotent producers so that this replica dedups retries once it leads.
// The caller syncs (SyncTo) before reporting the new log end to the leader.
func (p *Partition) AppendAsFollower(batches []byte, leaderEpoch ids.LeaderEpoch) (storage.AppendInfo, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.checkFollower(leaderEpoch); err != nil {
		return storage.AppendInfo{FirstOffset: -1, LastOffset: -1}, err
	}
	info, err := p.log.AppendAsFollower(batches)
	if err != nil {
		if errors.Is(err, storage.ErrFailed) {
			p.reportOffline()
		}
		return info, fmt.Errorf("follower append to %s-%d: %w", p.Topic, p.Index, err)
	}
	// The log checked every batch; headers are valid.
	_ = record.Split(batches, func(b []byte, h record.BatchHeader) error {
		p.replayLocked(h, b)
		return nil
	})
	return info, nil
}

// SyncTo makes everything below offset durable (group commit with the
// flusher and other callers). A failure fails the partition (Failed).
func (p *Partition) SyncTo(offset ids.Offset) error {
	if err := p.log.SyncTo(offset); err != nil {
		p.mu.Lock()
		p.failLocked(err)
		p.mu.Unlock()
		return fmt.Errorf("sync %s-%d: %w", p.Topic, p.Index, err)
	}
	return nil
}

// UpdateFollowerHW takes the leader's high watermark, capped at our own
// log end. It never moves back.
func (p *Partition) UpdateFollowerHW(leaderHW ids.Offset) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.role != RoleFollower {
		return
	}
	hw := min(leaderHW, p.log.LogEndOffset())
	if hw > p.mu.hw {
		p.mu.hw = hw
		p.wakeHWLocked()
	}
}

// TruncateTo drops everything at and above offset (a follower's
// divergent tail), lowers the high watermark to the new log end if needed,
// and rebuilds the idempotent-producer state.
func (p *Partition) TruncateTo(offset ids.Offset, leaderEpoch ids.LeaderEpoch) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.checkFollower(leaderEpoch); err != nil {
		return err
	}
	if offset >= p.log.LogEndOffset() {
		return nil
	}
	p.logger.Info("truncating follower log", "topic", p.Topic, "partition", p.Index,
		"offset", offset, "log_end_offset", p.log.LogEndOffset(), "leader_epoch", leaderEpoch)
	if err := p.log.Truncate(offset); err != nil {
		return fmt.Errorf("truncate %s-%d: %w", p.Topic, p.Index, err)
	}
	return p.afterTruncateLocked()
}

// TruncateFullyAndStartAt empties the log and restarts it at offset, which
// may be past its log end: the leader's log start moved past our log end,
// or our epoch history cannot be matched with the leader's.
func (p *Partition) TruncateFullyAndStartAt(offset ids.Offset, leaderEpoch ids.LeaderEpoch) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.checkFollower(leaderEpoch); err != nil {
		return err
	}
	p.logger.Info("restarting follower log", "topic", p.Topic, "partition", p.Index, "offset", offset)
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return fmt.Errorf("restart %s-%d at %d: %w", p.Topic, p.Index, offset, err)
	}
	return p.afterTruncateLocked()
}

// MaybeRaiseLogStart follows the leader's log start offset (retention and
// DeleteRecords on the leader) as far as our log reaches.
func (p *Partition) MaybeRaiseLogStart(leaderLSO ids.Offset) error {
	if leaderLSO <= p.log.LogStartOffset() || leaderLSO > p.log.LogEndOffset() {
		return nil
	}
	if err := p.log.SetLogStartOffset(leaderLSO); err != nil {
		return fmt.Errorf("follow log start of %s-%d: %w", p.Topic, p.Index, err)
	}
	return nil
}

// afterTruncateLocked caps the HW and rebuilds producer state. Needs appendMu.
func (p *Partition) afterTruncateLocked() error {
	leo, lso := p.log.LogEndOffset(), p.log.LogStartOffset()
	p.mu.Lock()
	p.mu.hw = max(min(p.mu.hw, leo), lso)
	p.mu.Unlock()
	// Truncation is rare; rebuild from the log rather than keep history.
	return p.rebuildProducersLocked(p.HighWatermark())
}

// Persist applies the flush policy to a follower append: under
// sync-on-ack it syncs the log before returning (the follower reports its
// log end as durable with its next fetch); otherwise it asks the flusher
// once flush.messages are pending, as the leader does.
func (p *Partition) Persist() error {
	cfg := p.Config()
	if cfg.Flush.SyncOnAck() {
		return p.SyncTo(p.log.LogEndOffset())
	}
	if p.log.UnflushedMessages() >= cfg.Flush.Messages {
		p.requestFlush()
	}
	return nil
}
