package txn

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record schema versions written, as Kafka 4.x writes them: key v0
// (TransactionLogKey), value v1 (TransactionLogValue, flexible, with the
// tagged previous/next producer ids and client transaction version).
const (
	keyVersion   = 0
	valueVersion = 1
)

// recordKey is the __transaction_state key of a transactional id.
func recordKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version, k.TransactionalID = keyVersion, id
	return k.AppendTo(nil)
}

// recordValue is the value t is written as; a Dead transit is a tombstone
// (nil), as Kafka writes an expired id.
func recordValue(t Transit) []byte {
	if t.State == Dead {
		return nil
	}
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = t.ProducerID, t.Epoch, t.TimeoutMs
	v.State = kmsg.TransactionState(t.State)
	v.PreviousProducerID, v.NextProducerID = t.PrevProducerID, t.NextProducerID
	v.ClientTransactionVersion = t.TV
	v.LastUpdateTimestamp, v.StartTimestamp = t.UpdateMs, t.StartMs
	// Kafka writes no partitions for Empty and Complete* (null list).
	if t.State != Empty && t.State != CompleteCommit && t.State != CompleteAbort {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for _, tp := range t.Partitions {
			if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
				v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic})
			}
			last := &v.Topics[len(v.Topics)-1]
			last.Partitions = append(last.Partitions, tp.Partition)
		}
	}
	return v.AppendTo(nil)
}

// decodeRecord parses a __transaction_state record: the transactional id,
// and the transit it stores (ok false for a tombstone).
func decodeRecord(key, value []byte) (id string, t Transit, ok bool, err error) {
	if len(key) < 2 {
		return "", t, false, fmt.Errorf("%s key of %d bytes", "__transaction_state", len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != 0 {
		return "", t, false, fmt.Errorf("__transaction_state key version %d", v)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", t, false, fmt.Errorf("decode transaction key: %w", err)
	}
	if value == nil {
		return k.TransactionalID, t, false, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", t, false, fmt.Errorf("decode transaction value of %q: %w", k.TransactionalID, err)
	}
	if v.State < 0 || v.State > kmsg.TransactionState(PrepareEpochFence) {
		return "", t, false, fmt.Errorf("transaction %q: unknown state %d", k.TransactionalID, v.State)
	}
	t = Transit{
		ProducerID: v.ProducerID, PrevProducerID: v.PreviousProducerID, NextProducerID: v.NextProducerID,
		Epoch: v.ProducerEpoch, LastEpoch: noProducerEpoch, TimeoutMs: v.TimeoutMillis, State: State(v.State),
		StartMs: v.StartTimestamp, UpdateMs: v.LastUpdateTimestamp, TV: v.ClientTransactionVersion,
	}
	if v.Version == 0 {
		t.PrevProducerID, t.NextProducerID, t.TV = noProducerID, noProducerID, 0
	}
	for _, tt := range v.Topics {
		for _, p := range tt.Partitions {
			t.Partitions = append(t.Partitions, TopicPartition{tt.Topic, p})
		}
	}
	return k.TransactionalID, t, true, nil
}
