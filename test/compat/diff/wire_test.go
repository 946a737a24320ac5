package diff

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ioTimeout bounds one request/response exchange. It is a deadline, not an
// expectation: a broker that does not answer in time is recorded as such.
const ioTimeout = 20 * time.Second

const clientID = "strom-compat-diff"

// wireConn is one raw Kafka protocol connection with our own framing, so a
// test can pin exact versions and send malformed frames.
type wireConn struct {
	nc   net.Conn
	br   *bufio.Reader
	corr int32
}

func dial(addr string) (*wireConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &wireConn{nc: nc, br: bufio.NewReader(nc)}, nil
}

func (c *wireConn) Close() error { return c.nc.Close() }

// encodeRequest frames req (at its set version) with a v1 or v2 request
// header.
func encodeRequest(corr int32, req kmsg.Request) []byte {
	buf := make([]byte, 4, 256)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(clientID)))
	buf = append(buf, clientID...)
	if req.IsFlexible() {
		buf = append(buf, 0) // no header tags
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

// roundTrip sends req and decodes the response. acks=0 produce requests get
// no response; roundTrip returns (nil, nil) for them.
func (c *wireConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	corr := c.corr
	c.nc.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.nc.Write(encodeRequest(corr, req)); err != nil {
		return nil, err
	}
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		return nil, nil
	}
	body, err := c.readFrame()
	if err != nil {
		return nil, err
	}
	rd := kbin.Reader{Src: body}
	if got := rd.Int32(); got != corr {
		return nil, fmt.Errorf("response correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	// ApiVersions responses always carry a v0 header (KIP-511).
	if req.IsFlexible() && req.Key() != 18 {
		kmsg.SkipTags(&rd)
	}
	if err := rd.Complete(); err != nil {
		return nil, fmt.Errorf("short response header: %w", err)
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		// KIP-511: an ApiVersions request at an unsupported version is
		// answered at v0.
		if req.Key() == 18 {
			resp = &kmsg.ApiVersionsResponse{Version: 0}
			if err0 := resp.ReadFrom(rd.Src); err0 == nil {
				return resp, nil
			}
		}
		return nil, fmt.Errorf("decode %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

func (c *wireConn) readFrame() ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.br, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 256<<20 {
		return nil, fmt.Errorf("response frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, err
	}
	return body, nil
}

// connOutcome says what a broker did with a frame: it answered, closed the
// connection, or neither before the deadline.
func (c *wireConn) outcome() string {
	c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	body, err := c.readFrame()
	switch {
	case err == nil:
		if len(body) >= 4 {
			return fmt.Sprintf("answered (correlation id %d)", int32(binary.BigEndian.Uint32(body)))
		}
		return "answered"
	case isClosed(err):
		return "closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer, still open"
	default:
		return "error: " + err.Error()
	}
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE)
}

// rawHeader is a request header (v1, non-flexible) for a hand-built frame.
func rawHeader(key, version int16, corr int32) []byte {
	buf := binary.BigEndian.AppendUint16(nil, uint16(key))
	buf = binary.BigEndian.AppendUint16(buf, uint16(version))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(clientID)))
	return append(buf, clientID...)
}

// frame prefixes body with its length.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}
