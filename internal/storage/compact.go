package storage

// Log compaction, as Kafka's LogCleaner does it, for topics whose
// cleanup.policy includes compact. The on-disk protocol (cleaned and swap
// files, the cleaner checkpoint, the delete horizon) is in
// docs/storage-format.md, section "Compaction".
//
// A run works on the cleanable prefix of the log: whole segments below the
// active one and below the caller's first uncleanable offset (the high
// watermark). It folds the dirty part of that prefix (from the cleaner
// checkpoint on) into an offset map key -> latest offset, then rewrites every
// cleanable segment, in groups that fit in one segment, keeping per key only
// the latest record. Kept records keep their offsets. Each rewritten group is
// swapped in under appendMu; readers holding an old segment keep reading it
// until they release it.

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/vfs"
)

// File names of compaction.
const (
	cleanedSuffix         = ".cleaned" // a rewritten segment being written; discarded at open
	swapSuffix            = ".swap"    // a rewritten segment committed; swapped in at open
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
)

// CompactConfig holds the compaction settings, named after Kafka's configs.
type CompactConfig struct {
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio: run when dirty/(clean+dirty) exceeds it
	DeleteRetentionMs      int64         // delete.retention.ms: how long a tombstone outlives its first cleaning
	MinInterval            time.Duration // least time between runs on one log (CompactionDue); log.cleaner.backoff.ms
	MaxMapEntries          int           // keys one run folds into its offset map (log.cleaner.dedupe.buffer.size / 24)
	MinCompactionLagMs     int64         // min.compaction.lag.ms: segments with a newer record are not cleaned
	MaxCompactionLagMs     int64         // max.compaction.lag.ms: a first dirty batch older than this makes a run due
}

// defaultMaxMapEntries bounds one run's offset map: 1Mi keys of 24 bytes
// (Kafka sizes its map by log.cleaner.dedupe.buffer.size instead).
const defaultMaxMapEntries = 1 << 20

// DefaultCompactConfig returns Kafka's defaults, from config.Default.
func DefaultCompactConfig() CompactConfig { return CompactConfigOf(config.Default().Log.TopicConfig()) }

// CompactConfigOf is the compaction part of a topic's config; the cleaner's
// own settings are Kafka's defaults.
func CompactConfigOf(t config.TopicConfig) CompactConfig {
	return CompactConfig{
		MinCleanableDirtyRatio: t.MinCleanableDirtyRatio,
		DeleteRetentionMs:      t.DeleteRetention.Milliseconds(),
		MinInterval:            config.Default().Log.CleanerBackoff,
		MaxMapEntries:          defaultMaxMapEntries,
		MinCompactionLagMs:     t.MinCompactionLag.Milliseconds(),
		MaxCompactionLagMs:     t.MaxCompactionLag.Milliseconds(),
	}
}

func (c CompactConfig) normalized() CompactConfig {
	if c.MaxMapEntries <= 0 {
		c.MaxMapEntries = defaultMaxMapEntries
	}
	c.DeleteRetentionMs = max(c.DeleteRetentionMs, 0)
	return c
}

// CompactStats describes one Compact run.
type CompactStats struct {
	Ran               bool  // false: nothing was due
	FirstDirty        int64 // the dirty range [FirstDirty, EndOffset) was folded into the offset map
	EndOffset         int64
	SegmentsRead      int
	SegmentsWritten   int
	BytesRead         int64
	BytesWritten      int64
	RecordsRead       int64
	RecordsRemoved    int64 // superseded, expired tombstones and keyless records
	TombstonesRemoved int64
	KeylessRemoved    int64
	// Aborted: a truncation, a retention run or Close changed the segments
	// being rewritten; the rewritten copies were dropped, a later run redoes them.
	Aborted bool
}

// compactSlots bounds the runs in progress across all logs, as Kafka's
// log.cleaner.threads (default 1) does: compaction reads and rewrites whole
// segments and must not starve produce and fetch of disk and CPU.
var compactSlots = make(chan struct{}, 1)

// cleanerState is the compaction state of one Log.
type cleanerState struct {
	run      sync.Mutex    // held by a running Compact; taken before appendMu
	stop     chan struct{} // closed by Close and Delete: a run stops at the next batch
	stopOnce sync.Once
	gen      atomic.Uint64 // bumped by truncations: a run started before one must not swap

	mu struct { // a leaf lock: nothing is taken while holding it
		sync.Mutex
		loaded     bool
		firstDirty int64 // cleaner checkpoint: offsets below were folded into an offset map; -1 none
		lastRun    time.Time
		horizon    int64 // earliest delete horizon of a kept tombstone batch, 0 when none known
	}

	swapHook func(stage string) error // test hook: an error stops the swap at that stage
}

func (c *cleanerState) init() { c.stop = make(chan struct{}) }

func (c *cleanerState) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// stopCleaner makes a running Compact give up and waits for it. Close and
// Delete call it before taking appendMu.
func (l *Log) stopCleaner() {
	l.cleaner.stopOnce.Do(func() { close(l.cleaner.stop) })
	l.cleaner.run.Lock()
	l.cleaner.run.Unlock() //nolint:staticcheck // waiting for the holder is the point
}

// truncated tells the cleaner that everything from offset on was removed:
// a run in progress must not swap, and the checkpoint must not pass offset.
func (l *Log) cleanerTruncated(offset int64) {
	l.cleaner.gen.Add(1)
	c := &l.cleaner
	c.mu.Lock()
	if c.mu.loaded && c.mu.firstDirty > offset {
		c.mu.firstDirty = offset
	}
	c.mu.Unlock()
}

// cleanerStateSnapshot returns the checkpoint, the last run time and the
// earliest known delete horizon, loading the checkpoint file the first time.
func (l *Log) cleanerStateSnapshot() (firstDirty int64, lastRun time.Time, horizon int64) {
	c := &l.cleaner
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.loaded {
		c.mu.firstDirty = -1
		off, ok, err := readOffsetFile(l.fs, l.path(cleanerCheckpointFile))
		if err != nil {
			l.logger.Warn("ignoring cleaner checkpoint", "err", err)
		} else if ok {
			c.mu.firstDirty = off
		}
		c.mu.loaded = true
	}
	return c.mu.firstDirty, c.mu.lastRun, c.mu.horizon
}

// prefix is the cleanable part of a log as cleanablePrefixLocked finds it.
type prefix struct {
	n                 int   // leading segments that are cleanable
	firstDirty        int64 // the checkpoint, within the log
	clean, dirty      int64 // bytes of the n segments below and from firstDirty
	firstDirtyBatchTs int64 // first batch timestamp of the first dirty segment; -1 unknown
}

// cleanablePrefixLocked returns the cleanable prefix: whole segments, not
// the active one, ending at or below uncleanableFrom, and stopping at the
// first dirty segment holding a record newer than min.compaction.lag.ms
// (as Kafka's firstUncleanableDirtyOffset does). Needs mu.
func (l *Log) cleanablePrefixLocked(firstDirty, uncleanableFrom, nowMs int64, cfg CompactConfig) prefix {
	segs := l.mu.segments
	if firstDirty < l.mu.lso || firstDirty > l.mu.leo {
		firstDirty = l.mu.lso
	}
	p := prefix{firstDirty: firstDirty, firstDirtyBatchTs: -1}
	for p.n < len(segs)-1 && segs[p.n].next <= uncleanableFrom && segs[p.n+1].base <= uncleanableFrom {
		s := segs[p.n]
		if cfg.MinCompactionLagMs > 0 && s.next > firstDirty && s.maxTs > nowMs-cfg.MinCompactionLagMs {
			break
		}
		p.n++
	}
	for _, s := range segs[:p.n] {
		if s.next <= firstDirty {
			p.clean += s.size
			continue
		}
		if p.dirty == 0 {
			p.firstDirtyBatchTs = s.firstBatchTs()
		}
		p.dirty += s.size
	}
	return p
}

// CompactionDue reports, without I/O, whether Compact would do work now:
// no run is in progress, cfg.MinInterval passed since the last one, and the
// dirty ratio exceeds cfg.MinCleanableDirtyRatio or a kept tombstone's delete
// horizon passed. Callers that run Compact in the background poll it.
func (l *Log) CompactionDue(now time.Time, cfg CompactConfig, uncleanableFrom ids.Offset) bool {
	upTo := int64(uncleanableFrom)
	if l.cleaner.stopped() || !l.cleaner.run.TryLock() {
		return false
	}
	l.cleaner.run.Unlock()
	firstDirty, lastRun, horizon := l.cleanerStateSnapshot()
	if now.Sub(lastRun) < cfg.MinInterval {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.checkWritableLocked() != nil {
		return false
	}
	p := l.cleanablePrefixLocked(firstDirty, upTo, now.UnixMilli(), cfg)
	return p.n > 0 && due(cfg, now, horizon, p)
}

// due: a kept tombstone's delete horizon passed, the dirty ratio exceeds
// min.cleanable.dirty.ratio, or the first dirty batch is older than
// max.compaction.lag.ms.
func due(cfg CompactConfig, now time.Time, horizon int64, p prefix) bool {
	nowMs := now.UnixMilli()
	if horizon > 0 && nowMs >= horizon {
		return true
	}
	if p.dirty == 0 {
		return false
	}
	if p.firstDirtyBatchTs >= 0 && cfg.MaxCompactionLagMs > 0 && p.firstDirtyBatchTs < nowMs-cfg.MaxCompactionLagMs {
		return true
	}
	return float64(p.dirty)/float64(p.clean+p.dirty) > cfg.MinCleanableDirtyRatio
}

// segSnap is a cleanable segment as a run saw it; the run holds a reference.
type segSnap struct {
	seg      *segment
	size     int64
	next     int64
	idxBytes int64
}

// Compact runs log compaction once if it is due (see CompactionDue, less the
// interval): only whole non-active segments below uncleanableFrom (pass the
// high watermark) are rewritten. It returns at once, with Ran false, when
// another run of this log is in progress or nothing is due. Appends, reads
// and syncs go on meanwhile; a truncation, retention deleting a segment being
// rewritten, or Close makes the run drop its work (Stats.Aborted).
func (l *Log) Compact(now time.Time, cfg CompactConfig, uncleanableFrom ids.Offset) (CompactStats, error) {
	upTo := int64(uncleanableFrom)
	cfg = cfg.normalized()
	var st CompactStats
	if !l.cleaner.run.TryLock() {
		return st, nil
	}
	defer l.cleaner.run.Unlock()
	if l.cleaner.stopped() {
		return st, fmt.Errorf("compact: %w", ErrClosed)
	}
	firstDirty, _, horizon := l.cleanerStateSnapshot()
	l.cleaner.mu.Lock()
	l.cleaner.mu.lastRun = now
	l.cleaner.mu.Unlock()

	l.mu.RLock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.RUnlock()
		return st, fmt.Errorf("compact: %w", err)
	}
	p := l.cleanablePrefixLocked(firstDirty, upTo, now.UnixMilli(), cfg)
	n := p.n
	firstDirty = p.firstDirty
	if n == 0 || !due(cfg, now, horizon, p) {
		l.mu.RUnlock()
		return st, nil
	}
	segs := make([]segSnap, n)
	for i, s := range l.mu.segments[:n] {
		s.incRef()
		segs[i] = segSnap{seg: s, size: s.size, next: s.next,
			idxBytes: int64(len(s.index))*indexEntrySize + int64(len(s.tindex))*timeIndexEntrySize}
	}
	cleanEnd := l.mu.segments[n].base
	gen := l.cleaner.gen.Load()
	lcfg := l.mu.cfg
	l.mu.RUnlock()
	defer func() {
		for _, s := range segs {
			s.seg.decRef()
		}
	}()

	select {
	case compactSlots <- struct{}{}:
	case <-l.cleaner.stop:
		return st, fmt.Errorf("compact: %w", ErrClosed)
	}
	defer func() { <-compactSlots }()

	st.Ran, st.FirstDirty = true, firstDirty
	c := &cleaner{l: l, cfg: cfg, lcfg: lcfg, now: now.UnixMilli(), stats: &st, gen: gen,
		keys: make(map[[16]byte]int64), minHorizon: math.MaxInt64}
	var err error
	if c.lastOfProducer, err = l.producerLastOffsets(); err != nil {
		return st, fmt.Errorf("compact: %w", err)
	}
	c.aborted = l.allAbortedTxns()
	c.txns = newTxnTracker(c.aborted)
	if c.mapEnd, err = c.buildOffsetMap(segs, firstDirty, cleanEnd); err != nil {
		return c.finishAborted(err)
	}
	st.EndOffset = c.mapEnd
	c.txns = newTxnTracker(c.aborted) // the cleaning pass reads from the start
	todo := segs
	for len(todo) > 0 && todo[0].seg.base < c.mapEnd {
		n, swapped, err := c.cleanGroup(todo, gen)
		if err != nil {
			return c.finishAborted(err)
		}
		if !swapped {
			st.Aborted = true
			return st, nil
		}
		todo = todo[n:]
	}
	if err := l.cleanerDone(c.mapEnd, cleanEnd, c.minHorizon); err != nil {
		return st, fmt.Errorf("compact: %w", err)
	}
	l.logger.Debug("compacted", "first_dirty", firstDirty, "end_offset", c.mapEnd,
		"segments_read", st.SegmentsRead, "segments_written", st.SegmentsWritten,
		"bytes_read", st.BytesRead, "bytes_written", st.BytesWritten, "records_removed", st.RecordsRemoved)
	return st, nil
}

// errCleanerStopped stops a run when the log closes.
var errCleanerStopped = errors.New("storage: compaction stopped")

// finishAborted turns a stop by Close, or a read error after a truncation
// cut a segment being read, into Aborted, and wraps other errors.
func (c *cleaner) finishAborted(err error) (CompactStats, error) {
	if errors.Is(err, errCleanerStopped) || (c.l.cleaner.gen.Load() != c.gen && !errors.Is(err, errSwapCommitted)) {
		c.stats.Aborted = true
		return *c.stats, nil
	}
	return *c.stats, fmt.Errorf("compact: %w", err)
}

// cleanerDone persists the new checkpoint and remembers the earliest horizon.
func (l *Log) cleanerDone(mapEnd, cleanEnd, minHorizon int64) error {
	c := &l.cleaner
	c.mu.Lock()
	if mapEnd < cleanEnd && c.mu.horizon > 0 {
		// Segments past mapEnd were not rewritten: their tombstones still count.
		minHorizon = min(minHorizon, c.mu.horizon)
	}
	if minHorizon == math.MaxInt64 {
		minHorizon = 0
	}
	c.mu.horizon = minHorizon
	c.mu.firstDirty = mapEnd
	c.mu.Unlock()
	return writeOffsetFile(l.fs, l.path(cleanerCheckpointFile), mapEnd, vfs.Durable)
}

// producerLastOffsets maps each producer id to the last offset of its last
// data batch in the log. That batch is kept even when compaction removes all
// its records, so that the producer's last sequence survives (Kafka's rule).
func (l *Log) producerLastOffsets() (map[int64]int64, error) {
	last := map[int64]int64{}
	err := l.ScanBatches(0, func(h record.BatchHeader) error {
		if h.ProducerID >= 0 && !h.IsControl() {
			last[h.ProducerID] = h.LastOffset()
		}
		return nil
	})
	return last, err
}

// cleaner is the state of one Compact run.
type cleaner struct {
	l              *Log
	cfg            CompactConfig
	lcfg           Config
	now            int64  // ms
	gen            uint64 // truncation generation the run started in
	stats          *CompactStats
	keys           map[[16]byte]int64 // hash of key -> latest offset in [firstDirty, mapEnd)
	mapEnd         int64              // records at or above are kept as they are
	lastOfProducer map[int64]int64
	minHorizon     int64       // earliest delete horizon of a kept batch with tombstones or a marker
	txns           *txnTracker // transactions of the pass in progress (compact_txn.go)
	aborted        []AbortedTxn

	body  []byte // reused encoding buffer
	maxTs int64  // largest timestamp of the records encodeRecords kept
}

// keyHash is the offset map's key: 16 bytes of SHA-256, as Kafka keeps a
// 16-byte MD5, so the map's memory does not depend on key sizes.
func keyHash(k []byte) [16]byte {
	s := sha256.Sum256(k)
	return [16]byte(s[:16])
}

var errMapFull = errors.New("offset map full")

// buildOffsetMap folds the records of [firstDirty, cleanEnd) into c.keys and
// returns the offset up to which it got: cleanEnd, or less when the map filled.
func (c *cleaner) buildOffsetMap(segs []segSnap, firstDirty, cleanEnd int64) (int64, error) {
	latest := int64(-1)
	for _, s := range segs {
		if s.next <= firstDirty {
			continue
		}
		err := c.forEachBatch(s, func(_ int64, b []byte, h record.BatchHeader) error {
			if h.IsControl() {
				return nil
			}
			// Aborted records supersede nothing.
			if c.txns.onDataBatch(h) || h.LastOffset() < firstDirty {
				return nil
			}
			return record.Records(b, func(r record.Record) error {
				off := h.BaseOffset + int64(r.OffsetDelta)
				if off < firstDirty || r.Key == nil {
					return nil
				}
				k := keyHash(r.Key)
				if _, ok := c.keys[k]; !ok && len(c.keys) >= c.cfg.MaxMapEntries {
					return errMapFull
				}
				c.keys[k] = off
				latest = off
				return nil
			})
		})
		if errors.Is(err, errMapFull) {
			return latest + 1, nil
		}
		if err != nil {
			return 0, err
		}
	}
	return cleanEnd, nil
}

// forEachBatch reads every batch of a segment, checking each.
func (c *cleaner) forEachBatch(s segSnap, fn func(pos int64, b []byte, h record.BatchHeader) error) error {
	br := bufio.NewReaderSize(io.NewSectionReader(s.seg.log, 0, s.size), 1<<20)
	var buf []byte
	for pos := int64(0); pos < s.size; {
		if c.l.cleaner.stopped() {
			return errCleanerStopped
		}
		var err error
		if buf, err = readBatch(br, buf[:0], s.size-pos); err != nil {
			return fmt.Errorf("segment %s at %d: %w", s.seg.logPath(), pos, err)
		}
		h, err := validateStored(buf)
		if err != nil {
			return fmt.Errorf("segment %s at %d: %w", s.seg.logPath(), pos, err)
		}
		if err := fn(pos, buf, h); err != nil {
			return err
		}
		pos += int64(len(buf))
	}
	return nil
}

func cleanedPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, segmentName(base)+suffix+cleanedSuffix)
}

func swapPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, segmentName(base)+suffix+swapSuffix)
}

// cleanGroup rewrites the first segments of todo (those starting below
// mapEnd) into one segment and swaps it in; it returns how many it took.
// Like Kafka's groupSegmentsBySize it merges while the result stays within
// segment.bytes, the index limit and 2^31 offsets of the base, but it counts
// what the segments so far were rewritten to rather than their old sizes,
// so that small cleaned segments merge on the first run. swapped is false
// when the log changed under the run (see Compact).
func (c *cleaner) cleanGroup(todo []segSnap, gen uint64) (n int, swapped bool, err error) {
	l := c.l
	base := todo[0].seg.base
	f, err := l.fs.Create(cleanedPath(l.dir, base, logSuffix))
	if err != nil {
		return 0, false, fmt.Errorf("create cleaned segment: %w", err)
	}
	ns := newSegmentStruct(l.fs, l.dir, base, f)
	ns.rollBaseMs = todo[0].seg.rollBaseMs
	inUse, committed := false, false
	defer func() {
		if !inUse {
			ns.decRef()
		}
		if !committed {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				_ = l.fs.Remove(cleanedPath(l.dir, base, suf))
			}
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	var pos int64
	fits := func(s segSnap) bool {
		idx := int64(len(ns.index)+1)*indexEntrySize + int64(len(ns.tindex)+1)*timeIndexEntrySize
		return s.seg.base < c.mapEnd && pos+s.size <= c.lcfg.SegmentBytes &&
			idx+s.idxBytes <= int64(c.lcfg.MaxIndexBytes) && !relOverflow(base, s.next-1)
	}
	for n < len(todo) && (n == 0 || fits(todo[n])) {
		s := todo[n]
		n++
		c.stats.SegmentsRead++
		c.stats.BytesRead += s.size
		err := c.forEachBatch(s, func(_ int64, b []byte, h record.BatchHeader) error {
			out, keep, err := c.filterBatch(b, h)
			if err != nil || !keep {
				return err
			}
			if _, err := w.Write(out); err != nil {
				return fmt.Errorf("write cleaned segment: %w", err)
			}
			oh, _ := record.ParseHeader(out)
			ns.observe(oh, pos, c.lcfg.IndexIntervalBytes)
			pos += int64(len(out))
			return nil
		})
		if err != nil {
			return n, false, err
		}
	}
	g := todo[:n]
	if err := w.Flush(); err != nil {
		return n, false, fmt.Errorf("write cleaned segment: %w", err)
	}
	ns.maybeAddTimeEntry()
	ns.next = max(ns.next, g[len(g)-1].next)
	if err := f.SyncData(); err != nil {
		return n, false, err
	}
	if err := ns.writeIndexesTo(cleanedPath(l.dir, base, indexSuffix), cleanedPath(l.dir, base, timeIndexSuffix)); err != nil {
		return n, false, err
	}
	if err := c.hook("cleaned"); err != nil {
		return n, false, err
	}
	swapped, err = c.swap(g, ns, gen)
	inUse, committed = swapped, swapped || errors.Is(err, errSwapCommitted)
	if swapped {
		c.stats.SegmentsWritten++
		c.stats.BytesWritten += pos
	}
	return n, swapped, err
}

func (c *cleaner) hook(stage string) error {
	if h := c.l.cleaner.swapHook; h != nil {
		return h(stage)
	}
	return nil
}

// errSwapCommitted marks a swap that failed after its commit point: the
// rewritten segment is in use and recovery will finish the file renames.
var errSwapCommitted = errors.New("storage: swap failed after commit")

// swap replaces the group by ns, crash-safely: the rewritten files become
// .swap files (the .log last: that rename is the commit point), the old
// segments' files are removed, and the .swap files take the final names.
// Recovery finishes a committed swap and discards an uncommitted one.
func (c *cleaner) swap(g []segSnap, ns *segment, gen uint64) (bool, error) {
	l := c.l
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	i := slices.Index(l.mu.segments, g[0].seg)
	ok := l.checkWritableLocked() == nil && !l.cleaner.stopped() && l.cleaner.gen.Load() == gen && i >= 0 &&
		i+len(g) < len(l.mu.segments) // never the active segment
	for j := 0; ok && j < len(g); j++ {
		ok = l.mu.segments[i+j] == g[j].seg
	}
	l.mu.RUnlock()
	if !ok {
		return false, nil
	}
	base := ns.base
	for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
		if err := l.fs.Rename(cleanedPath(l.dir, base, suf), swapPath(l.dir, base, suf)); err != nil {
			for _, s := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
				_ = l.fs.Remove(swapPath(l.dir, base, s))
			}
			return false, fmt.Errorf("rename cleaned segment: %w", err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		// Whether the commit reached the disk is unknown: recovery decides.
		return false, fmt.Errorf("%w: %w", errSwapCommitted, l.fail(err))
	}
	if err := c.hook("committed"); err != nil {
		return false, fmt.Errorf("%w: %w", errSwapCommitted, err)
	}

	l.mu.Lock()
	for _, s := range g {
		ns.aborted = append(ns.aborted, s.seg.aborted...)
	}
	aborted := slices.Clone(ns.aborted)
	l.mu.segments = slices.Replace(l.mu.segments, i, i+len(g), ns)
	l.mu.unsynced = slices.DeleteFunc(l.mu.unsynced, func(s *segment) bool {
		return slices.ContainsFunc(g, func(x segSnap) bool { return x.seg == s })
	})
	l.mu.Unlock()

	var err error
	for _, s := range g {
		err = joinFirst(err, s.seg.removeFiles())
		s.seg.decRef() // the Log's reference; the run's goes when Compact returns
	}
	if err == nil {
		err = c.hook("removed")
	}
	for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
		if err != nil {
			break
		}
		err = l.fs.Rename(swapPath(l.dir, base, suf), filepath.Join(l.dir, segmentName(base)+suf))
	}
	if err == nil {
		// The aborted transactions of the group stay with their markers.
		err = ns.writeTxnIndex(aborted)
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		// In memory the swap is done; on disk recovery completes it.
		return true, fmt.Errorf("%w: %w", errSwapCommitted, l.fail(err))
	}
	return true, nil
}

// filterBatch decides what of one batch a rewritten segment keeps: the batch
// as it is, a re-encoded batch with fewer records (same base offset, last
// offset delta, producer fields and codec), an empty batch holding only the
// producer's last sequence, or nothing.
func (c *cleaner) filterBatch(b []byte, h record.BatchHeader) ([]byte, bool, error) {
	if h.IsControl() {
		return c.filterControl(b, h)
	}
	if c.txns.onDataBatch(h) {
		// An aborted transaction's batch goes whole; a producer's last
		// batch stays, empty, for its sequence (as below).
		c.stats.RecordsRead += int64(h.NumRecords)
		c.stats.RecordsRemoved += int64(h.NumRecords)
		if h.ProducerID >= 0 && c.lastOfProducer[h.ProducerID] == h.LastOffset() {
			return emptyBatch(h), true, nil
		}
		return nil, false, nil
	}
	hasHorizon := h.Attributes&attrDeleteHorizon != 0
	expired := hasHorizon && c.now >= h.FirstTimestamp
	var kept, tombs int32
	keep := func(off int64, r record.Record) bool {
		if off >= c.mapEnd {
			return true
		}
		if r.Key == nil {
			return false
		}
		if o, ok := c.keys[keyHash(r.Key)]; ok && o > off {
			return false
		}
		return r.Value != nil || !expired
	}
	var err error
	c.body, err = c.encodeRecords(c.body[:0], b, h, h.FirstTimestamp, func(off int64, r record.Record) bool {
		c.stats.RecordsRead++
		k := keep(off, r)
		switch {
		case k && r.Value == nil:
			tombs++
		case !k && r.Key == nil:
			c.stats.KeylessRemoved++
		case !k && r.Value == nil && off < c.mapEnd && !c.superseded(off, r.Key):
			c.stats.TombstonesRemoved++
		}
		if k {
			kept++
		} else {
			c.stats.RecordsRemoved++
		}
		return k
	})
	if err != nil {
		return nil, false, err
	}
	if kept == 0 {
		if h.ProducerID >= 0 && c.lastOfProducer[h.ProducerID] == h.LastOffset() {
			return emptyBatch(h), true, nil
		}
		return nil, false, nil
	}
	tsBase := h.FirstTimestamp
	attrs := h.Attributes
	if tombs > 0 {
		if !hasHorizon {
			// First cleaning of these tombstones: they live for delete.retention.ms
			// from now, stored in the batch as Kafka does (KIP-534).
			tsBase = c.now + c.cfg.DeleteRetentionMs
			attrs |= attrDeleteHorizon
		}
		c.minHorizon = min(c.minHorizon, tsBase)
	}
	if kept == h.NumRecords && tsBase == h.FirstTimestamp {
		return b, true, nil
	}
	if tsBase != h.FirstTimestamp {
		if c.body, err = c.encodeRecords(c.body[:0], b, h, tsBase, keep); err != nil {
			return nil, false, err
		}
	}
	out, err := c.buildBatch(h, attrs, tsBase, kept)
	return out, true, err
}

func (c *cleaner) superseded(off int64, key []byte) bool {
	o, ok := c.keys[keyHash(key)]
	return ok && o > off
}

// encodeRecords appends the records of batch that keep accepts to dst,
// uncompressed, with their offset deltas and with timestamp deltas relative
// to tsBase. It also tracks the largest timestamp of the kept records.
func (c *cleaner) encodeRecords(dst, batch []byte, h record.BatchHeader, tsBase int64,
	keep func(off int64, r record.Record) bool) ([]byte, error) {
	c.maxTs = -1
	err := record.Records(batch, func(r record.Record) error {
		if !keep(h.BaseOffset+int64(r.OffsetDelta), r) {
			return nil
		}
		c.maxTs = max(c.maxTs, h.FirstTimestamp+r.TimestampDelta)
		r.TimestampDelta += h.FirstTimestamp - tsBase
		dst = record.AppendRecord(dst, r)
		return nil
	})
	return dst, err
}

// Batch header layout (docs/storage-format.md) for the fields a rewrite sets.
const (
	hdrLength         = 8
	hdrLeaderEpoch    = 12
	hdrMagic          = 16
	hdrCRC            = 17
	hdrAttributes     = 21
	hdrLastDelta      = 23
	hdrFirstTimestamp = 27
	hdrMaxTimestamp   = 35
	hdrProducerID     = 43
	hdrProducerEpoch  = 51
	hdrBaseSequence   = 53
	hdrNumRecords     = 57

	attrCodecMask     = 0x07
	attrTimestampType = 0x08
	attrDeleteHorizon = 0x40 // firstTimestamp holds the delete horizon (KIP-534)
)

// putHeader writes a batch header at b[:record.BatchHeaderSize] with h's
// producer and offset fields and the given rest; the CRC is set by the caller.
func putHeader(b []byte, h record.BatchHeader, length int, attrs int16, first, maxTs int64, n int32) {
	be := binary.BigEndian
	be.PutUint64(b, uint64(h.BaseOffset))
	be.PutUint32(b[hdrLength:], uint32(length))
	be.PutUint32(b[hdrLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[hdrMagic] = 2
	be.PutUint16(b[hdrAttributes:], uint16(attrs))
	be.PutUint32(b[hdrLastDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[hdrFirstTimestamp:], uint64(first))
	be.PutUint64(b[hdrMaxTimestamp:], uint64(maxTs))
	be.PutUint64(b[hdrProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[hdrProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[hdrBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[hdrNumRecords:], uint32(n))
}

// buildBatch frames c.body (n kept records) as a batch like h: same base
// offset, last offset delta (so the producer's last sequence stays),
// producer fields, leader epoch and codec.
func (c *cleaner) buildBatch(h record.BatchHeader, attrs int16, first int64, n int32) ([]byte, error) {
	payload := c.body
	if codec := h.Codec(); codec != record.CodecNone {
		var err error
		if payload, err = record.Compress(codec, c.body); err != nil {
			return nil, err
		}
	}
	maxTs := h.MaxTimestamp
	if attrs&attrTimestampType == 0 {
		maxTs = c.maxTs
	}
	out := make([]byte, record.BatchHeaderSize, record.BatchHeaderSize+len(payload))
	out = append(out, payload...)
	putHeader(out, h, len(out)-record.LogOverhead, attrs, first, maxTs, n)
	record.UpdateCRC(out)
	return out, nil
}

// emptyBatch is what Kafka keeps of a producer's last batch when all its
// records go: the header alone, no records, uncompressed, timestamps set to
// the batch's largest.
func emptyBatch(h record.BatchHeader) []byte {
	b := make([]byte, record.BatchHeaderSize)
	attrs := h.Attributes &^ (attrCodecMask | attrDeleteHorizon)
	putHeader(b, h, record.BatchHeaderSize-record.LogOverhead, attrs, h.MaxTimestamp, h.MaxTimestamp, 0)
	record.UpdateCRC(b)
	return b
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// validateStored is record.Validate for batches already in a log: it also
// accepts a compacted batch, which holds fewer records than its offset span
// (Kafka keeps the last offset delta so the producer's last sequence stays).
// Produce requests must still pass record.Validate itself.
func validateStored(b []byte) (record.BatchHeader, error) {
	h, err := record.Validate(b)
	if err == nil || len(b) < record.BatchHeaderSize {
		return h, err
	}
	if h.Length < record.BatchHeaderSize-record.LogOverhead || int64(h.TotalSize()) > int64(len(b)) ||
		h.Magic != 2 || crc32.Checksum(b[hdrAttributes:h.TotalSize()], castagnoli) != h.CRC ||
		h.Codec() > record.CodecZstd || h.LastOffsetDelta < 0 || h.NumRecords < 0 ||
		int64(h.NumRecords) > int64(h.LastOffsetDelta)+1 {
		return h, err
	}
	return h, nil
}

// completeSwaps finishes or discards compaction swaps interrupted by a crash,
// before the segments are listed: .cleaned files are discarded (with any
// .swap file at or above the lowest of them, as Kafka does); a .log.swap is a
// committed rewrite: the old segments it covers are removed and it takes
// their place, with its .swap indexes or none (they are then rebuilt).
func completeSwaps(fsys vfs.FS, dir string, logger *slog.Logger) error {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	minCleaned := int64(math.MaxInt64)
	swaps := map[int64][]string{} // base -> suffixes with a .swap file
	var logBases []int64
	for _, e := range ents {
		name := e.Name()
		if stem, ok := strings.CutSuffix(name, cleanedSuffix); ok {
			if base, ok := anySegmentBase(stem); ok {
				minCleaned = min(minCleaned, base)
			}
			if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("remove %s: %w", name, err)
			}
			continue
		}
		if stem, ok := strings.CutSuffix(name, swapSuffix); ok {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				if base, ok := parseSegmentName(stem, suf); ok {
					swaps[base] = append(swaps[base], suf)
				}
			}
			continue
		}
		if base, ok := parseSegmentName(name, logSuffix); ok {
			logBases = append(logBases, base)
		}
	}
	if len(swaps) == 0 && minCleaned == math.MaxInt64 {
		return nil
	}
	bases := make([]int64, 0, len(swaps))
	for b := range swaps {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	for _, base := range bases {
		sufs := swaps[base]
		if base >= minCleaned || !slices.Contains(sufs, logSuffix) {
			for _, suf := range sufs {
				_ = fsys.Remove(swapPath(dir, base, suf))
			}
			continue
		}
		if err := finishSwap(fsys, dir, base, sufs, logBases, logger); err != nil {
			return err
		}
	}
	return fsys.SyncDir(dir)
}

// anySegmentBase parses a segment file name with any of the segment suffixes.
func anySegmentBase(name string) (int64, bool) {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if base, ok := parseSegmentName(name, suf); ok {
			return base, true
		}
	}
	return 0, false
}

// finishSwap completes the committed swap of the segment at base.
func finishSwap(fsys vfs.FS, dir string, base int64, sufs []string, logBases []int64, logger *slog.Logger) error {
	p := swapPath(dir, base, logSuffix)
	f, err := fsys.Open(p)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat %s: %w", p, err)
	}
	end := base
	_, err = walkHeaders(f, 0, fi.Size(), func(_ int64, h record.BatchHeader) bool {
		end = h.LastOffset() + 1
		return true
	})
	f.Close()
	if err != nil {
		return fmt.Errorf("swap file %s: %w", p, err)
	}
	logger.Info("completing interrupted compaction swap", "file", p, "end_offset", end)
	for _, b := range logBases {
		if b <= base || b >= end {
			continue
		}
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			name := filepath.Join(dir, segmentName(b)+suf)
			if err := fsys.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", name, err)
			}
		}
	}
	for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
		final := filepath.Join(dir, segmentName(base)+suf)
		if slices.Contains(sufs, suf) {
			if err := fsys.Rename(swapPath(dir, base, suf), final); err != nil {
				return fmt.Errorf("rename %s: %w", swapPath(dir, base, suf), err)
			}
		} else if err := fsys.Remove(final); err != nil && !errors.Is(err, os.ErrNotExist) {
			// An index that may belong to the old segment: rebuild it from the log.
			return fmt.Errorf("remove %s: %w", final, err)
		}
	}
	return nil
}
