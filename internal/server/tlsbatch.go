package server

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
)

// batchConn sits under a TLS connection. crypto/tls writes every record
// (at most 16 KiB of plaintext) with its own write to the socket; while
// the response writer has a batch open, the records it produces are
// gathered here and go out batchMax at a time, so a 1 MiB fetch response
// costs a few system calls instead of 64. Outside a batch (the handshake,
// a KeyUpdate answered by the reader, the close alert) writes go straight
// through. The mutex orders both cases; crypto/tls already serializes its
// writes, so the records stay in order.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      *[]byte // from batchBufs while a batch holds bytes
}

// batchMax is how many bytes a batch gathers before writing them.
const batchMax = 256 << 10

var batchBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, batchMax+32<<10)
	return &b
}}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.batching {
		return b.Conn.Write(p)
	}
	if b.buf == nil {
		b.buf = batchBufs.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	if len(*b.buf) >= batchMax {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// begin opens a batch.
func (b *batchConn) begin() {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
}

// end writes what the batch gathered and closes it.
func (b *batchConn) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	err := b.flushLocked()
	if b.buf != nil {
		*b.buf = (*b.buf)[:0]
		batchBufs.Put(b.buf)
		b.buf = nil
	}
	return err
}

func (b *batchConn) flushLocked() error {
	if b.buf == nil || len(*b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(*b.buf)
	*b.buf = (*b.buf)[:0]
	return err
}

// batchOf is the batchConn under nc, a TLS connection made over one.
func batchOf(nc net.Conn) *batchConn {
	if tc, ok := nc.(*tls.Conn); ok {
		if b, ok := tc.NetConn().(*batchConn); ok {
			return b
		}
	}
	return nil
}

// copyBufs are the buffers record sets are read into when they cannot go
// out with sendfile (over TLS).
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, 128<<10)
	return &b
}}

// copyRange writes n bytes of f from pos to w through a pooled buffer.
func copyRange(w io.Writer, f io.ReaderAt, pos, n int64) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(w, io.NewSectionReader(f, pos, n), *bp)
}
