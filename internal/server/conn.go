package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/auth"
	"github.com/strom-broker/strom/internal/handler"
)

var syscallEMFILE = syscall.EMFILE

// slot is one request's place in the response order.
type slot struct {
	corr     int32
	key      kmsg.Key
	version  int16
	flexible bool            // response header carries tagged fields
	ready    chan struct{}   // closed once resp is set
	resp     kmsg.Response   // nil: write nothing (acks=0)
	req      handler.Request // the request; in the slot to save an allocation
	arrived  time.Time       // when its frame was read
	readyAt  time.Time       // when resp was set
}

type conn struct {
	s      *Server
	ln     *listener
	nc     net.Conn // a *tls.Conn once TLS is negotiated; reader goroutine until the writer starts
	raw    net.Conn // the accepted connection, for other goroutines (deadlines, forced close)
	remote string
	slots  chan *slot
	ctx    context.Context
	cancel context.CancelFunc

	// lastActive (Unix ns: when accepted, then each frame read) and
	// evicted pick and mark the client connection closed to make room
	// for a replication connection over max_connections (limits.go).
	lastActive atomic.Int64
	evicted    atomic.Bool

	// Reader goroutine only.
	rd       kbin.Reader // request header decoder, reused
	clientID string      // last client id seen
	// principal is who the connection authenticated as (auth.Anonymous
	// until then); set before the first request reaches a handler.
	principal string
	// SASL session (SASL listeners only): the mechanism authenticated
	// with, when the session expires (zero: never) and a
	// re-authentication in progress.
	mech          string
	sessionExpiry time.Time
	reauth        auth.Session

	mutedUntil atomic.Int64 // unix nanos; a throttled client's mute (throttle.go)
}

func newConn(s *Server, l *listener, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{s: s, ln: l, nc: nc, raw: nc, remote: nc.RemoteAddr().String(), slots: make(chan *slot, s.cfg.MaxInFlightPerConn), ctx: ctx, cancel: cancel, principal: auth.Anonymous}
}

// stopReading makes the reader's next (or current) read fail, so it stops
// after the request in hand; responses already owed are still written.
func (c *conn) stopReading() { c.raw.SetReadDeadline(time.Now()) }

// armIdle sets the idle deadline for the next read. Shutdown marks the
// server stopped before it calls stopReading, so a reader that armed its
// deadline after stopReading's sees the mark here instead of waiting out
// the idle time.
func (c *conn) armIdle() error {
	if c.s.cfg.ConnMaxIdle > 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ConnMaxIdle))
	}
	if c.s.stopped.Load() {
		return io.EOF
	}
	return nil
}

// serve runs the connection until the peer closes, a protocol error, or
// shutdown.
func (c *conn) serve() {
	br := newLazyReader(c.nc)
	if err := c.secure(&br); err != nil {
		c.s.logger.Info("closing connection", "listener", c.ln.spec.Name, "remote", c.remote, "reason", err)
		c.closedByLimit(err)
		c.cancel()
		c.nc.Close()
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop(br)
	close(c.slots)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		c.s.logger.Info("closing connection", "remote", c.remote, "reason", err)
	}
	c.closedByLimit(err)
	<-writerDone
	c.cancel()
	c.nc.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errProtocol closes the connection; Kafka does the same for frames it
// cannot parse.
var errProtocol = errors.New("protocol error")

func (c *conn) readLoop(br io.Reader) error {
	var sizeBuf [4]byte
	maxSize := c.s.cfg.SocketRequestMaxBytes
	for {
		// A muted connection's next request stays in the socket (KIP-219);
		// checked again below for one that arrived while the mute began.
		if err := c.waitUnmuted(); err != nil {
			return err
		}
		if err := c.armIdle(); err != nil {
			return err
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 0 || size > maxSize {
			return fmt.Errorf("%w: frame of %d bytes exceeds socket.request.max.bytes %d", errProtocol, size, maxSize)
		}
		if size < 8 {
			return fmt.Errorf("%w: frame of %d bytes is shorter than a request header", errProtocol, size)
		}
		// Decoded byte fields (produce record batches) alias the frame: it
		// goes back to the pool only for requests that do not keep them.
		fp, err := readFrame(br, int(size))
		if err != nil {
			return err
		}
		frame := *fp
		c.lastActive.Store(time.Now().UnixNano())
		if err := c.waitUnmuted(); err != nil {
			return err
		}
		sl, err := c.handle(frame)
		if err != nil {
			if sl != nil {
				c.slots <- sl // a last answer, written before the close
			}
			return err
		}
		if recyclable(sl.key) {
			putFrame(fp)
		}
		c.slots <- sl
	}
}

// handle decodes one frame and runs its handler's synchronous part.
func (c *conn) handle(frame []byte) (*slot, error) {
	rd := &c.rd
	*rd = kbin.Reader{Src: frame}
	key := kmsg.Key(rd.Int16())
	version := rd.Int16()
	corr := rd.Int32()
	var clientID string
	if n := rd.Int16(); n >= 0 { // negative: null, answered as ""
		clientID = c.internClientID(rd.Span(int(n)))
	}
	if err := rd.Complete(); err != nil {
		return nil, fmt.Errorf("%w: short request header", errProtocol)
	}
	vr, ok := handler.Lookup(key)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported API key %d (%s) version %d", errProtocol, key, key.Name(), version)
	}
	sl := &slot{corr: corr, key: key, version: version, ready: closedChan, arrived: time.Now()}
	if key == kmsg.ApiVersions && version > vr.Max {
		// KIP-511: answer with a v0 ApiVersions response so the client
		// learns our versions; its body is not parsed.
		sl.resp = handler.UnsupportedApiVersions()
		sl.readyAt = sl.arrived
		return sl, nil
	}
	if version < vr.Min || version > vr.Max {
		return nil, fmt.Errorf("%w: unsupported version %d of %s (supported %d-%d)", errProtocol, version, key.Name(), vr.Min, vr.Max)
	}
	req := key.Request()
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(rd)
		if err := rd.Complete(); err != nil {
			return nil, fmt.Errorf("%w: bad request header tags", errProtocol)
		}
	}
	if err := req.ReadFrom(rd.Src); err != nil {
		return nil, fmt.Errorf("%w: malformed %s v%d request: %v", errProtocol, key.Name(), version, err)
	}
	// ApiVersions responses always use header v0 (KIP-511).
	sl.flexible = req.IsFlexible() && key != kmsg.ApiVersions
	if c.mech != "" {
		resp, err := c.sessionCheck(key, req)
		if resp != nil || err != nil {
			sl.resp, sl.readyAt = resp, time.Now()
			if resp == nil {
				sl = nil
			}
			if errors.Is(err, errAuthFailed) {
				c.delayAnswer(sl) // failed re-authentication
			}
			return sl, err
		}
	}
	sl.req = handler.Request{Ctx: c.ctx, Key: key, Version: version, CorrelationID: corr, ClientID: clientID, ClientAddr: c.remote, Body: req, Listener: c.ln.spec.Name, Principal: c.principal, Size: len(frame)}
	r := &sl.req
	res := c.serveSafely(r)
	if res.Throttle > 0 {
		c.muteFor(res.Throttle)
	}
	switch {
	case res.NoResponse:
	case res.Deferred != nil:
		sl.ready = make(chan struct{})
		go func() {
			sl.resp = c.deferredSafely(r, res.Deferred)
			sl.readyAt = time.Now()
			close(sl.ready)
		}()
	default:
		sl.resp = res.Resp
		sl.readyAt = time.Now()
	}
	return sl, nil
}

// closedChan is the ready channel of a response known when its request
// is handed to the writer.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// internClientID returns b as a string, reusing the previous request's
// string when equal: a client sends the same id on every request.
func (c *conn) internClientID(b []byte) string {
	if string(b) != c.clientID {
		c.clientID = string(b)
	}
	return c.clientID
}

// serveSafely turns a handler panic into a closed connection with a log
// line: one bad request must not take the broker down.
func (c *conn) serveSafely(r *handler.Request) (res handler.Result) {
	defer func() {
		if p := recover(); p != nil {
			c.s.logger.Error("handler panic", "api", r.Key.Name(), "version", r.Version, "remote", c.remote, "panic", p)
			res = handler.Result{Resp: nil, NoResponse: true}
			c.nc.Close()
		}
	}()
	return c.s.env.Serve(r)
}

func (c *conn) deferredSafely(r *handler.Request, fn func() kmsg.Response) (resp kmsg.Response) {
	defer func() {
		if p := recover(); p != nil {
			c.s.logger.Error("handler panic", "api", r.Key.Name(), "version", r.Version, "remote", c.remote, "panic", p)
			resp = nil
			c.nc.Close()
		}
	}()
	return fn()
}

// writeLoop writes responses in request order, flushing when no further
// response is ready so pipelined responses share a syscall. Once a write
// fails the connection is closed and the remaining responses are only
// released.
func (c *conn) writeLoop() {
	w := newRespWriter(c.nc)
	failed := false
	fail := func(err error) {
		failed = true
		if !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			c.s.logger.Debug("write failed", "remote", c.remote, "err", err)
		}
		// Unblock a reader waiting for a slot: the peer is gone, or a
		// response was cut short and the stream cannot go on.
		c.nc.Close()
	}
	for sl := range c.slots {
		select {
		case <-sl.ready:
		default:
			// Do not hold finished responses back while this one waits.
			if !failed {
				if err := w.flush(); err != nil {
					fail(err)
				}
			}
			<-sl.ready
		}
		if failed || sl.resp == nil {
			if !failed {
				c.s.metrics.Done(sl.key, sl.version, sl.arrived, sl.readyAt, sl.readyAt, nil)
			}
			release(sl.resp)
			continue
		}
		if err := w.write(sl.corr, sl.flexible, sl.resp); err != nil {
			fail(err)
			continue
		}
		c.s.metrics.Done(sl.key, sl.version, sl.arrived, sl.readyAt, time.Now(), sl.resp)
		c.muteAfter(sl.resp)
		if len(c.slots) == 0 {
			if err := w.flush(); err != nil {
				fail(err)
			}
		}
	}
	if !failed {
		w.flush()
	}
}
