package record

import (
	"errors"
	"testing"
)

func TestCheckCompressionFrame(t *testing.T) {
	recs := []Record{{Key: []byte("k"), Value: []byte("a value long enough to compress, a value long enough to compress")}}
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b, err := AppendBatch(nil, BatchOptions{Codec: c, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
		if err != nil {
			t.Fatal(err)
		}
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckCompressionFrame(b, h); err != nil {
			t.Errorf("%s: valid batch refused: %v", c, err)
		}
		if c == CodecNone {
			continue
		}
		// Garbage in place of the compressed payload, with a valid CRC.
		bad := append([]byte(nil), b...)
		for i := BatchHeaderSize; i < len(bad); i++ {
			bad[i] = 0xff
		}
		UpdateCRC(bad)
		h, err = Validate(bad)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckCompressionFrame(bad, h); !errors.Is(err, ErrBadCompression) {
			t.Errorf("%s: garbage payload: got %v, want ErrBadCompression", c, err)
		}
	}
}
