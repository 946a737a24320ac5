package partition

import (
	"errors"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/ids"
)

// TestReadBounds reads a leader's log as a consumer and as a follower
// while a follower holds the high watermark back.
func TestReadBounds(t *testing.T) {
	reg, _ := newNode(t, 1, image(1, []ids.NodeID{1, 2}, []ids.NodeID{1, 2}), time.Minute)
	p := reg.Get("t", 0)
	for range 3 {
		b := batch(t, 2, -1, -1, "a")
		_, err := p.Append(b, FromClient)
		must(t, err)
	}
	waitFor(t, "leader flush", func() bool { return p.FlushedOffset() == 6 })

	read := func(offset ids.Offset, maxBytes int32, b Bound, minOne bool) (int, ids.Offset, Offsets) {
		t.Helper()
		rr, o, err := p.Read(offset, maxBytes, b, minOne)
		must(t, err)
		defer rr.Release()
		if rr.Size() == 0 {
			return 0, -1, o
		}
		return rr.Size(), rr.LastOffset(), o
	}
	if n, _, o := read(0, 1<<20, BoundHighWatermark, true); n != 0 || o.HighWatermark != 0 || o.LogEnd != 6 || o.LogStart != 0 {
		t.Fatalf("consumer read below HW 0: %d bytes, offsets %+v", n, o)
	}
	if n, last, _ := read(0, 1<<20, BoundLogEnd, true); n == 0 || last != 5 {
		t.Fatalf("follower read: %d bytes up to %d, want all 6 offsets", n, last)
	}
	must(t, p.FollowerFetch(2, 2, time.Now()))
	for _, b := range []Bound{BoundHighWatermark, BoundLastStable} {
		if n, last, o := read(0, 1<<20, b, true); n == 0 || last != 1 || o.HighWatermark != 2 || o.LastStable != 2 {
			t.Fatalf("bound %d: %d bytes up to %d, offsets %+v; want the first batch below HW 2", b, n, last, o)
		}
	}
	if n, _, _ := read(0, 0, BoundLogEnd, false); n != 0 {
		t.Fatalf("read of 0 bytes without minOne gave %d bytes", n)
	}
	if n, last, _ := read(2, 1, BoundLogEnd, true); n == 0 || last != 3 {
		t.Fatalf("minOne read of 1 byte: %d bytes up to %d, want one whole batch", n, last)
	}
	if n, _, _ := read(6, 1<<20, BoundLogEnd, true); n != 0 {
		t.Fatalf("read at the log end gave %d bytes", n)
	}
	rr, o, err := p.Read(7, 1<<20, BoundLogEnd, true)
	if !errors.Is(err, ErrOffsetOutOfRange) || rr.Size() != 0 || o.LogEnd != 6 {
		t.Fatalf("read above the log end: %d bytes, %+v, %v; want ErrOffsetOutOfRange with the offsets", rr.Size(), o, err)
	}
}

// TestWaitersWakeOnTheirBound checks that a log-end waiter is woken by an
// append and a high-watermark waiter only when the high watermark moves.
func TestWaitersWakeOnTheirBound(t *testing.T) {
	reg, c := newNode(t, 1, image(1, []ids.NodeID{1, 2}, []ids.NodeID{1, 2}), time.Minute)
	p := reg.Get("t", 0)
	hw, leo, lso := NewWaiter(BoundHighWatermark), NewWaiter(BoundLogEnd), NewWaiter(BoundLastStable)
	for _, w := range []*Waiter{hw, leo, lso} {
		p.AddWaiter(w)
		defer p.RemoveWaiter(w)
	}
	woken := func(w *Waiter) bool {
		select {
		case <-w.C:
			return true
		default:
			return false
		}
	}
	b := batch(t, 2, -1, -1, "a")
	_, err := p.Append(b, FromClient)
	must(t, err)
	waitFor(t, "leader flush", func() bool { return p.FlushedOffset() == 2 })
	if !woken(leo) {
		t.Fatal("log-end waiter not woken by an append")
	}
	if woken(hw) || woken(lso) {
		t.Fatal("high-watermark waiter woken while the follower holds the HW")
	}
	must(t, p.FollowerFetch(2, 2, time.Now()))
	if !woken(hw) || !woken(lso) {
		t.Fatal("high-watermark and last-stable waiters not woken by the HW advance")
	}
	if woken(leo) {
		t.Fatal("log-end waiter woken by an HW advance")
	}
	// A role change wakes everyone, to re-read.
	c.setLeader(t, 2, []ids.NodeID{1, 2})
	for _, w := range []*Waiter{hw, leo, lso} {
		if !woken(w) {
			t.Fatalf("waiter of bound %d not woken by a leader change", w.bound)
		}
	}
}
