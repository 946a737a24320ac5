package server

import (
	"bufio"
	"io"
	"math/bits"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request frames are pooled for the requests whose decoded fields do not
// outlive the handler's synchronous part; every other request keeps its
// frame, since kmsg's decoded byte fields alias it.
//
// Produce qualifies: its record batches are validated and written to the
// log inside Serve (partition.Append writes them with the segment's
// WriteAt before returning), and its deferred part (acks waits) reads only
// the response. Strings are copied by kmsg. A handler that starts keeping
// a Produce request's bytes past Serve (a batch queued for a later write,
// say) must copy them or take Produce off this list.
func recyclable(key kmsg.Key) bool { return key == kmsg.Produce }

const (
	minFrameClass = 12 // 4 KiB
	maxFrameClass = 24 // 16 MiB: larger frames are not pooled
)

// framePools[i] holds *[]byte of capacity 1<<(minFrameClass+i).
var framePools [maxFrameClass - minFrameClass + 1]sync.Pool

// getFrame returns a frame of size bytes, pooled when its size class is.
func getFrame(size int) *[]byte {
	c := max(bits.Len(uint(size-1)), minFrameClass)
	if c > maxFrameClass {
		b := make([]byte, size)
		return &b
	}
	if p, ok := framePools[c-minFrameClass].Get().(*[]byte); ok {
		*p = (*p)[:size]
		return p
	}
	b := make([]byte, size, 1<<c)
	return &b
}

// putFrame returns a frame to its pool; no part of it may be in use.
func putFrame(p *[]byte) {
	n := cap(*p)
	c := bits.Len(uint(n)) - 1
	if n != 1<<c || c < minFrameClass || c > maxFrameClass {
		return
	}
	framePools[c-minFrameClass].Put(p)
}

// frameGrowFrom is the largest frame allocated whole as soon as its size
// is read. A larger one is read into a buffer that doubles as it fills,
// so a peer that announces a large frame and sends it slowly holds about
// as much memory as it has sent, not what it announced (Kafka allocates
// the announced size at once).
const frameGrowFrom = 64 << 10

// readFrame reads a frame of size bytes from r.
func readFrame(r io.Reader, size int) (*[]byte, error) {
	fp := getFrame(min(size, frameGrowFrom))
	got := 0
	for {
		buf := *fp
		n, err := io.ReadFull(r, buf[got:])
		got += n
		if err != nil {
			return nil, err
		}
		if got == size {
			return fp, nil
		}
		next := getFrame(min(2*len(buf), size))
		copy(*next, buf)
		putFrame(fp)
		fp = next
	}
}

// readBufSize is the read buffer a connection holds while a frame's bytes
// are arriving: pipelined requests share one read syscall.
const readBufSize = 64 << 10

var readBufs = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// lazyReader buffers a connection's reads only while bytes are arriving.
// An idle connection waits for the size of its next frame with no buffer
// at all: the buffer goes back to the pool whenever it is empty, and a
// small read (the 4-byte size) on an empty buffer goes straight to the
// connection. Idle connections therefore cost their goroutines and the
// socket, not a read buffer each.
type lazyReader struct {
	r  io.Reader
	br *bufio.Reader // nil while nothing is buffered
}

func newLazyReader(r io.Reader) io.Reader { return &lazyReader{r: r} }

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.br != nil && l.br.Buffered() == 0 {
		l.br.Reset(nil)
		readBufs.Put(l.br)
		l.br = nil
	}
	if l.br == nil {
		if len(p) <= 8 {
			return l.r.Read(p)
		}
		l.br = readBufs.Get().(*bufio.Reader)
		l.br.Reset(l.r)
	}
	return l.br.Read(p)
}
