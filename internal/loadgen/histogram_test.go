package loadgen

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestHistogramEmpty(t *testing.T) {
	h := NewHistogram()
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram reports values: %+v", h.Quantile(0.5))
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	h := NewHistogram()
	for v := int64(1); v <= 100; v++ {
		h.Record(v)
	}
	for _, tc := range []struct {
		q    float64
		want int64
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.99, 99}, {0.999, 100}, {1, 100}} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if h.Mean() != 50.5 || h.Min() != 1 || h.Max() != 100 || h.Count() != 100 {
		t.Errorf("mean/min/max/count = %v/%d/%d/%d", h.Mean(), h.Min(), h.Max(), h.Count())
	}
}

// TestHistogramRelativeError checks every percentile against the exact
// order statistic of a wide, skewed sample: log-linear buckets promise a
// relative error under 1/2^subBits.
func TestHistogramRelativeError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(math.Exp(r.Float64()*30)) + r.Int64N(5) // 0 .. ~1e13
		h.Record(vals[i])
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.Quantile(q)
		if got < exact {
			t.Errorf("Quantile(%v) = %d below exact %d", q, got, exact)
		}
		if float64(got-exact) > float64(exact)/float64(subCount)+1 {
			t.Errorf("Quantile(%v) = %d, exact %d: error above 1/%d", q, got, exact, subCount)
		}
	}
	if h.Quantile(1) != vals[len(vals)-1] || h.Max() != vals[len(vals)-1] {
		t.Errorf("max = %d/%d, want %d", h.Quantile(1), h.Max(), vals[len(vals)-1])
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 257, 1 << 20, 1<<20 + 1, math.MaxInt64} {
		b := bucketOf(v)
		if b < prev || b >= numBucket {
			t.Fatalf("bucketOf(%d) = %d, out of order or range (prev %d)", v, b, prev)
		}
		prev = b
		if hi := bucketHigh(b); hi < v {
			t.Fatalf("bucketHigh(%d) = %d below value %d", b, hi, v)
		}
		if b > 0 && bucketHigh(b-1) >= v {
			t.Fatalf("value %d also fits bucket %d", v, b-1)
		}
	}
}

func TestHistogramMergeAndNegative(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	a.Record(-5)
	a.Record(10)
	b.Record(1000)
	a.Merge(b)
	if a.Count() != 3 || a.Min() != 0 || a.Max() != 1000 || a.Quantile(0.5) != 10 {
		t.Fatalf("merged count/min/max/p50 = %d/%d/%d/%d", a.Count(), a.Min(), a.Max(), a.Quantile(0.5))
	}
	empty := NewHistogram()
	a.Merge(empty)
	if a.Min() != 0 || a.Count() != 3 {
		t.Fatal("merging an empty histogram changed min or count")
	}
	var z Histogram // the zero value works too
	z.Merge(b)
	z.Record(7)
	if z.Min() != 7 || z.Max() != 1000 || z.Count() != 2 {
		t.Fatalf("zero-value histogram min/max/count = %d/%d/%d", z.Min(), z.Max(), z.Count())
	}
}
