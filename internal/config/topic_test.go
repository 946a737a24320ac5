package config

import (
	"math"
	"testing"
	"time"
)

func TestDurationMs(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want time.Duration
	}{
		{0, 0},
		{-1, -time.Millisecond},
		{604800000, 7 * 24 * time.Hour},
		{math.MaxInt64 / 1000000, math.MaxInt64 / 1000000 * time.Millisecond},
		// Kafka's "never" (flush.ms, for one): time.Duration(ms)*time.Millisecond
		// would overflow to -1ms.
		{math.MaxInt64, math.MaxInt64},
		{math.MaxInt64/1000000 + 1, math.MaxInt64},
		{math.MinInt64, math.MinInt64},
	} {
		if got := DurationMs(tc.ms); got != tc.want {
			t.Errorf("DurationMs(%d) = %d, want %d", tc.ms, got, tc.want)
		}
	}
}

// TestStaticCleanupPolicy: the node's cleanup_policy is not validated at
// start-up and reads as it always has.
func TestStaticCleanupPolicy(t *testing.T) {
	for v, want := range map[string]CleanupPolicy{
		"delete":          {Delete: true},
		"compact":         {Compact: true},
		"compact,delete":  {Delete: true, Compact: true},
		"delete,compact":  {Delete: true, Compact: true},
		"compact, delete": {Delete: true, Compact: true},
		"bogus":           {Delete: true},
	} {
		if got := (LogDefaults{CleanupPolicy: v}).TopicConfig().Cleanup; got != want {
			t.Errorf("cleanup_policy %q: %+v, want %+v", v, got, want)
		}
		if p, err := ParseCleanupPolicy(v); err == nil && p != want {
			t.Errorf("ParseCleanupPolicy(%q) = %+v, want %+v", v, p, want)
		}
	}
}
