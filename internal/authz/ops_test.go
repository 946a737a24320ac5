package authz

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
)

// TestAuthorizedOperations runs the checks of the APIs with
// authorized-operations fields over answers a handler filled with every
// operation (as without an authorizer): each field becomes the bit field
// Apache Kafka 4.1's StandardAuthorizer gave for the same ACLs in the
// differential test (test/compat/diff TestAuthorizer), and a field not
// asked for stays NotRequested.
func TestAuthorizedOperations(t *testing.T) {
	cluster := kmsg.ACLResourceTypeCluster
	acls := []metadata.ACL{
		acl(topic, "read", lit, "User:a", "*", read, allow),
		acl(topic, "p-", pre, "User:a", "*", write, allow),
		acl(topic, "denied", lit, "User:a", "*", all, allow),
		acl(topic, "denied", lit, "User:a", "*", read, deny),
		acl(group, "g-read", lit, "User:a", "*", read, allow),
		acl(group, "g-describe", lit, "User:a", "*", desc, allow),
		acl(cluster, ClusterName, lit, "User:b", "*", kmsg.ACLOperationIdempotentWrite, allow),
		acl(cluster, ClusterName, lit, "User:c", "*", kmsg.ACLOperationIdempotentWrite, allow),
		acl(cluster, ClusterName, lit, "User:c", "*", desc, allow),
	}
	im := &metadata.Image{ACLs: acls, Topics: map[string]*metadata.Topic{}, TopicsByID: map[metadata.TopicID]*metadata.Topic{}}
	as := func(p string) Subject {
		return Subject{Authorizer: New(Config{SuperUsers: []string{"User:root"}}), Image: im, Principal: "User:" + p, Host: "h"}
	}
	allTopic, allGroup, allCluster := AllOperations(topic), AllOperations(group), AllOperations(cluster)
	if allTopic != 3576 || allGroup != 3400 || allCluster != 8096 {
		t.Fatalf("every operation: topic %d group %d cluster %d, want Kafka's 3576 3400 8096", allTopic, allGroup, allCluster)
	}

	// Metadata v10: topic and cluster operations.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 10
	for _, n := range []string{"read", "p-write", "denied", "p-missing"} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(n)
		md.Topics = append(md.Topics, mt)
	}
	mresp := func() *kmsg.MetadataResponse {
		r := kmsg.NewPtrMetadataResponse()
		r.Version, r.AuthorizedOperations = 10, allCluster
		for _, mt := range md.Topics {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic, rt.AuthorizedOperations = mt.Topic, allTopic
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	r := mresp()
	Check(as("a"), kmsg.Metadata, md).Fix(r)
	want := map[string]int32{"read": 264, "p-write": 272, "denied": 3568, "p-missing": 272}
	for _, rt := range r.Topics {
		if rt.AuthorizedOperations != want[*rt.Topic] {
			t.Errorf("Metadata topic %s: operations %d, want %d", *rt.Topic, rt.AuthorizedOperations, want[*rt.Topic])
		}
	}
	if r.AuthorizedOperations != 0 {
		t.Errorf("Metadata cluster operations without DESCRIBE: %d, want 0", r.AuthorizedOperations)
	}
	for p, want := range map[string]int32{"b": 0, "c": 4352, "root": allCluster} {
		r := mresp()
		Check(as(p), kmsg.Metadata, &kmsg.MetadataRequest{Version: 10}).Fix(r)
		if r.AuthorizedOperations != want {
			t.Errorf("Metadata cluster operations of %s: %d, want %d", p, r.AuthorizedOperations, want)
		}
		dc := kmsg.NewPtrDescribeClusterResponse()
		dc.ClusterAuthorizedOperations = allCluster
		v := Check(as(p), kmsg.DescribeCluster, kmsg.NewPtrDescribeClusterRequest())
		if v.Deny {
			t.Errorf("DescribeCluster refused to %s", p)
		}
		v.Fix(dc)
		if dc.ClusterAuthorizedOperations != want {
			t.Errorf("DescribeCluster operations of %s: %d, want %d", p, dc.ClusterAuthorizedOperations, want)
		}
	}
	dc := kmsg.NewPtrDescribeClusterResponse()
	Check(as("c"), kmsg.DescribeCluster, kmsg.NewPtrDescribeClusterRequest()).Fix(dc)
	if dc.ClusterAuthorizedOperations != NotRequested {
		t.Errorf("DescribeCluster operations not asked for: %d", dc.ClusterAuthorizedOperations)
	}

	// DescribeGroups: a group the principal may not describe is refused.
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version, dg.Groups, dg.IncludeAuthorizedOperations = 5, []string{"g-read", "g-describe", "g-none"}, true
	v := Check(as("a"), kmsg.DescribeGroups, dg)
	gr := kmsg.NewPtrDescribeGroupsResponse()
	for _, g := range dg.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.AuthorizedOperations = g, allGroup
		gr.Groups = append(gr.Groups, rg)
	}
	v.Fix(gr)
	wantG := map[string]int32{"g-read": 264, "g-describe": 256, "g-none": NotRequested}
	for _, g := range gr.Groups {
		if g.AuthorizedOperations != wantG[g.Group] {
			t.Errorf("DescribeGroups %s: operations %d, want %d", g.Group, g.AuthorizedOperations, wantG[g.Group])
		}
		if g.Group == "g-none" && g.ErrorCode != kerr.GroupAuthorizationFailed.Code {
			t.Errorf("DescribeGroups g-none: error %d", g.ErrorCode)
		}
	}

	// DescribeTopicPartitions: the handler asks Visible; the fields are
	// narrowed like Metadata's.
	v = Check(as("a"), kmsg.DescribeTopicPartitions, kmsg.NewPtrDescribeTopicPartitionsRequest())
	if v.Visible == nil || !v.Visible("read") || v.Visible("none") {
		t.Fatalf("DescribeTopicPartitions: Visible does not follow DESCRIBE")
	}
	tp := kmsg.NewPtrDescribeTopicPartitionsResponse()
	rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	rt.Topic, rt.AuthorizedOperations = kmsg.StringPtr("denied"), allTopic
	tp.Topics = append(tp.Topics, rt)
	v.Fix(tp)
	if got := tp.Topics[0].AuthorizedOperations; got != 3568 {
		t.Errorf("DescribeTopicPartitions operations %d, want 3568", got)
	}
}
