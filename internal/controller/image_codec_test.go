package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
	"github.com/strom-broker/strom/internal/vfs"
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
		fuzzseed.Add(f, raw)
	}
	fuzzseed.Add(f, []byte(`{"version":1,"cluster_id":"c","next_producer_id":0,"topics":null}`))
	fuzzseed.Add(f, []byte(`{"version":2,"cluster_id":"c","next_producer_id":0,"topics":null}`))
	fuzzseed.Add(f, []byte(`{"version":1,"cluster_id":"c","next_producer_id":0,"topics":null,"client_quotas":[{"entity":[{"type":"user","name":null}],"values":{"producer_byte_rate":1000}},{"entity":[{"type":"client-id","name":"app"}],"values":{"request_percentage":12.5}}]}`))
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

// FuzzOpenLocal opens the single-node controller on a metadata file that
// is the fuzzer's: a file it refuses gets an error naming it, and one it
// accepts is rewritten so that the next start reads the same image.
func FuzzOpenLocal(f *testing.F) {
	raw, err := os.ReadFile("testdata/seams-base/local/cluster-metadata.json")
	if err != nil {
		f.Fatal(err)
	}
	fuzzseed.Add(f, raw)
	fuzzseed.Add(f, []byte(`{"version":1,"cluster_id":"c","next_producer_id":7,"topics":[{"name":"t","partitions":[{}]}]}`))
	self := metadata.Broker{ID: 1, Host: "127.0.0.1", Port: 9092}
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, metadataFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := openLocal(vfs.Default, dir, self)
		if err != nil {
			if !strings.Contains(err.Error(), metadataFile) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		first, err := encodeImage(c.Image())
		if err != nil {
			t.Fatal(err)
		}
		again, err := openLocal(vfs.Default, dir, self)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if second, _ := encodeImage(again.Image()); string(second) != string(first) {
			t.Fatalf("reopened as\n%s\nwas\n%s", second, first)
		}
	})
}
