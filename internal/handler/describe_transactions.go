package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions v0.
//
// Describes the transactional ids this node coordinates (clients find the
// coordinator first): NOT_COORDINATOR for others,
// TRANSACTIONAL_ID_NOT_FOUND for unknown ones, INVALID_REQUEST for "".

func init() { register(kmsg.DescribeTransactions, 0, 0, serveDescribeTransactions) }

func serveDescribeTransactions(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = id // on an error the rest stays 0, as Kafka's
		switch {
		case id == "":
			s.ErrorCode = kerr.InvalidRequest.Code
		case e.Txns == nil:
			s.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			d, err := e.Txns.Describe(id)
			if err != nil {
				s.ErrorCode = e.errCode(err)
				break
			}
			s.State, s.TimeoutMillis, s.StartTimestamp = d.State.String(), d.TimeoutMs, d.StartMs
			s.ProducerID, s.ProducerEpoch = d.ProducerID, d.Epoch
			for _, tp := range d.Partitions {
				if n := len(s.Topics); n == 0 || s.Topics[n-1].Topic != tp.Topic {
					t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					t.Topic = tp.Topic
					s.Topics = append(s.Topics, t)
				}
				last := &s.Topics[len(s.Topics)-1]
				last.Partitions = append(last.Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return Now(resp)
}
