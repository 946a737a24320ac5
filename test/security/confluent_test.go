//go:build cgo

package security_test

import (
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestConfluentSASLSSL: librdkafka (confluent-kafka-go) with
// security.protocol SASL_SSL, ssl.ca.location and SCRAM-SHA-512 (PLAIN
// and SCRAM-SHA-256 in the full run) produces and consumes; a wrong
// password is refused.
func TestConfluentSASLSSL(t *testing.T) {
	sb := startSecureBroker(t, "none")
	mechs := []string{"SCRAM-SHA-512"}
	if full() {
		mechs = append(mechs, "PLAIN", "SCRAM-SHA-256")
	}
	for _, mech := range mechs {
		t.Run(mech, func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, sb.internal, topic, 1, nil)
			conf := rdkafkaConf(sb, mech, adminPassword)
			p, err := kafka.NewProducer(&conf)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("over tls")}, nil); err != nil {
				t.Fatal(err)
			}
			ev := <-p.Events()
			if m, ok := ev.(*kafka.Message); !ok || m.TopicPartition.Error != nil {
				t.Fatalf("delivery: %v", ev)
			}
			cconf := rdkafkaConf(sb, mech, adminPassword)
			cconf["group.id"] = "unused"
			c, err := kafka.NewConsumer(&cconf)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
				t.Fatal(err)
			}
			m, err := c.ReadMessage(20 * time.Second)
			if err != nil || string(m.Value) != "over tls" {
				t.Fatalf("consume: %v %v", m, err)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		conf := rdkafkaConf(sb, "SCRAM-SHA-512", "wrong")
		p, err := kafka.NewProducer(&conf)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev := <-p.Events():
				if e, ok := ev.(kafka.Error); ok {
					if e.Code() != kafka.ErrAuthentication || !strings.Contains(e.String(), "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512") {
						t.Fatalf("wrong password: %v (code %v)", e, e.Code())
					}
					return
				}
			case <-deadline:
				t.Fatal("no authentication error reported")
			}
		}
	})
}

func rdkafkaConf(sb *secureBroker, mech, password string) kafka.ConfigMap {
	return kafka.ConfigMap{
		"bootstrap.servers":                     sb.client,
		"security.protocol":                     "SASL_SSL",
		"sasl.mechanism":                        mech,
		"sasl.username":                         "admin",
		"sasl.password":                         password,
		"ssl.ca.location":                       sb.pki.caFile,
		"ssl.endpoint.identification.algorithm": "https",
		"message.timeout.ms":                    20000,
	}
}
