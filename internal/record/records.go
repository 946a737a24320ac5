package record

import (
	"encoding/binary"
	"fmt"
)

// Record is one decoded record. Key, Value and header values alias the batch
// (or its decompressed copy) and are valid only during the callback; Key is nil
// for a null key and Value nil for a null value.
type Record struct {
	Attributes     int8
	OffsetDelta    int32
	TimestampDelta int64
	Key, Value     []byte
	Headers        []Header
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Records decodes the records of one batch, decompressing if needed, and calls
// fn for each in order. The batch is not CRC-checked here (see Validate).
// Decoding errors wrap ErrCorrupt; an error from fn is returned as is.
// The Record and its Headers slice are reused between calls.
func Records(batch []byte, fn func(r Record) error) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.Length < minLength || int64(h.Length)+LogOverhead > int64(len(batch)) {
		return fmt.Errorf("decode records: length %d with %d bytes: %w", h.Length, len(batch), ErrCorrupt)
	}
	if h.NumRecords < 0 {
		return fmt.Errorf("decode records: %d records: %w", h.NumRecords, ErrCorrupt)
	}
	data, err := Decompress(h.Codec(), batch[BatchHeaderSize:h.TotalSize()])
	if err != nil {
		return fmt.Errorf("decode records: %w", err)
	}
	d := decoder{b: data}
	var hdrs []Header
	for i := int32(0); i < h.NumRecords; i++ {
		var r Record
		r, hdrs, err = d.record(hdrs[:0])
		if err != nil {
			return fmt.Errorf("decode records: record %d of %d: %w", i, h.NumRecords, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if len(d.b) != 0 {
		return fmt.Errorf("decode records: %d trailing bytes: %w", len(d.b), ErrCorrupt)
	}
	return nil
}

type decoder struct{ b []byte }

func (d *decoder) varint() (int64, error) {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		return 0, fmt.Errorf("bad varint: %w", ErrCorrupt)
	}
	d.b = d.b[n:]
	return v, nil
}

func (d *decoder) int32() (int32, error) {
	v, err := d.varint()
	if err != nil {
		return 0, err
	}
	if v != int64(int32(v)) {
		return 0, fmt.Errorf("varint %d overflows int32: %w", v, ErrCorrupt)
	}
	return int32(v), nil
}

// bytes reads a varint length and that many bytes; -1 means null.
func (d *decoder) bytes() ([]byte, error) {
	n, err := d.varint()
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return nil, nil
	}
	if n < 0 || n > int64(len(d.b)) {
		return nil, fmt.Errorf("field length %d with %d bytes left: %w", n, len(d.b), ErrCorrupt)
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v, nil
}

func (d *decoder) record(hdrs []Header) (Record, []Header, error) {
	var r Record
	length, err := d.varint()
	if err != nil {
		return r, hdrs, err
	}
	if length < 1 || length > int64(len(d.b)) {
		return r, hdrs, fmt.Errorf("record length %d with %d bytes left: %w", length, len(d.b), ErrCorrupt)
	}
	rest := d.b[length:]
	d.b = d.b[:length]
	r.Attributes = int8(d.b[0])
	d.b = d.b[1:]
	if r.TimestampDelta, err = d.varint(); err != nil {
		return r, hdrs, err
	}
	if r.OffsetDelta, err = d.int32(); err != nil {
		return r, hdrs, err
	}
	if r.Key, err = d.bytes(); err != nil {
		return r, hdrs, err
	}
	if r.Value, err = d.bytes(); err != nil {
		return r, hdrs, err
	}
	nh, err := d.int32()
	if err != nil {
		return r, hdrs, err
	}
	if nh < 0 || int(nh) > len(d.b) {
		return r, hdrs, fmt.Errorf("%d headers with %d bytes left: %w", nh, len(d.b), ErrCorrupt)
	}
	for range nh {
		k, err := d.bytes()
		if err != nil {
			return r, hdrs, err
		}
		if k == nil {
			return r, hdrs, fmt.Errorf("null header key: %w", ErrCorrupt)
		}
		v, err := d.bytes()
		if err != nil {
			return r, hdrs, err
		}
		hdrs = append(hdrs, Header{Key: string(k), Value: v})
	}
	if len(d.b) != 0 {
		return r, hdrs, fmt.Errorf("%d bytes left in record: %w", len(d.b), ErrCorrupt)
	}
	r.Headers = hdrs
	d.b = rest
	return r, hdrs, nil
}
