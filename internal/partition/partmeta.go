package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/vfs"
)

// partitionMetadataFile records, in each partition directory, the id of the
// topic the directory belongs to, in Apache Kafka's format
// (docs/storage-format.md). A topic deleted and re-created under the same
// name has a new id, so a directory left from the old one is never adopted
// by the new one.
const partitionMetadataFile = "partition.metadata"

// ErrTopicIDMismatch is returned by Open for a directory that belongs to
// another topic id, or to none.
var ErrTopicIDMismatch = errcode.ErrTopicIDMismatch

// readTopicID returns the topic id recorded in dir; ok is false when dir
// has no partition.metadata (a directory written before ids were stored).
func readTopicID(fsys vfs.FS, dir string) (id metadata.TopicID, ok bool, err error) {
	name := filepath.Join(dir, partitionMetadataFile)
	raw, err := vfs.ReadFile(fsys, name)
	if errors.Is(err, os.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, fmt.Errorf("read %s: %w", name, err)
	}
	var version, topicID string
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "topic_id":
			topicID = strings.TrimSpace(v)
		}
	}
	if version != "0" {
		return id, false, fmt.Errorf("read %s: unsupported version %q", name, version)
	}
	if id, err = metadata.ParseTopicID(topicID); err != nil {
		return id, false, fmt.Errorf("read %s: %w", name, err)
	}
	return id, true, nil
}

// writeTopicID records id in dir durably.
func writeTopicID(fsys vfs.FS, dir string, id metadata.TopicID) error {
	data := "version: 0\ntopic_id: " + id.String() + "\n"
	return vfs.WriteAtomic(fsys, filepath.Join(dir, partitionMetadataFile), []byte(data), vfs.Durable)
}

// claimDir makes dir the directory of topic id: a missing directory is
// created with the id recorded in it; an existing one must already record
// id (ErrTopicIDMismatch otherwise).
func claimDir(fsys vfs.FS, dir string, id metadata.TopicID) error {
	if _, err := fsys.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		if err := writeTopicID(fsys, dir, id); err != nil {
			return err
		}
		// The directory entry must reach the disk too, or a power loss
		// could take the partition with its synced segments.
		return fsys.SyncDir(filepath.Dir(dir))
	}
	got, ok, err := readTopicID(fsys, dir)
	if err != nil {
		// Not a mismatch: whose data this is cannot be told, so it is
		// neither adopted nor set aside (the partition stays offline).
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s records no topic id, want %s", ErrTopicIDMismatch, dir, id)
	}
	if got != id {
		return fmt.Errorf("%w: %s belongs to topic id %s, want %s", ErrTopicIDMismatch, dir, got, id)
	}
	return nil
}
