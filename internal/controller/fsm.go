package controller

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// applyResult is what FSM.Apply returns for one command.
type applyResult struct {
	value int64
	err   error
}

// fsm applies metadata commands in log order and publishes each image.
// Subscribers run on raft's FSM goroutine, in order.
//
// applied is the raft index the image reflects: the last command applied,
// or the index of the snapshot restored. It is this node's own measure of
// what it knows, unlike raft's AppliedIndex, which counts entries once they
// are handed to the FSM goroutine (up to thousands before they are applied)
// and moves with no-op and barrier entries the FSM never sees. The
// catch-up rule compares it with the leader's (see Raft.catchUp).
type fsm struct {
	mu      sync.Mutex
	image   *metadata.Image // as applied; ControllerID is set at publish
	leader  ids.NodeID
	applied uint64
	changed chan struct{} // closed and replaced on every apply
	subs    []func(prev, next *metadata.Image)
	pub     *metadata.Image // image with the current controller id
	opened  atomic.Uint64   // index of the snapshot last opened (indexedSnapshots)
}

func newFSM() *fsm {
	im := emptyImage()
	return &fsm{image: im, leader: -1, changed: make(chan struct{}), pub: im}
}

func (f *fsm) Apply(l *raft.Log) any {
	cmd, err := decodeCommand(l.Data)
	if err != nil {
		// A command this version cannot read is skipped the same way on
		// every node of this version.
		f.markApplied(l.Index)
		return applyResult{err: err}
	}
	f.mu.Lock()
	next, v, err := cmd.apply(f.image)
	if err == nil && next != f.image {
		f.image = next
		f.publishLocked(false)
	}
	f.mu.Unlock()
	f.markApplied(l.Index)
	return applyResult{value: v, err: err}
}

func (f *fsm) markApplied(idx uint64) {
	f.mu.Lock()
	f.applied = idx
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// publishLocked makes the current image visible with the current
// controller id and tells subscribers; fromSnapshot marks an image that
// replaced the previous one wholesale (metadata.Image.FromSnapshot).
func (f *fsm) publishLocked(fromSnapshot bool) {
	cp := *f.image
	cp.ControllerID = f.leader
	cp.FromSnapshot = fromSnapshot
	prev := f.pub
	f.pub = &cp
	for _, fn := range f.subs {
		fn(prev, f.pub)
	}
}

func (f *fsm) setLeader(id ids.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leader != id {
		f.leader = id
		f.publishLocked(false)
	}
}

func (f *fsm) current() *metadata.Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pub
}

// appliedIndex returns the last applied index and a channel closed at the
// next apply.
func (f *fsm) appliedIndex() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.changed
}

func (f *fsm) subscribe(fn func(prev, next *metadata.Image)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, fn)
	fn(nil, f.pub)
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	im := f.image
	f.mu.Unlock()
	raw, err := encodeImage(im)
	if err != nil {
		return nil, err
	}
	return snapshot(raw), nil
}

// Restore replaces the image with a snapshot's. Raft opens every snapshot
// through indexedSnapshots just before restoring it, which is how the FSM
// learns the index the snapshot covers (raft's Restore passes only bytes).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read metadata snapshot: %w", err)
	}
	im, err := decodeImage(raw)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.image = im
	f.publishLocked(true)
	f.mu.Unlock()
	f.markApplied(f.opened.Load())
	return nil
}

// indexedSnapshots wraps raft's snapshot store to record the index of the
// last snapshot opened. Raft opens one to restore it (at start-up, and when
// the leader installs one on a follower, both on the FSM's goroutine right
// before Restore) and, on a leader, to send it; a leader never restores
// after start-up, so the recorded index is the restored one.
type indexedSnapshots struct {
	raft.SnapshotStore
	fsm *fsm
}

func (s indexedSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.SnapshotStore.Open(id)
	if err == nil {
		s.fsm.opened.Store(meta.Index)
	}
	return meta, rc, err
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("write metadata snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}
