package server

import (
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A throttled client's connection is muted once its answer is sent: no
// further request of it is served until the throttle time has passed
// (KIP-219, Kafka's ThrottledChannel). The handler decides the time (it
// is the answer's throttle_time_ms, or Result.Throttle for a produce,
// known on arrival); the writer starts the mute when it sends the answer,
// the reader leaves the next request unread until the mute ends.

// muteAfter mutes the connection for resp's throttle time, from now.
func (c *conn) muteAfter(resp kmsg.Response) {
	if t, ok := resp.(kmsg.ThrottleResponse); ok {
		if ms, _ := t.Throttle(); ms > 0 {
			c.muteFor(time.Duration(ms) * time.Millisecond)
		}
	}
}

// muteFor mutes the connection for d from now, unless it is muted longer.
func (c *conn) muteFor(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.mutedUntil.Load()
		if cur >= until || c.mutedUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// waitUnmuted blocks the reader until the connection is no longer muted,
// or the connection ends.
func (c *conn) waitUnmuted() error {
	for {
		d := time.Until(time.Unix(0, c.mutedUntil.Load()))
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return net.ErrClosed // shutdown: not worth a log line
		}
	}
}
