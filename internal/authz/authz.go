// Package authz is the authorizer: Kafka's ACL model (resource patterns,
// operations, ALLOW/DENY entries bound to principals and hosts), the
// decision of Kafka's StandardAuthorizer over the ACLs of a metadata
// image, and the table of what each API needs (checks.go).
//
// An Authorizer is immutable and safe for concurrent use; the ACLs it
// reads are those of the image it is given, so a decision never sees a
// half-applied change.
package authz

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
)

// Kafka's names, as in kmsg.
const (
	ClusterName = "kafka-cluster" // the only name of the CLUSTER resource
	Wildcard    = "*"             // any resource name (LITERAL), any host
	AnyUser     = "User:*"        // any principal
)

// Resource types, operations, pattern and permission types are Kafka's
// wire codes.
type (
	ResourceType = kmsg.ACLResourceType
	Operation    = kmsg.ACLOperation
)

// Config is the [authorization] table.
type Config struct {
	SuperUsers                []string
	AllowEveryoneIfNoACLFound bool
}

// Authorizer decides whether a principal may perform an operation on a
// resource.
type Authorizer struct {
	superUsers map[string]bool
	allowEmpty bool
}

// New returns an authorizer with cfg.
func New(cfg Config) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowEmpty: cfg.AllowEveryoneIfNoACLFound}
	for _, u := range cfg.SuperUsers {
		a.superUsers[u] = true
	}
	return a
}

// Action is one thing a request wants to do.
type Action struct {
	Principal string
	Host      string
	Op        Operation
	Type      ResourceType
	Name      string
}

// Authorize reports whether act is allowed by the ACLs of acls, as
// Kafka's StandardAuthorizer: super users may do everything; a matching
// DENY (the operation or ALL) wins over any ALLOW; an ALLOW of the
// operation, of ALL or of an operation that implies it (READ, WRITE,
// DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies
// DESCRIBE_CONFIGS) allows; a resource with no ACL at all (for anyone)
// is allowed only with allow_everyone_if_no_acl_found.
func (a *Authorizer) Authorize(acls []metadata.ACL, act Action) bool {
	if a.superUsers[act.Principal] {
		return true
	}
	found, allowed := false, false
	for _, acl := range acls {
		if !patternMatches(acl, act.Type, act.Name) {
			continue
		}
		found = true
		if acl.Principal != act.Principal && acl.Principal != AnyUser {
			continue
		}
		if acl.Host != act.Host && acl.Host != Wildcard {
			continue
		}
		switch kmsg.ACLPermissionType(acl.Permission) {
		case kmsg.ACLPermissionTypeDeny:
			if Operation(acl.Operation) == kmsg.ACLOperationAll || Operation(acl.Operation) == act.Op {
				return false
			}
		case kmsg.ACLPermissionTypeAllow:
			if implies(Operation(acl.Operation), act.Op) {
				allowed = true
			}
		}
	}
	if !found {
		return a.allowEmpty
	}
	return allowed
}

// implies reports whether an ALLOW of granted allows op.
func implies(granted, op Operation) bool {
	if granted == op || granted == kmsg.ACLOperationAll {
		return true
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch granted {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// patternMatches reports whether acl's resource pattern covers the
// resource typ/name.
func patternMatches(acl metadata.ACL, typ ResourceType, name string) bool {
	if ResourceType(acl.ResourceType) != typ {
		return false
	}
	switch kmsg.ACLResourcePatternType(acl.PatternType) {
	case kmsg.ACLResourcePatternTypeLiteral:
		return acl.ResourceName == name || acl.ResourceName == Wildcard
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, acl.ResourceName)
	}
	return false
}
