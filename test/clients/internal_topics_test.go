package clients_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestInternalTopicsProtected asks a standalone broker, through franz-go's
// admin client and producer, for every change that would lose the
// internal topics' data: each is refused with its code, and a committed
// offset survives them all (docs/compatibility.md#internal-topics).
func TestInternalTopicsProtected(t *testing.T) {
	b := testkit.StartBroker(t)
	cl := testkit.NewClient(t, b.Addr(), kgo.MetadataMinAge(10*time.Millisecond), kgo.RequestRetries(2))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A committed offset, the data that deleting __consumer_offsets loses.
	data, group := testkit.TopicName(t, "data"), testkit.TopicName(t, "group")
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, data); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: data, Partition: 0, At: 0, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, group, offs); err != nil || r.Error() != nil {
		t.Fatalf("CommitOffsets: %v %v", err, r.Error())
	}
	// __transaction_state does not exist until transactions do; a client
	// creating it makes it internal all the same, as in Kafka.
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, "__transaction_state"); err != nil || r.Err != nil {
		t.Fatalf("CreateTopic __transaction_state: %v %v", err, r.Err)
	}
	internal := []string{"__consumer_offsets", "__transaction_state"}

	listed, err := adm.ListTopicsWithInternal(ctx, internal...)
	if err != nil {
		t.Fatalf("ListTopicsWithInternal: %v", err)
	}
	for _, name := range internal {
		if td := listed[name]; td.Err != nil || !td.IsInternal {
			t.Errorf("Metadata %s: err %v, IsInternal %v; want nil, true", name, td.Err, td.IsInternal)
		}
	}
	nParts := len(listed["__consumer_offsets"].Partitions)

	for _, name := range internal {
		del, err := adm.DeleteTopics(ctx, name)
		if err != nil {
			t.Fatalf("DeleteTopics: %v", err)
		}
		if r := del[name]; !errors.Is(r.Err, kerr.TopicAuthorizationFailed) || !strings.Contains(r.ErrMessage, "internal topic") {
			t.Errorf("DeleteTopics %s: %v (%q), want TOPIC_AUTHORIZATION_FAILED naming an internal topic", name, r.Err, r.ErrMessage)
		}
		for what, call := range map[string]func(context.Context, int, ...string) (kadm.CreatePartitionsResponses, error){
			"CreatePartitions": adm.UpdatePartitions, "CreatePartitions (validate only)": adm.ValidateUpdatePartitions,
		} {
			cp, err := call(ctx, nParts+1, name)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if r := cp[name]; !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
				t.Errorf("%s %s: %v (%q), want TOPIC_AUTHORIZATION_FAILED", what, name, r.Err, r.ErrMessage)
			}
		}
	}

	// Configs: anything that ends compaction is INVALID_CONFIG, through
	// IncrementalAlterConfigs and the legacy AlterConfigs alike; other
	// changes are taken.
	alters := []struct {
		what    string
		call    func(context.Context, []kadm.AlterConfig, ...string) (kadm.AlterConfigsResponses, error)
		configs []kadm.AlterConfig
		want    error
	}{
		{"incremental set delete", adm.AlterTopicConfigs, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, kerr.InvalidConfig},
		{"incremental set compact,delete", adm.AlterTopicConfigs, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("compact,delete")}}, kerr.InvalidConfig},
		{"incremental append delete", adm.AlterTopicConfigs, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, kerr.InvalidConfig},
		{"incremental delete cleanup.policy", adm.AlterTopicConfigs, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "cleanup.policy"}}, kerr.InvalidConfig},
		{"incremental validate-only set delete", adm.ValidateAlterTopicConfigs, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, kerr.InvalidConfig},
		{"legacy without cleanup.policy", adm.AlterTopicConfigsState, []kadm.AlterConfig{{Name: "segment.bytes", Value: kadm.StringPtr("104857600")}}, kerr.InvalidConfig},
		{"legacy set delete", adm.AlterTopicConfigsState, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, kerr.InvalidConfig},
		{"legacy validate-only set delete", adm.ValidateAlterTopicConfigsState, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, kerr.InvalidConfig},
		{"incremental set segment.bytes", adm.AlterTopicConfigs, []kadm.AlterConfig{{Name: "segment.bytes", Value: kadm.StringPtr("52428800")}}, nil},
		{"legacy keeping compact", adm.AlterTopicConfigsState, []kadm.AlterConfig{
			{Name: "cleanup.policy", Value: kadm.StringPtr("compact")}, {Name: "segment.bytes", Value: kadm.StringPtr("104857600")}, {Name: "retention.ms", Value: kadm.StringPtr("-1")},
		}, nil},
	}
	for _, a := range alters {
		rs, err := a.call(ctx, a.configs, "__consumer_offsets")
		if err != nil {
			t.Fatalf("%s: %v", a.what, err)
		}
		r, _ := rs.On("__consumer_offsets", nil)
		if !errors.Is(r.Err, a.want) && (a.want != nil || r.Err != nil) {
			t.Errorf("AlterConfigs %s: %v (%q), want %v", a.what, r.Err, r.ErrMessage, a.want)
		}
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatalf("DescribeConfigs: %v", err)
	}
	if c, err := rc.On("__consumer_offsets", nil); err != nil {
		t.Fatalf("DescribeConfigs: %v", err)
	} else {
		for _, kv := range c.Configs {
			if kv.Key == "cleanup.policy" && kv.MaybeValue() != "compact" {
				t.Errorf("cleanup.policy of __consumer_offsets is %q after the refused changes, want compact", kv.MaybeValue())
			}
		}
	}

	// DeleteRecords and Produce: INVALID_TOPIC_EXCEPTION, Kafka's own answer.
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "__consumer_offsets", Partition: 0, At: -1})
	dr, err := adm.DeleteRecords(ctx, del)
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if r, _ := dr.Lookup("__consumer_offsets", 0); !errors.Is(r.Err, kerr.InvalidTopicException) {
		t.Errorf("DeleteRecords __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", r.Err)
	}
	for _, name := range internal {
		res := cl.ProduceSync(ctx, &kgo.Record{Topic: name, Partition: 0, Value: []byte("x")})
		if err := res.FirstErr(); !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("Produce to %s: %v, want INVALID_TOPIC_EXCEPTION", name, err)
		}
	}
	// Kafka's internal admin client id may write them.
	adminCl := testkit.NewClient(t, b.Addr(), kgo.ClientID("__admin_client"))
	if err := adminCl.ProduceSync(ctx, &kgo.Record{Topic: "__transaction_state", Partition: 0, Value: []byte("x")}).FirstErr(); err != nil {
		t.Errorf("Produce to __transaction_state as __admin_client: %v, want success", err)
	}

	fetched, err := adm.FetchOffsets(ctx, group)
	if err != nil || fetched.Error() != nil {
		t.Fatalf("FetchOffsets: %v %v", err, fetched.Error())
	}
	if o, ok := fetched.Lookup(data, 0); !ok || o.At != 0 {
		t.Errorf("committed offset after the refused changes: %+v (found %v), want 0", o, ok)
	}
}

// TestCLITopicDeleteInternal runs `strom topic delete __consumer_offsets`:
// it fails with Kafka's error name and a non-zero exit status.
func TestCLITopicDeleteInternal(t *testing.T) {
	b := testkit.StartBroker(t)
	bin := testkit.StromBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "topic", "delete", "__consumer_offsets", "--bootstrap", b.Addr()).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("strom topic delete __consumer_offsets: err %v, output %q; want a non-zero exit", err, out)
	}
	t.Logf("strom topic delete __consumer_offsets: %s", out)
	if s := string(out); !strings.Contains(s, "TOPIC_AUTHORIZATION_FAILED") || !strings.Contains(s, "internal topic") || strings.Count(strings.TrimSpace(s), "\n") != 0 {
		t.Errorf("output %q: want one line with TOPIC_AUTHORIZATION_FAILED naming the internal topic", s)
	}
}
