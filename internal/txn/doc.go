// Package txn is the transaction coordinator: the state of every
// transactional id whose __transaction_state partition this node leads,
// Kafka's state machine over it (state.go), the records that persist it
// (records.go), the driver that loads, writes and times out transactions
// (coordinator.go) and the sender of COMMIT/ABORT markers to partition
// leaders with WriteTxnMarkers requests (markers.go).
//
// Concurrency: Coordinator.mu guards every partition's transactions; it is
// never held across I/O. A transition is prepared under mu (the
// transaction's pending transit is set, which makes concurrent requests
// answer CONCURRENT_TRANSACTIONS), written to the log without mu, and
// completed under mu once durable, if the partition is still owned at the
// same coordinator epoch. Markers are sent from one goroutine per
// completing transaction, owned by the Coordinator (Stop waits for them).
package txn

import "github.com/strom-broker/strom/internal/errcode"

// Sentinel errors (defined in errcode, which gives each its Kafka code).
var (
	ErrConcurrentTransactions    = errcode.ErrConcurrentTransactions
	ErrProducerFenced            = errcode.ErrProducerFenced
	ErrInvalidProducerIDMapping  = errcode.ErrInvalidProducerIDMapping
	ErrInvalidTxnState           = errcode.ErrInvalidTxnState
	ErrInvalidTransactionTimeout = errcode.ErrInvalidTransactionTimeout
	ErrTransactionalIDNotFound   = errcode.ErrTransactionalIDNotFound
	ErrTransactionAbortable      = errcode.ErrTransactionAbortable
	ErrNotCoordinator            = errcode.ErrNotCoordinator
	ErrLoading                   = errcode.ErrLoading
	ErrCoordinatorNotAvailable   = errcode.ErrCoordinatorNotAvailable
)
