package handler

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/partition"
)

// FetchResponse is a Fetch response whose record sets stay in the log until
// the response is written: AppendFrame frames the response and leaves a
// hole for each record set, which the server fills straight from its
// segment file (sendfile), so record bytes are never copied through
// memory. It holds a reference on every range's file: whoever takes the
// response must call Release once it is written or dropped.
//
// The encoder covers Fetch v4-16 (flexible from v12: compact arrays and
// strings, uvarint lengths, tagged fields) and must produce exactly the
// bytes kmsg would for the same response (kmsg's encoder needs the record
// bytes in memory); fetch_frame_test.go holds it to that for every version.
type FetchResponse struct {
	*kmsg.FetchResponse
	// Ranges has one entry per partition in response order (every
	// partition of Topics[0], then of Topics[1], ...): the log range that
	// is the partition's record set. A partition with a non-empty range
	// has empty RecordBatches; an empty range means RecordBatches holds the
	// records. Ranges may be shorter than the partition count (missing
	// entries are empty).
	Ranges []partition.Records
}

// newFetchResponse returns an empty response of version to hold up to n
// partitions, allocated with its kmsg body.
func newFetchResponse(version int16, n int) *FetchResponse {
	both := &struct {
		r    FetchResponse
		body kmsg.FetchResponse
	}{}
	both.body.Default()
	both.body.Version = version
	both.r.FetchResponse = &both.body
	both.r.Ranges = make([]partition.Records, 0, n)
	return &both.r
}

// Release drops the references on the ranges' files.
func (r *FetchResponse) Release() {
	for i := range r.Ranges {
		r.Ranges[i].Release()
	}
}

// AppendTo encodes the response with the ranges read into memory, for
// writers that cannot send from files. A range that cannot be read is
// encoded as an empty record set.
func (r *FetchResponse) AppendTo(dst []byte) []byte {
	if len(r.Ranges) == 0 {
		return r.FetchResponse.AppendTo(dst)
	}
	type held struct {
		p    *kmsg.FetchResponseTopicPartition
		orig []byte
	}
	var swapped []held
	i := 0
	for ti := range r.Topics {
		for pi := range r.Topics[ti].Partitions {
			if i < len(r.Ranges) && r.Ranges[i].Size() > 0 {
				p := &r.Topics[ti].Partitions[pi]
				swapped = append(swapped, held{p, p.RecordBatches})
				if buf, err := r.Ranges[i].AppendTo(nil); err == nil {
					p.RecordBatches = buf
				}
			}
			i++
		}
	}
	dst = r.FetchResponse.AppendTo(dst)
	for _, h := range swapped {
		h.p.RecordBatches = h.orig
	}
	return dst
}

// Frame is the scratch space of one connection's framed responses, reused
// from one response to the next.
type Frame struct {
	// Holes are the record sets of the frame last appended, in order.
	Holes   []Hole
	scratch []byte // tagged-field values, sized before they are written
}

// Hole is a record set sent from its file before the byte at offset At of
// the buffer the frame was appended to.
type Hole struct {
	At      int
	Records *partition.Records
}

// AppendFrame appends the whole response frame (size, correlation id,
// header tags, body) to dst, leaving out the bytes of the record sets,
// which it lists in f.Holes; the size counts them.
func (r *FetchResponse) AppendFrame(dst []byte, corr int32, flexibleHeader bool, f *Frame) []byte {
	f.Holes = f.Holes[:0]
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, corr)
	if flexibleHeader {
		dst = append(dst, 0)
	}
	var fileBytes int64
	dst = f.appendBody(dst, r, &fileBytes)
	size := int64(len(dst)-start) + fileBytes
	binary.BigEndian.PutUint32(dst[start:], uint32(size-4))
	return dst
}

func (f *Frame) appendBody(dst []byte, r *FetchResponse, fileBytes *int64) []byte {
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
			var rr *partition.Records
			if ri < len(r.Ranges) && r.Ranges[ri].Size() > 0 {
				rr = &r.Ranges[ri]
			}
			ri++
			dst = f.appendPartition(dst, &t.Partitions[pi], rr, version, fileBytes)
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
			s := kbin.AppendCompactArrayLen(f.scratch[:0], len(v.Brokers))
			for i := range v.Brokers {
				b := &v.Brokers[i]
				s = kbin.AppendInt32(s, b.NodeID)
				s = kbin.AppendCompactString(s, b.Host)
				s = kbin.AppendInt32(s, b.Port)
				s = kbin.AppendCompactNullableString(s, b.Rack)
				s = appendTags(s, &b.UnknownTags)
			}
			dst = f.appendTagged(dst, 0, s)
		}
		dst = v.UnknownTags.AppendEach(dst)
	}
	return dst
}

func (f *Frame) appendPartition(dst []byte, p *kmsg.FetchResponseTopicPartition, rr *partition.Records, version int16, fileBytes *int64) []byte {
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
		f.Holes = append(f.Holes, Hole{At: len(dst), Records: rr})
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
		s := kbin.AppendInt32(f.scratch[:0], de.Epoch)
		s = kbin.AppendInt64(s, de.EndOffset)
		dst = f.appendTagged(dst, 0, appendTags(s, &de.UnknownTags))
	}
	if hasCL {
		s := kbin.AppendInt32(f.scratch[:0], cl.LeaderID)
		s = kbin.AppendInt32(s, cl.LeaderEpoch)
		dst = f.appendTagged(dst, 1, appendTags(s, &cl.UnknownTags))
	}
	if hasSn {
		s := kbin.AppendInt64(f.scratch[:0], sn.EndOffset)
		s = kbin.AppendInt32(s, sn.Epoch)
		dst = f.appendTagged(dst, 2, appendTags(s, &sn.UnknownTags))
	}
	return p.UnknownTags.AppendEach(dst)
}

// appendTagged appends one tagged field whose value is val (built in the
// scratch buffer, which it keeps for reuse).
func (f *Frame) appendTagged(dst []byte, tag uint32, val []byte) []byte {
	dst = kbin.AppendUvarint(dst, tag)
	dst = kbin.AppendUvarint(dst, uint32(len(val)))
	dst = append(dst, val...)
	f.scratch = val[:0]
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
