// Package authz is the authorizer: Kafka's ACL model (resource patterns,
// operations, ALLOW/DENY entries bound to principals and hosts), the
// decision of Kafka's StandardAuthorizer over the ACLs of a metadata
// image, and the table of what each API needs (checks.go).
//
// An Authorizer is safe for concurrent use: its settings never change,
// the ACLs it reads are those of the image it is given (so a decision
// never sees a half-applied change), and the set of denials already
// logged is under its own leaf lock.
package authz

import (
	"log/slog"
	"strings"
	"sync"

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
	// Logger receives each denial once per principal, operation and
	// resource; nil: not logged.
	Logger *slog.Logger
}

// maxLoggedDenials bounds the memory of denials already logged; past
// it, further distinct denials are logged no more.
const maxLoggedDenials = 10000

// Authorizer decides whether a principal may perform an operation on a
// resource.
type Authorizer struct {
	superUsers map[string]bool
	allowEmpty bool
	logger     *slog.Logger
	mu         struct {
		sync.Mutex
		logged map[Action]bool // guarded; Host cleared: once per principal, operation and resource
	}
}

// New returns an authorizer with cfg.
func New(cfg Config) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowEmpty: cfg.AllowEveryoneIfNoACLFound, logger: cfg.Logger}
	a.mu.logged = map[Action]bool{}
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
	ok, reason := a.decide(acls, act)
	if !ok {
		a.logDenied(act, reason)
	}
	return ok
}

// decide is Authorize without the log: the decision and, for a denial,
// why.
func (a *Authorizer) decide(acls []metadata.ACL, act Action) (bool, string) {
	if a.superUsers[act.Principal] {
		return true, ""
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
				return false, "denied by a DENY ACL on " + kmsg.ACLResourcePatternType(acl.PatternType).String() + " " + acl.ResourceName
			}
		case kmsg.ACLPermissionTypeAllow:
			if implies(Operation(acl.Operation), act.Op) {
				allowed = true
			}
		}
	}
	switch {
	case !found && a.allowEmpty:
		return true, ""
	case !found:
		return false, "no ACL on the resource and allow_everyone_if_no_acl_found is false"
	case !allowed:
		return false, "no matching ALLOW ACL"
	}
	return true, ""
}

// logDenied logs act's denial, the first time only.
func (a *Authorizer) logDenied(act Action, reason string) {
	if a.logger == nil {
		return
	}
	key := act
	key.Host = ""
	a.mu.Lock()
	first := !a.mu.logged[key] && len(a.mu.logged) < maxLoggedDenials
	if first {
		a.mu.logged[key] = true
	}
	a.mu.Unlock()
	if first {
		a.logger.Info("authorization denied", "principal", act.Principal, "host", act.Host, "operation", act.Op.String(),
			"resource_type", act.Type.String(), "resource", act.Name, "reason", reason)
	}
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
