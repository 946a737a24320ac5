package console

import (
	"testing"
	"time"
)

func TestTopicRates(t *testing.T) {
	var r topicRates
	t0 := time.Unix(1000, 0)
	if got := r.rate("t", 100, t0); got != "" {
		t.Fatalf("first sample = %q, want unknown", got)
	}
	if got := r.rate("t", 300, t0.Add(2*time.Second)); got != "100.0/s" {
		t.Fatalf("rate = %q, want 100.0/s", got)
	}
	if got := r.rate("t", 300, t0.Add(time.Hour)); got != "" {
		t.Fatalf("after an hour = %q, want unknown", got)
	}
	if got := r.rate("t", 10, t0.Add(time.Hour+time.Minute)); got != "" {
		t.Fatalf("after the topic was recreated = %q, want unknown", got)
	}
}
