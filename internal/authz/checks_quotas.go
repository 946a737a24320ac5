package authz

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkDescribeClientQuotas needs DESCRIBE_CONFIGS on the cluster; a
// denial is the request's error (Kafka's KafkaApis).
func checkDescribeClientQuotas(s Subject, _ kmsg.Request) Verdict {
	if s.cluster(kmsg.ACLOperationDescribeConfigs) {
		return Verdict{}
	}
	return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.DescribeClientQuotasResponse)
		msg := kerr.ClusterAuthorizationFailed.Description
		r.ErrorCode, r.ErrorMessage, r.Entries = kerr.ClusterAuthorizationFailed.Code, &msg, nil
	}}
}

// checkAlterClientQuotas needs ALTER_CONFIGS on the cluster; a denial
// answers every entity with CLUSTER_AUTHORIZATION_FAILED (Kafka's
// ControllerApis).
func checkAlterClientQuotas(s Subject, req kmsg.Request) Verdict {
	if s.cluster(kmsg.ACLOperationAlterConfigs) {
		return Verdict{}
	}
	return Verdict{Deny: true, Fix: func(resp kmsg.Response) {
		r := resp.(*kmsg.AlterClientQuotasResponse)
		for _, e := range req.(*kmsg.AlterClientQuotasRequest).Entries {
			out := kmsg.NewAlterClientQuotasResponseEntry()
			msg := kerr.ClusterAuthorizationFailed.Description
			out.ErrorCode, out.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, &msg
			for _, c := range e.Entity {
				ee := kmsg.NewAlterClientQuotasResponseEntryEntity()
				ee.Type, ee.Name = c.Type, c.Name
				out.Entity = append(out.Entity, ee)
			}
			r.Entries = append(r.Entries, out)
		}
	}}
}
