package authz

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// denyAll refuses the whole of req: the handler is not run and the answer
// is code for every entry of req (see refuse).
func denyAll(req kmsg.Request, code int16) Verdict {
	return Verdict{Deny: true, Fix: func(resp kmsg.Response) { refuse(req, resp, code) }}
}

// denyCode refuses the whole request with code as its top-level error
// only (see setErrorCode).
func denyCode(code int16) Verdict {
	return Verdict{Deny: true, Fix: func(resp kmsg.Response) { setErrorCode(resp, code) }}
}

// refusePart lets the handler serve what is left of a request and adds
// to its answer code for every entry of denied: a copy of the request
// holding only the refused entries.
func refusePart(denied kmsg.Request, code int16) Verdict {
	return Verdict{Fix: func(resp kmsg.Response) { refuse(denied, resp, code) }}
}

// split parts items into those ok keeps and those it refuses, each in
// request order (nil when empty).
func split[T any](items []T, ok func(T) bool) (kept, denied []T) {
	for _, it := range items {
		if ok(it) {
			kept = append(kept, it)
		} else {
			denied = append(denied, it)
		}
	}
	return kept, denied
}

// refuse adds to resp an answer of code for every entry of req (topic
// partitions, groups, users, ...), as Kafka's getErrorResponse; a
// response with no entries per request entry gets code as its
// top-level error (setErrorCode).
func refuse(req kmsg.Request, resp kmsg.Response, code int16) {
	if fill, ok := refusals[kmsg.Key(req.Key())]; ok {
		fill(req, resp, code)
		return
	}
	setErrorCode(resp, code)
}

// refusals is the table of how each API's answer refuses every entry
// of its request.
var refusals = map[kmsg.Key]func(req kmsg.Request, resp kmsg.Response, code int16){
	kmsg.Produce: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.ProduceResponse)
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.Fetch: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.FetchResponse)
		for _, t := range req.(*kmsg.FetchRequest).Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rp.AbortedTransactions, rp.RecordBatches = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}, []byte{}
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.ListOffsets: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range req.(*kmsg.ListOffsetsRequest).Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.OffsetCommit: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.OffsetCommitResponse)
		for _, t := range req.(*kmsg.OffsetCommitRequest).Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.TxnOffsetCommit: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.TxnOffsetCommitResponse)
		for _, t := range req.(*kmsg.TxnOffsetCommitRequest).Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.OffsetDelete: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.OffsetDeleteResponse)
		for _, t := range req.(*kmsg.OffsetDeleteRequest).Topics {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.OffsetForLeaderEpoch: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range req.(*kmsg.OffsetForLeaderEpochRequest).Topics {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, code, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.DeleteRecords: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.DeleteRecordsResponse)
		for _, t := range req.(*kmsg.DeleteRecordsRequest).Topics {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, code, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.DescribeProducers: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.DescribeProducersResponse)
		for _, t := range req.(*kmsg.DescribeProducersRequest).Topics {
			rt := kmsg.NewDescribeProducersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDescribeProducersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.ElectLeaders: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.ElectLeadersResponse)
		r.ErrorCode = code
		for _, t := range req.(*kmsg.ElectLeadersRequest).Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.WriteTxnMarkers: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.WriteTxnMarkersResponse)
		for _, m := range req.(*kmsg.WriteTxnMarkersRequest).Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, t := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition, rp.ErrorCode = p, code
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			r.Markers = append(r.Markers, rm)
		}
	},
	kmsg.CreatePartitions: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.CreatePartitionsResponse)
		for _, t := range req.(*kmsg.CreatePartitionsRequest).Topics {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, code
			r.Topics = append(r.Topics, rt)
		}
	},
	kmsg.DeleteGroups: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range req.(*kmsg.DeleteGroupsRequest).Groups {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, code
			r.Groups = append(r.Groups, rg)
		}
	},
	kmsg.DescribeGroups: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.DescribeGroupsResponse)
		for _, g := range req.(*kmsg.DescribeGroupsRequest).Groups {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, code
			r.Groups = append(r.Groups, rg)
		}
	},
	kmsg.ConsumerGroupDescribe: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.ConsumerGroupDescribeResponse)
		for _, g := range req.(*kmsg.ConsumerGroupDescribeRequest).Groups {
			rg := kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group, rg.ErrorCode = g, code
			r.Groups = append(r.Groups, rg)
		}
	},
	kmsg.DescribeTransactions: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.DescribeTransactionsResponse)
		for _, id := range req.(*kmsg.DescribeTransactionsRequest).TransactionalIDs {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = id, code // the rest 0, as Kafka's
			r.TransactionStates = append(r.TransactionStates, st)
		}
	},
	kmsg.FindCoordinator: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.FindCoordinatorResponse)
		for _, k := range req.(*kmsg.FindCoordinatorRequest).CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
			r.Coordinators = append(r.Coordinators, c)
		}
	},
	kmsg.CreateACLs: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.CreateACLsResponse)
		for range req.(*kmsg.CreateACLsRequest).Creations {
			res := kmsg.NewCreateACLsResponseResult()
			res.ErrorCode = code
			r.Results = append(r.Results, res)
		}
	},
	kmsg.DeleteACLs: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.DeleteACLsResponse)
		for range req.(*kmsg.DeleteACLsRequest).Filters {
			res := kmsg.NewDeleteACLsResponseResult()
			res.ErrorCode = code
			r.Results = append(r.Results, res)
		}
	},
	kmsg.DescribeUserSCRAMCredentials: func(req kmsg.Request, resp kmsg.Response, code int16) {
		// As Kafka's getErrorResponse: a result per user asked for,
		// with the code and no name.
		r := resp.(*kmsg.DescribeUserSCRAMCredentialsResponse)
		r.ErrorCode = code
		for range req.(*kmsg.DescribeUserSCRAMCredentialsRequest).Users {
			res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.ErrorCode = code
			r.Results = append(r.Results, res)
		}
	},
	kmsg.AlterUserSCRAMCredentials: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.AlterUserSCRAMCredentialsResponse)
		q := req.(*kmsg.AlterUserSCRAMCredentialsRequest)
		seen := map[string]bool{}
		add := func(u string) {
			if seen[u] {
				return
			}
			seen[u] = true
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = u, code
			r.Results = append(r.Results, res)
		}
		for _, d := range q.Deletions {
			add(d.Name)
		}
		for _, u := range q.Upsertions {
			add(u.Name)
		}
	},
	kmsg.AlterClientQuotas: func(req kmsg.Request, resp kmsg.Response, code int16) {
		r := resp.(*kmsg.AlterClientQuotasResponse)
		for _, e := range req.(*kmsg.AlterClientQuotasRequest).Entries {
			out := kmsg.NewAlterClientQuotasResponseEntry()
			msg := kerr.TypedErrorForCode(code).Description
			out.ErrorCode, out.ErrorMessage = code, &msg
			for _, c := range e.Entity {
				ee := kmsg.NewAlterClientQuotasResponseEntryEntity()
				ee.Type, ee.Name = c.Type, c.Name
				out.Entity = append(out.Entity, ee)
			}
			r.Entries = append(r.Entries, out)
		}
	},
}

// keep filters items in place to those ok keeps.
func keep[T any](items []T, ok func(T) bool) []T {
	out := items[:0]
	for _, it := range items {
		if ok(it) {
			out = append(out, it)
		}
	}
	return out
}
