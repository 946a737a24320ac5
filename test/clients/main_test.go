// Package clients_test runs unmodified Kafka clients against a Strom broker:
// franz-go, IBM/sarama, segmentio/kafka-go, confluent-kafka-go (librdkafka),
// kcat and the Apache Kafka Java client. Each produces keyed records with
// headers in every compression codec and reads them back byte-exact, with
// direct partition assignment (no consumer group).
package clients_test

import (
	"testing"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// recordsPerCodec is how many records each client writes per codec: enough
// for several batches per partition, few enough for a quick run.
const recordsPerCodec = 300

const partitions = 3
