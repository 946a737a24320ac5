package console

import (
	"fmt"
	"sync"
	"time"
)

// topicRates turns the sum of a topic's end offsets, seen each time the
// topics page lists it, into a message rate: the records appended per
// second since the previous sample (a rate for the whole cluster, unlike
// this node's own metrics). A sample older than rateWindow is too old to
// say what the rate is now.
type topicRates struct {
	mu   sync.Mutex
	last map[string]offsetSample
}

type offsetSample struct {
	end int64
	at  time.Time
}

const rateWindow = 10 * time.Minute

// rate records end for topic at now and returns the rate since the
// previous sample, formatted, or "" when there is none to compare with.
func (r *topicRates) rate(topic string, end int64, now time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]offsetSample{}
	}
	prev, ok := r.last[topic]
	r.last[topic] = offsetSample{end, now}
	dt := now.Sub(prev.at).Seconds()
	if !ok || dt < 0.5 || now.Sub(prev.at) > rateWindow || end < prev.end {
		return ""
	}
	return fmt.Sprintf("%.1f/s", float64(end-prev.end)/dt)
}
