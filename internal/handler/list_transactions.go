package handler

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/txn"
)

// ListTransactions v0-2.
//
// Lists the transactions this node coordinates (admin clients ask every
// broker), filtered by state (unknown state names are echoed in
// UnknownStateFilters and match nothing), producer id, from v1 by running
// time (longer than the filter, measured from the start timestamp as Kafka
// does) and from v2 by a
// transactional-id regular expression matching the whole id (Go's RE2 for
// Kafka's RE2/J; an invalid one is INVALID_REGULAR_EXPRESSION). While a
// partition is loading the answer is COORDINATOR_LOAD_IN_PROGRESS.

func init() { register(kmsg.ListTransactions, 0, 2, serveListTransactions) }

func serveListTransactions(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	if e.Txns == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return Now(resp)
	}
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		p, err := regexp.Compile("^(?:" + *req.TransactionalIDPattern + ")$")
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return Now(resp)
		}
		pattern = p
	}
	if e.Txns.Loading() {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return Now(resp)
	}
	var states []txn.State
	unknownOnly := false
	for _, name := range req.StateFilters {
		s, ok := txn.ParseState(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		states = append(states, s)
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		unknownOnly = true // every filter unknown: nothing matches
	}
	minDuration := int64(-1)
	if req.Version >= 1 {
		minDuration = req.DurationFilterMillis
	}
	if unknownOnly {
		return Now(resp)
	}
	for _, l := range e.Txns.List(states, req.ProducerIDFilters, minDuration) {
		if pattern != nil && !pattern.MatchString(l.ID) {
			continue
		}
		s := kmsg.NewListTransactionsResponseTransactionState()
		s.TransactionalID, s.ProducerID, s.TransactionState = l.ID, l.ProducerID, l.State.String()
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return Now(resp)
}
