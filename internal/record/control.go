package record

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ControlType is the type in a control record's key (Kafka's
// ControlRecordType): a transaction marker ends a transaction.
type ControlType int16

// Control record types of transaction markers, as Kafka numbers them.
const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

// Marker is an end-transaction marker: the one record of a control batch
// a coordinator writes to end a producer's transaction on a partition.
// Key: version int16 (0), type int16. Value: version int16 (0),
// coordinator epoch int32 (Kafka's EndTransactionMarker).
type Marker struct {
	Type             ControlType
	CoordinatorEpoch int32
}

// Commit reports whether the marker commits its transaction.
func (m Marker) Commit() bool { return m.Type == ControlCommit }

// controlKeySize and markerValueSize are the sizes of version 0 of the key
// and value; longer ones (later versions) are read by their first fields,
// as Kafka does.
const (
	controlKeySize  = 4
	markerValueSize = 6
)

// AppendMarkerBatch appends a control batch holding one end-transaction
// marker of producer id/epoch with the given timestamp, transactional and
// uncompressed, as Kafka's MemoryRecords.withEndTransactionMarker builds it.
func AppendMarkerBatch(dst []byte, producerID int64, producerEpoch int16, ts int64, m Marker) []byte {
	key := binary.BigEndian.AppendUint16(make([]byte, 0, controlKeySize), 0)
	key = binary.BigEndian.AppendUint16(key, uint16(m.Type))
	val := binary.BigEndian.AppendUint16(make([]byte, 0, markerValueSize), 0)
	val = binary.BigEndian.AppendUint32(val, uint32(m.CoordinatorEpoch))
	out, err := AppendBatch(dst, BatchOptions{
		FirstTimestamp: ts, ProducerID: producerID, ProducerEpoch: producerEpoch,
		BaseSequence: -1, Transactional: true, Control: true,
	}, []Record{{Key: key, Value: val}})
	if err != nil { // uncompressed batches cannot fail
		panic(err)
	}
	return out
}

// ParseMarker reads the end-transaction marker of a control batch. A
// control batch without records (the cleaner may leave one) or of another
// control type gives ok false; a malformed key or value is ErrCorrupt.
func ParseMarker(batch []byte) (m Marker, ok bool, err error) {
	errStop := errors.New("stop")
	err = Records(batch, func(r Record) error {
		if len(r.Key) < controlKeySize {
			return fmt.Errorf("control record key of %d bytes: %w", len(r.Key), ErrCorrupt)
		}
		if v := int16(binary.BigEndian.Uint16(r.Key)); v < 0 {
			return fmt.Errorf("control record key version %d: %w", v, ErrCorrupt)
		}
		t := ControlType(binary.BigEndian.Uint16(r.Key[2:]))
		if t != ControlAbort && t != ControlCommit {
			return errStop
		}
		if len(r.Value) < markerValueSize {
			return fmt.Errorf("end transaction marker value of %d bytes: %w", len(r.Value), ErrCorrupt)
		}
		if v := int16(binary.BigEndian.Uint16(r.Value)); v < 0 {
			return fmt.Errorf("end transaction marker version %d: %w", v, ErrCorrupt)
		}
		m = Marker{Type: t, CoordinatorEpoch: int32(binary.BigEndian.Uint32(r.Value[2:]))}
		ok = true
		return errStop
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return m, ok, err
}
