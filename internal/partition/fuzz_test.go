package partition

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
	"github.com/strom-broker/strom/internal/vfs"
)

// FuzzReadTopicID feeds partition.metadata files to readTopicID: a file it
// refuses gets an error naming the file, and an id it accepts is written
// and read back unchanged.
func FuzzReadTopicID(f *testing.F) {
	id := metadata.TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	fuzzseed.Add(f, []byte("version: 0\ntopic_id: "+id.String()+"\n"))
	fuzzseed.Add(f, []byte("topic_id: "+id.String()+"\r\nversion:0"))
	fuzzseed.Add(f, []byte("version: 1\ntopic_id: "+id.String()+"\n"))
	fuzzseed.Add(f, []byte("version: 0\ntopic_id: not-an-id\n"))
	fuzzseed.Add(f, []byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, partitionMetadataFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, ok, err := readTopicID(vfs.Default, dir)
		if err != nil {
			if !strings.Contains(err.Error(), partitionMetadataFile) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if !ok {
			t.Fatal("an existing file read as missing")
		}
		if err := writeTopicID(vfs.Default, dir, got); err != nil {
			t.Fatal(err)
		}
		back, ok, err := readTopicID(vfs.Default, dir)
		if err != nil || !ok || back != got {
			t.Fatalf("wrote %s, read back %s %v %v", got, back, ok, err)
		}
	})
}
