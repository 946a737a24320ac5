package record

import (
	"errors"
	"testing"
)

// TestMarkerRoundTrip: a marker batch is a valid transactional control
// batch with Kafka's key and value layout, and reads back.
func TestMarkerRoundTrip(t *testing.T) {
	for _, m := range []Marker{{Type: ControlCommit, CoordinatorEpoch: 7}, {Type: ControlAbort, CoordinatorEpoch: -1}} {
		b := AppendMarkerBatch(nil, 42, 3, 1000, m)
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != -1 || h.NumRecords != 1 {
			t.Fatalf("marker header %+v", h)
		}
		var key, val []byte
		if err := Records(b, func(r Record) error {
			key, val = append([]byte(nil), r.Key...), append([]byte(nil), r.Value...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		wantKey := []byte{0, 0, 0, byte(m.Type)}
		wantVal := []byte{0, 0, byte(uint32(m.CoordinatorEpoch) >> 24), byte(uint32(m.CoordinatorEpoch) >> 16), byte(uint32(m.CoordinatorEpoch) >> 8), byte(m.CoordinatorEpoch)}
		if string(key) != string(wantKey) || string(val) != string(wantVal) {
			t.Fatalf("marker key %x value %x, want %x %x", key, val, wantKey, wantVal)
		}
		got, ok, err := ParseMarker(b)
		if err != nil || !ok || got != m {
			t.Fatalf("ParseMarker: %+v %v %v, want %+v", got, ok, err, m)
		}
	}
}

// FuzzParseMarker: any bytes give a marker, none, or ErrCorrupt-wrapped
// errors, never a panic.
func FuzzParseMarker(f *testing.F) {
	f.Add(AppendMarkerBatch(nil, 1, 0, 0, Marker{Type: ControlCommit, CoordinatorEpoch: 3}))
	f.Add(AppendMarkerBatch(nil, 1, 0, 0, Marker{Type: ControlAbort}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := ParseMarker(b)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrBadCompression) && !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
