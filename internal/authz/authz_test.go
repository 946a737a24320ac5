package authz

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
)

func acl(typ ResourceType, name string, pattern kmsg.ACLResourcePatternType, principal, host string, op Operation, perm kmsg.ACLPermissionType) metadata.ACL {
	return metadata.ACL{ResourceType: int8(typ), ResourceName: name, PatternType: int8(pattern), Principal: principal, Host: host, Operation: int8(op), Permission: int8(perm)}
}

const (
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	lit     = kmsg.ACLResourcePatternTypeLiteral
	pre     = kmsg.ACLResourcePatternTypePrefixed
	allow   = kmsg.ACLPermissionTypeAllow
	deny    = kmsg.ACLPermissionTypeDeny
	read    = kmsg.ACLOperationRead
	write   = kmsg.ACLOperationWrite
	all     = kmsg.ACLOperationAll
	desc    = kmsg.ACLOperationDescribe
	descCfg = kmsg.ACLOperationDescribeConfigs
	altCfg  = kmsg.ACLOperationAlterConfigs
	alter   = kmsg.ACLOperationAlter
	del     = kmsg.ACLOperationDelete
)

// TestAuthorize is StandardAuthorizer's decision table.
func TestAuthorize(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		acls  []metadata.ACL
		act   Action
		allow bool
	}{
		{"no ACLs: denied", Config{}, nil, Action{"User:a", "h", read, topic, "t"}, false},
		{"no ACLs: allow_everyone", Config{AllowEveryoneIfNoACLFound: true}, nil, Action{"User:a", "h", read, topic, "t"}, true},
		{"ACLs for another user: not 'no ACL found'", Config{AllowEveryoneIfNoACLFound: true},
			[]metadata.ACL{acl(topic, "t", lit, "User:b", "*", read, allow)}, Action{"User:a", "h", read, topic, "t"}, false},
		{"super user", Config{SuperUsers: []string{"User:root"}},
			[]metadata.ACL{acl(topic, "t", lit, "User:*", "*", all, deny)}, Action{"User:root", "h", read, topic, "t"}, true},
		{"literal allow", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", read, allow)}, Action{"User:a", "h", read, topic, "t"}, true},
		{"other operation", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", read, allow)}, Action{"User:a", "h", write, topic, "t"}, false},
		{"other resource type", Config{}, []metadata.ACL{acl(group, "t", lit, "User:a", "*", read, allow)}, Action{"User:a", "h", read, topic, "t"}, false},
		{"wildcard resource", Config{}, []metadata.ACL{acl(topic, "*", lit, "User:a", "*", read, allow)}, Action{"User:a", "h", read, topic, "t"}, true},
		{"wildcard principal", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:*", "*", read, allow)}, Action{"User:a", "h", read, topic, "t"}, true},
		{"host must match", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "10.0.0.1", read, allow)}, Action{"User:a", "10.0.0.2", read, topic, "t"}, false},
		{"host matches", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "10.0.0.1", read, allow)}, Action{"User:a", "10.0.0.1", read, topic, "t"}, true},
		{"prefixed", Config{}, []metadata.ACL{acl(topic, "app-", pre, "User:a", "*", read, allow)}, Action{"User:a", "h", read, topic, "app-1"}, true},
		{"prefixed does not match", Config{}, []metadata.ACL{acl(topic, "app-", pre, "User:a", "*", read, allow)}, Action{"User:a", "h", read, topic, "ap"}, false},
		{"deny beats allow", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", read, allow), acl(topic, "t", lit, "User:a", "*", read, deny)}, Action{"User:a", "h", read, topic, "t"}, false},
		{"prefixed deny beats literal allow", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", all, allow), acl(topic, "", pre, "User:*", "*", write, deny)}, Action{"User:a", "h", write, topic, "t"}, false},
		{"deny of ALL", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", read, allow), acl(topic, "t", lit, "User:a", "*", all, deny)}, Action{"User:a", "h", read, topic, "t"}, false},
		{"deny of another operation", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", read, allow), acl(topic, "t", lit, "User:a", "*", write, deny)}, Action{"User:a", "h", read, topic, "t"}, true},
		{"deny of READ does not deny DESCRIBE", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", write, allow), acl(topic, "t", lit, "User:a", "*", read, deny)}, Action{"User:a", "h", desc, topic, "t"}, true},
		{"ALL implies anything", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", all, allow)}, Action{"User:a", "h", del, topic, "t"}, true},
		{"READ implies DESCRIBE", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", read, allow)}, Action{"User:a", "h", desc, topic, "t"}, true},
		{"ALTER implies DESCRIBE", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", alter, allow)}, Action{"User:a", "h", desc, topic, "t"}, true},
		{"DELETE implies DESCRIBE", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", del, allow)}, Action{"User:a", "h", desc, topic, "t"}, true},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", altCfg, allow)}, Action{"User:a", "h", descCfg, topic, "t"}, true},
		{"DESCRIBE implies nothing", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", desc, allow)}, Action{"User:a", "h", read, topic, "t"}, false},
		{"DESCRIBE_CONFIGS does not imply DESCRIBE", Config{}, []metadata.ACL{acl(topic, "t", lit, "User:a", "*", descCfg, allow)}, Action{"User:a", "h", desc, topic, "t"}, false},
	} {
		if got := New(tc.cfg).Authorize(tc.acls, tc.act); got != tc.allow {
			t.Errorf("%s: allowed %v, want %v", tc.name, got, tc.allow)
		}
	}
}

// TestFilter is AclBindingFilter's matching, MATCH included.
func TestFilter(t *testing.T) {
	name := func(s string) *string { return &s }
	a := acl(topic, "app-", pre, "User:a", "*", read, allow)
	b := acl(topic, "*", lit, "User:b", "h", write, deny)
	c := acl(topic, "app-1", lit, "User:a", "*", read, allow)
	any := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	for _, tc := range []struct {
		name string
		f    func(Filter) Filter
		want [3]bool
	}{
		{"any", func(f Filter) Filter { return f }, [3]bool{true, true, true}},
		{"MATCH app-1", func(f Filter) Filter {
			f.PatternType, f.Name = kmsg.ACLResourcePatternTypeMatch, name("app-1")
			return f
		}, [3]bool{true, true, true}},
		{"MATCH other", func(f Filter) Filter {
			f.PatternType, f.Name = kmsg.ACLResourcePatternTypeMatch, name("other")
			return f
		}, [3]bool{false, true, false}},
		{"ANY name app-1: exact", func(f Filter) Filter { f.Name = name("app-1"); return f }, [3]bool{false, false, true}},
		{"PREFIXED", func(f Filter) Filter { f.PatternType = pre; return f }, [3]bool{true, false, false}},
		{"principal", func(f Filter) Filter { f.Principal = name("User:b"); return f }, [3]bool{false, true, false}},
		{"host", func(f Filter) Filter { f.Host = name("*"); return f }, [3]bool{true, false, true}},
		{"DENY", func(f Filter) Filter { f.Permission = deny; return f }, [3]bool{false, true, false}},
		{"group", func(f Filter) Filter { f.ResourceType = group; return f }, [3]bool{false, false, false}},
	} {
		f := tc.f(any)
		got := [3]bool{f.Matches(a), f.Matches(b), f.Matches(c)}
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDenialLoggedOnce: a denial is logged once per principal, operation
// and resource, with its reason; listings do not log.
func TestDenialLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	a := New(Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	acls := []metadata.ACL{acl(topic, "t", lit, "User:a", "*", read, deny)}
	for _, host := range []string{"h1", "h2"} {
		a.Authorize(acls, Action{"User:a", host, read, topic, "t"})
	}
	a.Authorize(acls, Action{"User:a", "h1", write, topic, "t"})
	s := Subject{Authorizer: a, Image: &metadata.Image{ACLs: acls}, Principal: "User:b", Host: "h"}
	s.visible(read, topic, "t")
	out := buf.String()
	if n := strings.Count(out, "authorization denied"); n != 2 {
		t.Fatalf("%d denials logged, want 2 (READ once, WRITE once):\n%s", n, out)
	}
	if !strings.Contains(out, "DENY ACL") || !strings.Contains(out, "no matching ALLOW ACL") {
		t.Fatalf("reasons missing:\n%s", out)
	}
}
