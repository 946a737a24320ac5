package handler

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestProduceVerifyCode: what a producer is told when the coordinator did
// not confirm its partition, as Kafka's ReplicaManager translates it.
func TestProduceVerifyCode(t *testing.T) {
	for _, tc := range []struct {
		code, version int16
		want          int16
	}{
		{kerr.CoordinatorNotAvailable.Code, 12, kerr.NotEnoughReplicas.Code},
		{kerr.NotCoordinator.Code, 12, kerr.NotEnoughReplicas.Code},
		{kerr.CoordinatorLoadInProgress.Code, 12, kerr.NotEnoughReplicas.Code},
		{kerr.ConcurrentTransactions.Code, 12, kerr.NotEnoughReplicas.Code},
		{kerr.NetworkException.Code, 3, kerr.NotEnoughReplicas.Code},
		{kerr.InvalidTxnState.Code, 12, kerr.InvalidTxnState.Code},
		{kerr.InvalidProducerEpoch.Code, 12, kerr.InvalidProducerEpoch.Code},
		{kerr.TransactionAbortable.Code, 10, kerr.InvalidTxnState.Code},
		{kerr.TransactionAbortable.Code, 11, kerr.TransactionAbortable.Code},
		{kerr.InvalidProducerIDMapping.Code, 12, kerr.InvalidProducerIDMapping.Code},
	} {
		if got := produceVerifyCode(tc.code, tc.version); got != tc.want {
			t.Errorf("code %d at Produce v%d: %d, want %d", tc.code, tc.version, got, tc.want)
		}
	}
}
