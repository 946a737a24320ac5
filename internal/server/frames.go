package server

import (
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
