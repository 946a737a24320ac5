package quota

import "math"

// window is the shape of every quota's measurement: quota.window.num
// samples of quota.window.size each (Kafka's MetricConfig).
type window struct {
	num    int   // samples
	sizeMs int64 // one sample's span
}

// sample is one time window of a sampled rate (Kafka's SampledStat.Sample).
type sample struct {
	startMs, lastEventMs int64
	value                float64
	events               int64
}

func (s *sample) reset(nowMs int64) { *s = sample{startMs: nowMs, lastEventMs: nowMs} }

// rate is Kafka's Rate over a SampledStat of sums: the total of the
// retained samples divided by the time they cover, that time counted as
// at least num-1 full windows so that a first burst does not read as a
// huge rate. It keeps num+1 samples, one of them overlapping the start
// of the measured span.
type rate struct {
	samples []sample
	current int
}

func (r *rate) cur(nowMs int64) *sample {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{startMs: nowMs, lastEventMs: nowMs})
	}
	return &r.samples[r.current]
}

// record adds v at nowMs.
func (r *rate) record(w window, v float64, nowMs int64) {
	s := r.cur(nowMs)
	if nowMs-s.startMs >= w.sizeMs {
		s = r.advance(w, nowMs)
	}
	s.value += v
	s.events++
	s.lastEventMs = nowMs
}

func (r *rate) advance(w window, nowMs int64) *sample {
	r.current = (r.current + 1) % (w.num + 1)
	if r.current >= len(r.samples) {
		r.samples = append(r.samples, sample{startMs: nowMs, lastEventMs: nowMs})
	} else {
		r.samples[r.current].reset(nowMs)
	}
	return &r.samples[r.current]
}

// purge resets the samples with no event inside the measured span.
func (r *rate) purge(w window, nowMs int64) {
	expire := int64(w.num) * w.sizeMs
	for i := range r.samples {
		if nowMs-r.samples[i].lastEventMs >= expire {
			r.samples[i].reset(nowMs)
		}
	}
}

// windowMs is the span the rate is measured over (Kafka's
// Rate.windowSize): from the oldest sample's start, at least num-1 full
// windows, at least 1 ms.
func (r *rate) windowMs(w window, nowMs int64) int64 {
	r.purge(w, nowMs)
	r.cur(nowMs)
	oldest := r.samples[0].startMs
	for _, s := range r.samples[1:] {
		oldest = min(oldest, s.startMs)
	}
	elapsed := nowMs - oldest
	full := elapsed / w.sizeMs
	if minFull := int64(w.num - 1); full < minFull {
		elapsed += (minFull - full) * w.sizeMs
	}
	return max(elapsed, 1)
}

// measure is the rate per second at nowMs.
func (r *rate) measure(w window, nowMs int64) float64 {
	win := r.windowMs(w, nowMs)
	total := 0.0
	for _, s := range r.samples {
		total += s.value
	}
	return total / (float64(win) / 1000)
}

// throttleMs is the delay that brings an observed rate back to bound
// over the measured span (Kafka's QuotaUtils.throttleTime:
// (O - T) / T * W).
func (r *rate) throttleMs(w window, observed, bound float64, nowMs int64) int64 {
	return int64(math.Round((observed - bound) / bound * float64(r.windowMs(w, nowMs))))
}

// bucket is Kafka's TokenBucket (KIP-599): tokens refill at the quota
// per second up to a burst of num × size × quota; a record takes its
// permits and may drive the tokens below zero.
type bucket struct {
	tokens  float64
	lastMs  int64
	started bool
}

func (b *bucket) refill(w window, quota float64, nowMs int64) {
	burst := float64(w.num) * float64(w.sizeMs) / 1000 * quota
	if !b.started {
		// Kafka's bucket starts empty at time 0, so the first refill
		// fills it: start full.
		b.tokens, b.lastMs, b.started = burst, nowMs, true
		return
	}
	b.tokens = math.Min(burst, b.tokens+quota*float64(nowMs-b.lastMs)/1000)
	b.lastMs = nowMs
}

func (b *bucket) measure(w window, quota float64, nowMs int64) float64 {
	b.refill(w, quota, nowMs)
	return b.tokens
}

func (b *bucket) record(w window, quota, permits float64, nowMs int64) {
	b.refill(w, quota, nowMs)
	burst := float64(w.num) * float64(w.sizeMs) / 1000 * quota
	b.tokens = math.Min(burst, b.tokens-permits)
}
