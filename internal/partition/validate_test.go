package partition

import (
	"errors"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/record"
)

// build is one batch of recs with options o.
func build(t *testing.T, o record.BatchOptions, recs ...record.Record) []byte {
	t.Helper()
	if o.ProducerID == 0 {
		o.ProducerID, o.ProducerEpoch, o.BaseSequence = -1, -1, -1
	}
	o.FirstTimestamp = 1000
	b, err := record.AppendBatch(nil, o, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckBatch(t *testing.T) {
	def := config.Default().Log.TopicConfig()
	small := def
	small.MaxMessageBytes = 100
	compacted := def
	compacted.Cleanup = config.CleanupPolicy{Compact: true}
	keyed := record.Record{Key: []byte("k"), Value: []byte("v")}
	unkeyed := record.Record{Value: []byte("v")}

	corrupt := build(t, record.BatchOptions{}, unkeyed)
	corrupt[len(corrupt)-1] ^= 0xff
	badGzip := build(t, record.BatchOptions{Codec: record.CodecGzip}, unkeyed)
	copy(badGzip[record.BatchHeaderSize:], "not gzip")
	record.UpdateCRC(badGzip)
	one := build(t, record.BatchOptions{}, unkeyed)
	large := build(t, record.BatchOptions{}, record.Record{Value: make([]byte, 200)})

	for _, tc := range []struct {
		name   string
		batch  []byte
		origin Origin
		cfg    config.TopicConfig
		want   error
	}{
		{"valid", one, FromClient, def, nil},
		{"no batch", nil, FromClient, def, ErrInvalidRecord},
		{"corrupt CRC", corrupt, FromClient, def, record.ErrCorrupt},
		{"codec frame", badGzip, FromClient, def, record.ErrBadCompression},
		{"two batches", append(build(t, record.BatchOptions{}, unkeyed), one...), FromClient, def, ErrInvalidRecord},
		{"no records", build(t, record.BatchOptions{}), FromClient, def, ErrInvalidRecord},
		{"control batch", build(t, record.BatchOptions{Control: true}, keyed), FromClient, def, ErrInvalidRecord},
		{"transactional without producer", build(t, record.BatchOptions{Transactional: true, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, keyed), FromClient, def, ErrInvalidRecord},
		{"over max.message.bytes", large, FromClient, small, ErrRecordTooLarge},
		{"compacted, no key", build(t, record.BatchOptions{}, keyed, unkeyed), FromClient, compacted, ErrInvalidRecord},
		{"compacted, keys", build(t, record.BatchOptions{Codec: record.CodecZstd}, keyed, keyed), FromClient, compacted, nil},
		// A coordinator's batch is checked for framing and CRC only.
		{"coordinator, large", large, FromCoordinator, small, nil},
		{"coordinator, corrupt", corrupt, FromCoordinator, def, record.ErrCorrupt},
		{"coordinator, two batches", append(build(t, record.BatchOptions{}, unkeyed), one...), FromCoordinator, def, ErrInvalidRecord},
	} {
		h, err := checkBatch(tc.batch, tc.origin, tc.cfg, time.Now())
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err == nil {
			if want, _ := record.Validate(tc.batch); h != want {
				t.Errorf("%s: header %+v, want %+v", tc.name, h, want)
			}
		}
	}
}

// TestAppendLogAppendTime: a LogAppendTime topic stamps the batch, its
// header goes down to the log stamped (the time index), and a retry is
// answered with the first stamp.
func TestAppendLogAppendTime(t *testing.T) {
	im := image(1, []ids.NodeID{1}, []ids.NodeID{1})
	im.Topics["t"].Configs = map[string]string{"message.timestamp.type": "LogAppendTime"}
	reg, _ := newNode(t, 1, im, time.Minute)
	p := reg.Get("t", 0)
	before := time.Now().UnixMilli()
	res, err := p.Append(batch(t, 2, 9, 0, "a"), FromClient)
	must(t, err)
	if res.LogAppendTime < before || res.LogAppendTime > time.Now().UnixMilli() {
		t.Fatalf("LogAppendTime %d, want the append time (from %d)", res.LogAppendTime, before)
	}
	if ts, off := p.MaxTimestamp(); ts != res.LogAppendTime || off != 0 {
		t.Fatalf("log max timestamp %d at %d, want %d at 0", ts, off, res.LogAppendTime)
	}
	retry, err := p.Append(batch(t, 2, 9, 0, "a"), FromClient)
	must(t, err)
	if !retry.Duplicate || retry.LogAppendTime != res.LogAppendTime || retry.BaseOffset != 0 {
		t.Fatalf("retry %+v, want the duplicate of %+v", retry, res)
	}
}

// TestAppendChecksBeforeRole: a follower answers a bad batch with the
// batch's error and a good one with ErrNotLeader, in the order the produce
// handler always checked them.
func TestAppendChecksBeforeRole(t *testing.T) {
	reg, _ := newNode(t, 1, image(2, []ids.NodeID{1, 2}, []ids.NodeID{1, 2}), time.Minute)
	p := reg.Get("t", 0)
	if _, err := p.Append(nil, FromClient); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("empty batch to a follower: %v, want ErrInvalidRecord", err)
	}
	if _, err := p.Append(batch(t, 1, -1, -1, "a"), FromClient); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("batch to a follower: %v, want ErrNotLeader", err)
	}
}
