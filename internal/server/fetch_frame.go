package server

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/handler"
	"github.com/strom-broker/strom/internal/storage"
)

// The Fetch response encoder. kmsg's encoder needs the record bytes in
// memory; this one writes the framing into a buffer and leaves a hole for
// each partition's record set, which the writer fills from the segment
// file. It covers Fetch v4-16 (flexible from v12: compact arrays and
// strings, uvarint lengths, tagged fields) and must produce exactly the
// bytes kmsg would for the same response; fetch_frame_test.go holds it to
// that for every version.

// fileHole is a record set sent from a file at offset at of the framing
// buffer (before the byte at that offset).
type fileHole struct {
	at int
	rr *storage.ReadResult
}

// fetchEncoder holds the scratch space of one connection's encoder.
type fetchEncoder struct {
	holes   []fileHole
	scratch []byte // tagged-field values, sized before they are written
}

// appendFrame appends the whole response frame for r (size, correlation
// id, header tags, body) to dst and records the holes; it returns dst and
// the frame's total size on the wire (framing plus file bytes).
func (e *fetchEncoder) appendFrame(dst []byte, corr int32, flexibleHeader bool, r *handler.FetchResponse) ([]byte, int64) {
	e.holes = e.holes[:0]
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, corr)
	if flexibleHeader {
		dst = append(dst, 0)
	}
	var fileBytes int64
	dst = e.appendBody(dst, r, &fileBytes)
	size := int64(len(dst)-start) + fileBytes
	binary.BigEndian.PutUint32(dst[start:], uint32(size-4))
	return dst, size
}

func (e *fetchEncoder) appendBody(dst []byte, r *handler.FetchResponse, fileBytes *int64) []byte {
	v := r.FetchResponse
	version := v.Version
	flex := version >= 12
	if version >= 1 {
		dst = kbin.AppendInt32(dst, v.ThrottleMillis)
	}
	if version >= 7 {
		dst = kbin.AppendInt16(dst, v.ErrorCode)
		dst = kbin.AppendInt32(dst, v.SessionID)
	}
	dst = appendArrayLen(dst, len(v.Topics), flex)
	ri := 0
	for ti := range v.Topics {
		t := &v.Topics[ti]
		if version <= 12 {
			if flex {
				dst = kbin.AppendCompactString(dst, t.Topic)
			} else {
				dst = kbin.AppendString(dst, t.Topic)
			}
		} else {
			dst = kbin.AppendUuid(dst, t.TopicID)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flex)
		for pi := range t.Partitions {
			var rr *storage.ReadResult
			if ri < len(r.Ranges) && r.Ranges[ri].Size() > 0 {
				rr = &r.Ranges[ri]
			}
			ri++
			dst = e.appendPartition(dst, &t.Partitions[pi], rr, version, fileBytes)
		}
		if flex {
			dst = appendTags(dst, &t.UnknownTags)
		}
	}
	if flex {
		n := v.UnknownTags.Len()
		if len(v.Brokers) > 0 {
			n++
		}
		dst = kbin.AppendUvarint(dst, uint32(n))
		if len(v.Brokers) > 0 {
			s := kbin.AppendCompactArrayLen(e.scratch[:0], len(v.Brokers))
			for i := range v.Brokers {
				b := &v.Brokers[i]
				s = kbin.AppendInt32(s, b.NodeID)
				s = kbin.AppendCompactString(s, b.Host)
				s = kbin.AppendInt32(s, b.Port)
				s = kbin.AppendCompactNullableString(s, b.Rack)
				s = appendTags(s, &b.UnknownTags)
			}
			dst = e.appendTagged(dst, 0, s)
		}
		dst = v.UnknownTags.AppendEach(dst)
	}
	return dst
}

func (e *fetchEncoder) appendPartition(dst []byte, p *kmsg.FetchResponseTopicPartition, rr *storage.ReadResult, version int16, fileBytes *int64) []byte {
	flex := version >= 12
	dst = kbin.AppendInt32(dst, p.Partition)
	dst = kbin.AppendInt16(dst, p.ErrorCode)
	dst = kbin.AppendInt64(dst, p.HighWatermark)
	if version >= 4 {
		dst = kbin.AppendInt64(dst, p.LastStableOffset)
	}
	if version >= 5 {
		dst = kbin.AppendInt64(dst, p.LogStartOffset)
	}
	if version >= 4 {
		a := p.AbortedTransactions
		if flex {
			dst = kbin.AppendCompactNullableArrayLen(dst, len(a), a == nil)
		} else {
			dst = kbin.AppendNullableArrayLen(dst, len(a), a == nil)
		}
		for i := range a {
			dst = kbin.AppendInt64(dst, a[i].ProducerID)
			dst = kbin.AppendInt64(dst, a[i].FirstOffset)
			if flex {
				dst = appendTags(dst, &a[i].UnknownTags)
			}
		}
	}
	if version >= 11 {
		dst = kbin.AppendInt32(dst, p.PreferredReadReplica)
	}
	switch {
	case rr != nil:
		n := rr.Size()
		if flex {
			dst = kbin.AppendUvarint(dst, uint32(n)+1)
		} else {
			dst = kbin.AppendInt32(dst, int32(n))
		}
		e.holes = append(e.holes, fileHole{at: len(dst), rr: rr})
		*fileBytes += int64(n)
	case flex:
		dst = kbin.AppendCompactNullableBytes(dst, p.RecordBatches)
	default:
		dst = kbin.AppendNullableBytes(dst, p.RecordBatches)
	}
	if !flex {
		return dst
	}
	de, cl, sn := &p.DivergingEpoch, &p.CurrentLeader, &p.SnapshotID
	hasDE := de.Epoch != -1 || de.EndOffset != -1 || de.UnknownTags.Len() > 0
	hasCL := cl.LeaderID != -1 || cl.LeaderEpoch != -1 || cl.UnknownTags.Len() > 0
	hasSn := sn.EndOffset != -1 || sn.Epoch != -1 || sn.UnknownTags.Len() > 0
	n := p.UnknownTags.Len()
	for _, has := range [3]bool{hasDE, hasCL, hasSn} {
		if has {
			n++
		}
	}
	dst = kbin.AppendUvarint(dst, uint32(n))
	if hasDE {
		s := kbin.AppendInt32(e.scratch[:0], de.Epoch)
		s = kbin.AppendInt64(s, de.EndOffset)
		dst = e.appendTagged(dst, 0, appendTags(s, &de.UnknownTags))
	}
	if hasCL {
		s := kbin.AppendInt32(e.scratch[:0], cl.LeaderID)
		s = kbin.AppendInt32(s, cl.LeaderEpoch)
		dst = e.appendTagged(dst, 1, appendTags(s, &cl.UnknownTags))
	}
	if hasSn {
		s := kbin.AppendInt64(e.scratch[:0], sn.EndOffset)
		s = kbin.AppendInt32(s, sn.Epoch)
		dst = e.appendTagged(dst, 2, appendTags(s, &sn.UnknownTags))
	}
	return p.UnknownTags.AppendEach(dst)
}

// appendTagged appends one tagged field whose value is val (built in the
// scratch buffer, which it keeps for reuse).
func (e *fetchEncoder) appendTagged(dst []byte, tag uint32, val []byte) []byte {
	dst = kbin.AppendUvarint(dst, tag)
	dst = kbin.AppendUvarint(dst, uint32(len(val)))
	dst = append(dst, val...)
	e.scratch = val[:0]
	return dst
}

func appendArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return kbin.AppendCompactArrayLen(dst, n)
	}
	return kbin.AppendArrayLen(dst, n)
}

// appendTags appends the tag count and the tags of a struct with no tagged
// fields of its own.
func appendTags(dst []byte, t *kmsg.Tags) []byte {
	dst = kbin.AppendUvarint(dst, uint32(t.Len()))
	return t.AppendEach(dst)
}
