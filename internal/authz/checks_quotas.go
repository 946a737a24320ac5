package authz

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkDescribeClientQuotas needs DESCRIBE_CONFIGS on the cluster; a
// denial is the request's error (Kafka's KafkaApis).
func checkDescribeClientQuotas(s Subject, _ kmsg.Request) Verdict {
	if s.cluster(kmsg.ACLOperationDescribeConfigs) {
		return Verdict{}
	}
	return denyCode(clusterDenied)
}

// checkAlterClientQuotas needs ALTER_CONFIGS on the cluster; a denial
// answers every entity with CLUSTER_AUTHORIZATION_FAILED (Kafka's
// ControllerApis).
func checkAlterClientQuotas(s Subject, req kmsg.Request) Verdict {
	if s.cluster(kmsg.ACLOperationAlterConfigs) {
		return Verdict{}
	}
	return denyAll(req, clusterDenied)
}
