// Package storage owns one partition's log on disk, in Kafka's layout: a
// directory of segment files named by base offset holding record batches
// byte-for-byte as received, sparse offset and time indexes, the leader-epoch
// checkpoint, the log start offset, the high-watermark checkpoint the
// partition keeps in the directory, and a clean-shutdown marker. The file
// formats are specified in docs/storage-format.md. Every file operation goes
// through a vfs.FS (OpenFS), so tests can make any of them fail.
//
// A failed fdatasync, or any write whose effect on disk is unknown, fails the
// log for good (ErrFailed): no later sync is trusted to have made the data
// durable, because after a failed fsync the kernel may have dropped the dirty
// pages and a retry can succeed without writing them. Only reopening the log
// clears the failure; recovery then checks the files as they read back.
//
// Concurrency: all methods of Log are safe for concurrent use. Writers (Append,
// AppendAsFollower, Truncate, SetLogStartOffset, ApplyRetention, Close) are
// serialized by appendMu; the file write itself happens outside mu, so readers
// (Read, OffsetForTimestamp, ...) only wait for the short in-memory update
// that publishes an append. Segment files are reference counted: a ReadResult
// keeps its file open until Release even if retention deletes the segment.
// Compaction (compact.go) runs beside all of this and takes appendMu only to
// swap rewritten segments in. Lock order: cleaner.run, appendMu, syncMu, mu.
package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/vfs"
)

// Config holds per-partition log settings, named after Kafka's topic configs.
type Config struct {
	SegmentBytes       int64 // segment.bytes: roll when a segment would exceed this
	SegmentMs          int64 // segment.ms: roll a segment this old; <= 0 disables
	IndexIntervalBytes int32 // index.interval.bytes: bytes between offset index entries
	MaxIndexBytes      int32 // segment.index.bytes: roll when an index reaches this
	RetentionMs        int64 // retention.ms; -1 = unlimited
	RetentionBytes     int64 // retention.bytes; -1 = unlimited
}

// DefaultConfig returns Kafka's defaults, from config.Default.
func DefaultConfig() Config { return ConfigOf(config.Default().Log.TopicConfig()) }

// ConfigOf is the log's part of a topic's config.
func ConfigOf(t config.TopicConfig) Config {
	return Config{
		SegmentBytes:       t.SegmentBytes,
		SegmentMs:          t.SegmentAge.Milliseconds(),
		IndexIntervalBytes: t.IndexIntervalBytes,
		MaxIndexBytes:      t.SegmentIndexBytes,
		RetentionMs:        t.Retention.Milliseconds(),
		RetentionBytes:     t.RetentionBytes,
	}
}

// normalized fills unusable values with defaults.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	c.SegmentBytes = min(c.SegmentBytes, math.MaxInt32)
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.MaxIndexBytes < timeIndexEntrySize {
		c.MaxIndexBytes = d.MaxIndexBytes
	}
	return c
}

// Sentinel errors (defined in errcode, which gives their Kafka codes).
var (
	// ErrOffsetOutOfRange: an offset below the log start offset or above the log end offset.
	ErrOffsetOutOfRange = errcode.ErrOffsetOutOfRange
	// ErrClosed: the log was closed.
	ErrClosed = errcode.ErrLogClosed
	// ErrOffsetMismatch: a follower append whose offsets do not continue the log.
	ErrOffsetMismatch = errcode.ErrOffsetMismatch
	// ErrFailed: a write or fdatasync failed; the log accepts no more writes
	// or syncs until reopened, because what is on disk is no longer known.
	// The error that failed the log, and every error after it, wraps it.
	ErrFailed = errcode.ErrLogFailed
	// ErrCorruptSegment: a batch read back from a segment file is not well
	// formed. It wraps record.ErrCorrupt; clients get KAFKA_STORAGE_ERROR,
	// not CORRUPT_MESSAGE (the log is at fault, not their request).
	ErrCorruptSegment = errcode.ErrCorruptSegment
)

// Log is one partition's log.
type Log struct {
	dir    string
	fs     vfs.FS
	logger *slog.Logger
	now    func() time.Time // replaced in tests

	appendMu sync.Mutex // serializes writers; held while writing files

	mu struct {
		sync.RWMutex
		cfg      Config
		segments []*segment // ascending base offset; last is active
		unsynced []*segment // rolled segments not yet fdatasync'ed
		lso      int64
		leo      int64
		epochs   *epochCache
		closed   bool
		failed   error // sticky I/O failure
	}

	syncMu      sync.Mutex
	syncCond    *sync.Cond // on syncMu; broadcast when a sync round ends
	syncing     bool       // guarded by syncMu
	syncWaiters int        // guarded by syncMu; callers waiting for a round
	syncScratch []*segment // owned by the running sync round
	rpBehind    bool       // owned by the running sync round: the recovery point lags a synced roll
	beforeSync  func()     // test hook run at the start of each sync round
	flushed     atomic.Int64
	syncs       atomic.Int64 // fdatasync rounds, for tests of group commit

	rpMu sync.Mutex // serializes recovery-point writes
	hwMu sync.Mutex // serializes high-watermark checkpoint writes

	epochScratch  []epochEntry         // owned by the appender (appendMu)
	headerScratch []record.BatchHeader // owned by the appender (appendMu)
	cleaner       cleanerState         // log compaction, see compact.go
	anyAborted    atomic.Bool          // some segment indexes an aborted transaction (txnindex.go)
	scanned       int                  // segments CRC-scanned by Open, for tests
}

// Open opens or creates the log in dir on the OS file system. After an
// unclean stop it CRC-scans every segment from the recovery point, truncates
// a torn or corrupt tail of the last segment, and rebuilds indexes. A corrupt
// batch in an earlier segment is an error naming the file and position.
func Open(dir string, cfg Config, logger *slog.Logger) (*Log, error) {
	return OpenFS(vfs.Default, dir, cfg, logger)
}

// OpenFS is Open on the file system fsys. The fetch path sends segment bytes
// with sendfile: fsys must expose the OS file of what it opens (vfs.OSFile),
// as vfs.Default and errorfs over it do.
func OpenFS(fsys vfs.FS, dir string, cfg Config, logger *slog.Logger) (*Log, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := fsys.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open log %s: %w", dir, err)
		}
		// A new partition's directory entry must reach the disk too, or
		// a power loss could take the whole partition with its synced
		// segments.
		if err := fsys.SyncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("open log %s: %w", dir, err)
		}
	}
	l := &Log{dir: dir, fs: fsys, logger: logger.With("dir", dir), now: time.Now}
	l.syncCond = sync.NewCond(&l.syncMu)
	l.cleaner.init()
	l.mu.cfg = cfg.normalized()
	if err := l.load(); err != nil {
		for _, s := range l.mu.segments {
			s.decRef()
		}
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	return l, nil
}

// SetConfig replaces the configuration; it applies to the next append or retention run.
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	l.mu.cfg = cfg.normalized()
	l.mu.Unlock()
}

// Dir returns the directory of the log.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset readable.
func (l *Log) LogStartOffset() ids.Offset {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return ids.Offset(l.mu.lso)
}

// LogEndOffset is the next offset to assign.
func (l *Log) LogEndOffset() ids.Offset {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return ids.Offset(l.mu.leo)
}

// Size is the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segments {
		n += s.size
	}
	return n
}

// NumSegments returns the number of segments.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.segments)
}

// LatestEpoch is the latest leader epoch in the log, -1 when none.
func (l *Log) LatestEpoch() ids.LeaderEpoch {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.epochs.latest()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch as Kafka does: for the latest
// epoch the log end offset; otherwise the largest known epoch <= epoch and the
// start offset of the epoch after it; (-1, -1) when unknown.
func (l *Log) EndOffsetForEpoch(epoch ids.LeaderEpoch) (leaderEpoch ids.LeaderEpoch, endOffset ids.Offset) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, end := l.mu.epochs.endOffsetFor(epoch, l.mu.leo)
	return e, ids.Offset(end)
}

// segmentForLocked returns the index of the last segment with base <= offset.
func (l *Log) segmentForLocked(offset int64) int {
	segs := l.mu.segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset })
	return max(i-1, 0)
}

func (l *Log) activeLocked() *segment { return l.mu.segments[len(l.mu.segments)-1] }

// checkWritableLocked returns why the log cannot take writes, if it cannot.
func (l *Log) checkWritableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, l.mu.failed)
	}
	return nil
}

// fail records a write failure that leaves the on-disk state unknown and
// returns err wrapped in ErrFailed. The first failure sticks.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	if l.mu.failed == nil {
		l.mu.failed = err
		l.logger.Error("log failed", "err", err)
	}
	l.mu.Unlock()
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// Failed returns the error that failed the log (wrapping ErrFailed), nil
// while it works.
func (l *Log) Failed() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.failed == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrFailed, l.mu.failed)
}

// joinFirst keeps the first error of a sequence of steps that all run.
func joinFirst(err, next error) error {
	if err != nil {
		return err
	}
	return next
}

// Close syncs everything, writes the indexes and the clean-shutdown marker,
// and releases the files (those in use by a ReadResult close on Release).
func (l *Log) Close() error {
	l.stopCleaner()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.closeLocked()
}

func (l *Log) closeLocked() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	failed := l.mu.failed
	l.mu.Unlock()
	var errs []error
	if failed == nil {
		errs = append(errs, l.syncTo(math.MaxInt64, true))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.closed = true
	if failed == nil && errs[0] == nil {
		for _, s := range l.mu.segments {
			if s.indexDirty {
				s.maybeAddTimeEntry()
				errs = append(errs, s.writeIndexes())
			}
		}
	}
	for _, s := range l.mu.segments {
		s.decRef()
	}
	if failed != nil {
		return fmt.Errorf("close log %s: %w: %w", l.dir, ErrFailed, failed)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	if err := vfs.WriteAtomic(l.fs, l.path(cleanShutdownFile), nil, vfs.Durable); err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	return nil
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	l.stopCleaner()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	cerr := l.closeLocked()
	// Renamed first, as Kafka does: a crash mid-removal leaves a
	// "-delete" directory, which the next start removes, never a partial
	// log under the partition's name.
	aside, err := SetAside(l.fs, l.dir, DeleteDirSuffix)
	if err != nil {
		return fmt.Errorf("delete log %s: %w", l.dir, err)
	}
	if err := l.fs.RemoveAll(aside); err != nil {
		return fmt.Errorf("delete log %s: %w", l.dir, err)
	}
	if cerr != nil && !errors.Is(cerr, ErrFailed) {
		l.logger.Warn("close before delete", "err", cerr)
	}
	return nil
}

func (l *Log) path(name string) string { return l.dir + string(os.PathSeparator) + name }

// persistLSOLocked writes the log start offset file.
func (l *Log) persistLSOLocked() error {
	return writeOffsetFile(l.fs, l.path(logStartOffsetFile), l.mu.lso, vfs.Durable)
}
