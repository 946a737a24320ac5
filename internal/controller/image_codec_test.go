package controller

import (
	"os"
	"testing"
)

func TestDecodeImageRefuses(t *testing.T) {
	for _, raw := range []string{
		`{"version":1,"cluster_id":"c","next_producer_id":0,"topics":[null]}`,
		`{"version":2,"cluster_id":"c","next_producer_id":0,"topics":null}`,
		`{"version":0,"cluster_id":"c","next_producer_id":0,"topics":null}`,
		`{"cluster_id":"c","next_producer_id":0,"topics":null}`,
	} {
		if _, err := decodeImage([]byte(raw)); err == nil {
			t.Errorf("%s: read", raw)
		}
	}
	if _, err := decodeImage([]byte(`{"version":1,"cluster_id":"c","next_producer_id":0,"topics":null}`)); err != nil {
		t.Errorf("version 1: %v", err)
	}
}

func FuzzDecodeImage(f *testing.F) {
	for _, path := range []string{"testdata/seams-base/local/cluster-metadata.json"} {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		im, err := decodeImage(raw)
		if err != nil {
			return
		}
		again, err := encodeImage(im)
		if err != nil {
			t.Fatalf("decoded image does not encode: %v", err)
		}
		back, err := decodeImage(again)
		if err != nil {
			t.Fatalf("re-encoded image does not decode: %v", err)
		}
		if third, _ := encodeImage(back); string(third) != string(again) {
			t.Fatalf("encoding not stable:\n%s\n%s", again, third)
		}
	})
}
