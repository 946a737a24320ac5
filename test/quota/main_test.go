// Package quota_test runs real clients against client quotas: franz-go's
// kadm for DescribeClientQuotas/AlterClientQuotas and Kafka's precedence,
// producers held to producer_byte_rate with throttle_time_ms and the
// connection muted after a throttled answer, CreateTopics against
// controller_mutation_rate, Kafka's own kafka-configs, and a 3-node
// cluster where every node sees a quota. The default run keeps a short
// version of each; STROM_QUOTA=full (make quota-test) runs the 20 s
// rate test and Kafka's tools.
package quota_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// full reports whether the long tests run (make quota-test).
func full() bool { return os.Getenv("STROM_QUOTA") == "full" }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func admin(t *testing.T, addr string) *kadm.Client {
	return kadm.NewClient(newClient(t, addr))
}

func str(s string) *string { return &s }
