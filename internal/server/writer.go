package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/handler"
)

// respWriter encodes responses into one pending buffer, written when no
// further response is ready (pipelined responses share a syscall) or the
// buffer is full. A framed response's record sets go from their files to
// the socket with sendfile at an explicit offset, so they are never copied
// into memory: the framing up to each record set is written (with whatever
// was pending) in one write, then the file range, and the framing after
// the last one stays pending for the next write.
type respWriter struct {
	nc    net.Conn
	raw   syscall.RawConn // nil when nc is not a TCP connection: ranges are copied
	batch *batchConn      // under nc when it is TLS: a response's records go out together
	pend  []byte          // nil between flushes: taken from writeBufs when needed
	box   *[]byte         // pend's box in writeBufs
	frame handler.Frame
	sf    sendfileOp
}

// framed is a response that frames itself (handler.FetchResponse): it
// leaves a hole in its frame for each record set, which stays in its file
// until the writer sends it from there. It holds references on those
// files until released.
type framed interface {
	kmsg.Response
	AppendFrame(dst []byte, corr int32, flexibleHeader bool, f *handler.Frame) []byte
	Release()
}

// FileRange is a range of an open file, sent to the socket with sendfile
// (a record set left in its segment file).
type FileRange interface {
	File() *os.File
	Pos() int64
	Size() int
}

const (
	writeBufSize = 64 << 10
	maxKeptBuf   = 1 << 20 // a larger pending buffer is dropped once written
)

// writeBufs holds the pending buffers of connections between flushes.
var writeBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, writeBufSize)
	return &b
}}

func newRespWriter(nc net.Conn) *respWriter {
	w := &respWriter{nc: nc, batch: batchOf(nc)}
	if tc, ok := nc.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// write encodes one response after the pending bytes, sending them when
// they fill the buffer. It takes over resp: a FetchResponse's ranges are
// released.
func (w *respWriter) write(corr int32, flexible bool, resp kmsg.Response) error {
	if w.box == nil {
		w.box = writeBufs.Get().(*[]byte)
		w.pend = (*w.box)[:0]
	}
	if fr, ok := resp.(framed); ok {
		defer fr.Release()
		return w.writeFramed(corr, flexible, fr)
	}
	start := len(w.pend)
	w.pend = append(w.pend, 0, 0, 0, 0)
	w.pend = kbin.AppendInt32(w.pend, corr)
	if flexible {
		w.pend = append(w.pend, 0) // empty tagged fields
	}
	w.pend = resp.AppendTo(w.pend)
	binary.BigEndian.PutUint32(w.pend[start:], uint32(len(w.pend)-start-4))
	if len(w.pend) >= writeBufSize {
		return w.flush()
	}
	return nil
}

func (w *respWriter) writeFramed(corr int32, flexible bool, r framed) (err error) {
	w.pend = r.AppendFrame(w.pend, corr, flexible, &w.frame)
	if w.batch != nil && len(w.frame.Holes) > 0 {
		w.batch.begin()
		defer func() {
			if e := w.batch.end(); err == nil {
				err = e
			}
		}()
	}
	sent := 0
	for _, h := range w.frame.Holes {
		if _, err := w.nc.Write(w.pend[sent:h.At]); err != nil {
			return err
		}
		sent = h.At
		if err := w.sendFile(h.Records); err != nil {
			return err
		}
	}
	if sent > 0 {
		w.pend = w.pend[:copy(w.pend, w.pend[sent:])]
	}
	if len(w.pend) >= writeBufSize {
		return w.flush()
	}
	return nil
}

// flush writes the pending bytes.
func (w *respWriter) flush() error {
	if w.box == nil {
		return nil
	}
	var err error
	if len(w.pend) > 0 {
		_, err = w.nc.Write(w.pend)
	}
	// An idle connection holds no write buffer: it goes back to the pool
	// (a grown one only if not too large).
	if cap(w.pend) <= maxKeptBuf {
		*w.box = w.pend[:0]
		writeBufs.Put(w.box)
	}
	w.pend, w.box = nil, nil
	return err
}

// errShortFile is a range that ended early: its segment was truncated under
// the response, whose frame can no longer be completed.
var errShortFile = errors.New("segment shorter than the range being sent")

// sendFile sends r's bytes from its file.
func (w *respWriter) sendFile(r FileRange) error {
	f, pos, n := r.File(), r.Pos(), int64(r.Size())
	if w.raw == nil {
		m, err := copyRange(w.nc, f, pos, n)
		if err == nil && m < n {
			err = errShortFile
		}
		return err
	}
	sf := &w.sf
	if sf.file != f {
		fc, err := f.SyscallConn()
		if err != nil {
			return fmt.Errorf("sendfile: %w", err)
		}
		sf.file, sf.fileRaw = f, fc
	}
	if sf.control == nil {
		sf.control, sf.step = sf.controlFile, sf.writeStep
	}
	sf.sock, sf.pos, sf.n, sf.err = w.raw, pos, n, nil
	if err := sf.fileRaw.Control(sf.control); err != nil {
		return fmt.Errorf("sendfile: %w", err)
	}
	return sf.err
}

// sendfileOp is the state of one sendfile loop, kept in the writer with
// its callbacks bound once so that a send allocates nothing.
type sendfileOp struct {
	file    *os.File // the file fileRaw belongs to
	fileRaw syscall.RawConn
	sock    syscall.RawConn
	src     uintptr
	pos, n  int64
	err     error
	control func(uintptr)
	step    func(uintptr) bool
}

func (s *sendfileOp) controlFile(src uintptr) {
	s.src = src
	if err := s.sock.Write(s.step); err != nil && s.err == nil {
		s.err = err
	}
}

// writeStep sends until done or the socket buffer is full (false: wait
// until writable and call again).
func (s *sendfileOp) writeStep(dst uintptr) bool {
	for s.n > 0 {
		m, err := syscall.Sendfile(int(dst), int(s.src), &s.pos, int(min(s.n, 1<<30)))
		if m > 0 {
			s.n -= int64(m)
		}
		switch {
		case err == syscall.EAGAIN:
			return false
		case err == syscall.EINTR:
		case err != nil:
			s.err = fmt.Errorf("sendfile: %w", err)
			return true
		case m == 0:
			s.err = errShortFile
			return true
		}
	}
	return true
}

// release drops what a response holds (the files of a framed response)
// when it is not written.
func release(resp kmsg.Response) {
	if fr, ok := resp.(framed); ok {
		fr.Release()
	}
}
