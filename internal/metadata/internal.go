package metadata

import (
	"fmt"
	"strings"

	"github.com/strom-broker/strom/internal/errcode"
)

// Kafka's internal topics: the coordinators' state. A topic is internal by
// its name alone, as in Kafka (Topic.isInternal), whoever created it.
const (
	ConsumerOffsetsTopic  = "__consumer_offsets"
	TransactionStateTopic = "__transaction_state"
)

// AdminClientID is the client id of Kafka's internal admin tools
// (AdminUtils.ADMIN_CLIENT_ID); Kafka lets it, and no other client,
// produce to an internal topic.
const AdminClientID = "__admin_client"

// ErrInternalTopic refuses a client's deletion of an internal topic or a
// change of its partition count (defined in errcode, which answers it
// TOPIC_AUTHORIZATION_FAILED).
var ErrInternalTopic = errcode.ErrInternalTopic

// IsInternal reports whether topic is one of Kafka's internal topics.
func IsInternal(topic string) bool {
	return topic == ConsumerOffsetsTopic || topic == TransactionStateTopic
}

// ClientOp is a change a client asks of a topic.
type ClientOp int

const (
	OpDeleteTopic ClientOp = iota
	OpCreatePartitions
	OpAlterConfigs
	OpProduce
	OpDeleteRecords
)

// CheckClientOp is the one rule protecting the internal topics from
// clients; every handler that changes a topic asks it before acting (and
// before a validate-only answer). For OpAlterConfigs, configs are the
// topic's overrides as they would be after the change. It returns nil for
// any other topic.
//
// Kafka's own broker refuses only Produce (unless from AdminClientID) and
// DeleteRecords, both INVALID_TOPIC_EXCEPTION (ReplicaManager). Strom also
// refuses what would lose every committed offset or transaction:
// deleting the topic or changing its partition count (which moves every
// group to another partition) is TOPIC_AUTHORIZATION_FAILED, as on a Kafka
// cluster whose ACLs protect its internal topics, and a cleanup.policy
// other than compact (retention would delete offsets) is INVALID_CONFIG
// (docs/compatibility.md#internal-topics).
func CheckClientOp(topic string, op ClientOp, clientID string, configs map[string]string) error {
	if !IsInternal(topic) {
		return nil
	}
	switch op {
	case OpDeleteTopic:
		return refusal{fmt.Sprintf("topic %s is an internal topic and may not be deleted", topic), ErrInternalTopic}
	case OpCreatePartitions:
		return refusal{fmt.Sprintf("the number of partitions of internal topic %s may not be changed", topic), ErrInternalTopic}
	case OpAlterConfigs:
		if v, ok := configs["cleanup.policy"]; !ok || !compactOnly(v) {
			return refusal{fmt.Sprintf("cleanup.policy of internal topic %s must stay compact", topic), ErrInvalidConfig}
		}
	case OpProduce:
		if clientID != AdminClientID {
			return refusal{fmt.Sprintf("Cannot append to internal topic %s", topic), errcode.ErrInvalidTopic}
		}
	case OpDeleteRecords:
		return refusal{fmt.Sprintf("Cannot delete records of internal topic %s", topic), errcode.ErrInvalidTopic}
	}
	return nil
}

// refusal is CheckClientOp's answer: the message a client reads (Kafka's
// words where Kafka refuses too) and the sentinel that gives its code.
type refusal struct {
	msg  string
	code error
}

func (r refusal) Error() string { return r.msg }
func (r refusal) Unwrap() error { return r.code }

// compactOnly reports whether a cleanup.policy list is compact alone.
func compactOnly(v string) bool {
	seen := false
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "compact":
			seen = true
		default:
			return false
		}
	}
	return seen
}
