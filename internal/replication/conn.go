package replication

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxResponseBytes caps a Fetch response frame: the request's MaxBytes
// plus one oversized first batch, with room to spare.
const maxResponseBytes = 256 << 20

var errProtocol = errors.New("replication: protocol error")

// leaderConn is one connection to a leader's replication listener. It is
// used by one fetcher goroutine at a time; Close may be called from any
// goroutine to unblock it.
type leaderConn struct {
	nc   net.Conn
	fmt  *kmsg.RequestFormatter
	corr int32
	wbuf []byte
	rbuf []byte
	// answering is set once the response to the request in flight has
	// begun to arrive: the leader is no longer parking it.
	answering atomic.Bool
}

// errHandshake marks a connection refused at the TLS handshake: the
// leader does not trust this node's certificate or this node the leader's.
var errHandshake = errors.New("TLS handshake with the leader failed")

func dialLeader(ctx context.Context, addr string, timeout time.Duration, clientID string, tlsCfg *tls.Config) (*leaderConn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial leader %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if tlsCfg != nil {
		tc := tls.Client(nc, tlsCfg)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("%w: %s: %w", errHandshake, addr, err)
		}
		nc = tc
	}
	return &leaderConn{nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}, nil
}

func (c *leaderConn) Close() error { return c.nc.Close() }

// fetch sends req and reads its response; the whole exchange must finish
// within timeout. The response's record bytes alias the connection's read
// buffer: they are valid until the next call.
func (c *leaderConn) fetch(req *kmsg.FetchRequest, timeout time.Duration) (*kmsg.FetchResponse, error) {
	resp, err := c.roundTrip(req, timeout)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.FetchResponse), nil
}

// roundTrip sends any request and reads its response.
func (c *leaderConn) roundTrip(req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	c.corr++
	c.wbuf = c.fmt.AppendRequest(c.wbuf[:0], req, c.corr)
	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	c.answering.Store(false)
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return nil, fmt.Errorf("send %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
		return nil, fmt.Errorf("read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	c.answering.Store(true)
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	corr := int32(binary.BigEndian.Uint32(hdr[4:]))
	if size < 4 || size-4 > maxResponseBytes {
		return nil, fmt.Errorf("%w: response size %d", errProtocol, size)
	}
	if corr != c.corr {
		return nil, fmt.Errorf("%w: correlation id %d, want %d", errProtocol, corr, c.corr)
	}
	n := int(size) - 4
	if cap(c.rbuf) < n || cap(c.rbuf) > 4*n+(1<<20) {
		c.rbuf = make([]byte, n)
	}
	c.rbuf = c.rbuf[:n]
	if _, err := io.ReadFull(c.nc, c.rbuf); err != nil {
		return nil, fmt.Errorf("read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	body := c.rbuf
	if req.IsFlexible() && req.Key() != 18 { // ApiVersions answers with header v0
		rd := kbin.Reader{Src: body}
		kmsg.SkipTags(&rd)
		if err := rd.Complete(); err != nil {
			return nil, fmt.Errorf("%w: response header tags: %v", errProtocol, err)
		}
		body = rd.Src
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: decode %s v%d response: %v", errProtocol, kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}
