package security_test

import (
	"bytes"
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestAuthorizedOperations: the include_*_authorized_operations fields
// through franz-go: kadm's DescribeGroups, Metadata's topic field, DescribeCluster and DescribeTopicPartitions, for a user granted
// READ on one topic and DESCRIBE on one group, and for the super user.
func TestAuthorizedOperations(t *testing.T) {
	sb := startSecureBroker(t, "none", withAuthorizer)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adminCl := plainClient(t, sb, "admin")
	admin := kadm.NewClient(adminCl)
	topic, hidden := testkit.TopicName(t, "read"), testkit.TopicName(t, "hidden")
	group := testkit.TopicName(t, "group")
	if _, err := admin.CreateTopics(ctx, 2, 1, nil, topic, hidden); err != nil {
		t.Fatal(err)
	}
	acls := kadm.NewACLs().Allow("User:bea").AllowHosts().Topics(topic).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	if _, err := admin.CreateACLs(ctx, acls); err != nil {
		t.Fatal(err)
	}
	acls = kadm.NewACLs().Allow("User:bea").AllowHosts().Groups(group).Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	if _, err := admin.CreateACLs(ctx, acls); err != nil {
		t.Fatal(err)
	}
	beaCl := plainClient(t, sb, "bea")
	bea := kadm.NewClient(beaCl)

	groups, err := bea.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if got := groups[group].AuthorizedOperations; !reflect.DeepEqual(got, []kadm.ACLOperation{kadm.OpDescribe}) {
		t.Errorf("kadm DescribeGroups authorized operations %v, want [DESCRIBE]", got)
	}

	// kgo sends the newest Metadata version, which has no cluster field
	// (v8-10 only; test/compat/diff compares it with Kafka's).
	md := kmsg.NewPtrMetadataRequest()
	for _, n := range []string{topic, hidden} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(n)
		md.Topics = append(md.Topics, mt)
	}
	md.IncludeTopicAuthorizedOperations = true
	mresp, err := md.RequestWith(ctx, beaCl)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range mresp.Topics {
		switch *mt.Topic {
		case topic:
			if got := kadm.DecodeACLOperations(mt.AuthorizedOperations); !reflect.DeepEqual(got, []kadm.ACLOperation{kadm.OpRead, kadm.OpDescribe}) {
				t.Errorf("Metadata topic operations %v (%d), want [READ DESCRIBE]", got, mt.AuthorizedOperations)
			}
		case hidden:
			if mt.ErrorCode != kerr.TopicAuthorizationFailed.Code || mt.AuthorizedOperations != -2147483648 {
				t.Errorf("Metadata hidden topic: error %d, operations %d", mt.ErrorCode, mt.AuthorizedOperations)
			}
		}
	}

	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	for cl, want := range map[string]int32{"bea": 0, "admin": 8096} {
		c := beaCl
		if cl == "admin" {
			c = adminCl
		}
		r, err := dc.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if r.ErrorCode != 0 || r.ClusterAuthorizedOperations != want {
			t.Errorf("DescribeCluster as %s: error %d, operations %d, want %d", cl, r.ErrorCode, r.ClusterAuthorizedOperations, want)
		}
	}

	dtp := kmsg.NewPtrDescribeTopicPartitionsRequest()
	dtp.ResponsePartitionLimit = 100
	for _, n := range []string{topic, hidden} {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = n
		dtp.Topics = append(dtp.Topics, rt)
	}
	tr, err := dtp.RequestWith(ctx, beaCl)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Topics) != 2 {
		t.Fatalf("DescribeTopicPartitions: %d topics, want 2", len(tr.Topics))
	}
	for _, rt := range tr.Topics {
		switch *rt.Topic {
		case topic:
			if rt.ErrorCode != 0 || len(rt.Partitions) != 2 || rt.AuthorizedOperations != 1<<3|1<<8 {
				t.Errorf("DescribeTopicPartitions %s: error %d, %d partitions, operations %d", topic, rt.ErrorCode, len(rt.Partitions), rt.AuthorizedOperations)
			}
		case hidden:
			if rt.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(rt.Partitions) != 0 {
				t.Errorf("DescribeTopicPartitions hidden topic: error %d, %d partitions", rt.ErrorCode, len(rt.Partitions))
			}
		}
	}
}

// TestJavaAuthorizedOperations runs test/java's AuthzOpsCheck: the Java
// AdminClient's describeTopics (sent as DescribeTopicPartitions) and
// describeCluster with includeAuthorizedOperations, as a user granted
// READ on one topic. Full run only (make security-test): it builds the
// Java project with Maven.
func TestJavaAuthorizedOperations(t *testing.T) {
	if !full() {
		t.Skip("full run only (STROM_SECURITY=full, make security-test)")
	}
	jar := testkit.MavenJar(t, "test/java", "javacheck.buildDir", "strom-javacheck.jar")
	sb := startSecureBroker(t, "none", withAuthorizer)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := kadm.NewClient(plainClient(t, sb, "admin"))
	topic, hidden := testkit.TopicName(t, "read"), testkit.TopicName(t, "hidden")
	if _, err := admin.CreateTopics(ctx, 2, 1, nil, topic, hidden); err != nil {
		t.Fatal(err)
	}
	acls := kadm.NewACLs().Allow("User:bea").AllowHosts().Topics(topic).Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	if _, err := admin.CreateACLs(ctx, acls); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "java", "-cp", jar, "io.strom.test.AuthzOpsCheck", sb.saslPlain, "bea", adminPassword, topic, hidden)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("AuthzOpsCheck output:\n%s", out.String())
	if err != nil {
		t.Fatalf("AuthzOpsCheck failed: %v", err)
	}
	if !strings.Contains(out.String(), "authzopscheck: all checks passed") {
		t.Fatalf("AuthzOpsCheck exited 0 without its success line")
	}
}
