package diff

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kbin"
)

// baseTimestamp is the create time of the first record of every batch the
// tests build: fixed, so both brokers store identical bytes and answer
// timestamp lookups the same way.
const baseTimestamp int64 = 1_700_000_000_000

// batchOpts describe a v2 record batch built by makeBatch.
type batchOpts struct {
	pid   int64 // -1: not idempotent
	epoch int16
	seq   int32
	ts    int64 // first timestamp; 0 means baseTimestamp
}

var plain = batchOpts{pid: -1, epoch: -1, seq: -1}

// makeBatch encodes an uncompressed v2 batch holding one record per value,
// record i with timestamp ts+i. It is written here, not taken from the
// broker's record package, so the oracle shares no code with the broker.
func makeBatch(o batchOpts, values ...string) []byte {
	ts := o.ts
	if ts == 0 {
		ts = baseTimestamp
	}
	var recs []byte
	for i, v := range values {
		var r []byte
		r = append(r, 0)                    // attributes
		r = kbin.AppendVarlong(r, int64(i)) // timestamp delta
		r = kbin.AppendVarint(r, int32(i))  // offset delta
		r = kbin.AppendVarint(r, -1)        // null key
		r = kbin.AppendVarintString(r, v)   // value
		r = kbin.AppendVarint(r, 0)         // no headers
		recs = kbin.AppendVarint(recs, int32(len(r)))
		recs = append(recs, r...)
	}
	be := binary.BigEndian
	b := make([]byte, 0, 61+len(recs))
	b = be.AppendUint64(b, 0)                               // base offset
	b = be.AppendUint32(b, 0)                               // length, below
	b = be.AppendUint32(b, 0xffffffff)                      // partition leader epoch -1
	b = append(b, 2)                                        // magic
	b = be.AppendUint32(b, 0)                               // crc, below
	b = be.AppendUint16(b, 0)                               // attributes: no codec, create time
	b = be.AppendUint32(b, uint32(len(values)-1))           // last offset delta
	b = be.AppendUint64(b, uint64(ts))                      // first timestamp
	b = be.AppendUint64(b, uint64(ts+int64(len(values)-1))) // max timestamp
	b = be.AppendUint64(b, uint64(o.pid))
	b = be.AppendUint16(b, uint16(o.epoch))
	b = be.AppendUint32(b, uint32(o.seq))
	b = be.AppendUint32(b, uint32(len(values)))
	b = append(b, recs...)
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// batchInfo describes one batch of a fetch response for comparison; the
// bytes themselves are compared too, through their checksum.
type batchInfo struct {
	BaseOffset           int64
	LastOffsetDelta      int32
	Length               int32
	PartitionLeaderEpoch int32
	Attributes           int16
	CRC                  uint32
	Records              int32
}

// splitBatches parses the whole batches in records and reports how many
// trailing bytes belong to no whole batch.
func splitBatches(records []byte) (out []batchInfo, partial int) {
	be := binary.BigEndian
	for len(records) >= 61 {
		n := int(int32(be.Uint32(records[8:]))) + 12
		if n < 61 || n > len(records) {
			break
		}
		b := records[:n]
		out = append(out, batchInfo{
			BaseOffset:           int64(be.Uint64(b)),
			Length:               int32(be.Uint32(b[8:])),
			PartitionLeaderEpoch: int32(be.Uint32(b[12:])),
			CRC:                  be.Uint32(b[17:]),
			Attributes:           int16(be.Uint16(b[21:])),
			LastOffsetDelta:      int32(be.Uint32(b[23:])),
			Records:              int32(be.Uint32(b[57:])),
		})
		records = records[n:]
	}
	return out, len(records)
}

// fixCRC recomputes the CRC of a batch after a test changed it.
func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// gzipBatch re-encodes a batch from makeBatch with its records gzipped
// (codec 1); payload, when non-nil, replaces the compressed records.
func gzipBatch(plain []byte, payload []byte) []byte {
	recs := plain[61:]
	if payload == nil {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(recs)
		w.Close()
		payload = buf.Bytes()
	}
	b := append(append([]byte{}, plain[:61]...), payload...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint16(b[21:], 1)
	return fixCRC(b)
}
