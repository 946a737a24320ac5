package authz

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/metadata"
)

// Filter selects ACL bindings (Kafka's AclBindingFilter), for
// DescribeAcls and DeleteAcls: ANY matches every value of a field, a nil
// name, principal or host matches all, and a MATCH pattern selects the
// bindings that would apply to the named resource.
type Filter struct {
	ResourceType ResourceType
	Name         *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   kmsg.ACLPermissionType
}

// Validate refuses a filter with an UNKNOWN field, as Kafka's
// AclControlManager.validateFilter.
func (f Filter) Validate() error {
	if f.ResourceType == kmsg.ACLResourceTypeUnknown || f.PatternType == kmsg.ACLResourcePatternTypeUnknown {
		return errors.New("Unknown patternFilter.")
	}
	if f.Operation == kmsg.ACLOperationUnknown || f.Permission == kmsg.ACLPermissionTypeUnknown {
		return errors.New("Unknown entryFilter.")
	}
	return nil
}

// Matches reports whether acl is selected by f.
func (f Filter) Matches(acl metadata.ACL) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && ResourceType(acl.ResourceType) != f.ResourceType {
		return false
	}
	pt := kmsg.ACLResourcePatternType(acl.PatternType)
	if f.PatternType != kmsg.ACLResourcePatternTypeAny && f.PatternType != kmsg.ACLResourcePatternTypeMatch && f.PatternType != pt {
		return false
	}
	if f.Name != nil {
		if f.PatternType == kmsg.ACLResourcePatternTypeAny || f.PatternType == pt {
			if *f.Name != acl.ResourceName {
				return false
			}
		} else {
			switch pt {
			case kmsg.ACLResourcePatternTypeLiteral:
				if *f.Name != acl.ResourceName && acl.ResourceName != Wildcard {
					return false
				}
			case kmsg.ACLResourcePatternTypePrefixed:
				if !strings.HasPrefix(*f.Name, acl.ResourceName) {
					return false
				}
			default:
				return false
			}
		}
	}
	if f.Principal != nil && *f.Principal != acl.Principal {
		return false
	}
	if f.Host != nil && *f.Host != acl.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && Operation(acl.Operation) != f.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && kmsg.ACLPermissionType(acl.Permission) != f.Permission {
		return false
	}
	return true
}

// ValidateNew refuses a binding Kafka refuses to create (AclApis and
// AclControlManager.validateNewAcl); the message is Kafka's, the error
// code INVALID_REQUEST.
func ValidateNew(acl metadata.ACL) error {
	switch ResourceType(acl.ResourceType) {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster,
		kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return fmt.Errorf("Invalid resourceType %s", ResourceType(acl.ResourceType))
	}
	if ResourceType(acl.ResourceType) == kmsg.ACLResourceTypeCluster && acl.ResourceName != ClusterName {
		return fmt.Errorf("The only valid name for the CLUSTER resource is %s", ClusterName)
	}
	if acl.ResourceName == "" {
		return errors.New("Invalid empty resource name")
	}
	switch kmsg.ACLResourcePatternType(acl.PatternType) {
	case kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return fmt.Errorf("Invalid patternType %s", kmsg.ACLResourcePatternType(acl.PatternType))
	}
	switch op := Operation(acl.Operation); op {
	case kmsg.ACLOperationUnknown, kmsg.ACLOperationAny:
		return fmt.Errorf("Invalid operation %s", op)
	default:
		if op > kmsg.ACLOperationDescribeTokens || op < 0 {
			return fmt.Errorf("Invalid operation %d", op)
		}
	}
	switch kmsg.ACLPermissionType(acl.Permission) {
	case kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny:
	default:
		return fmt.Errorf("Invalid permissionType %s", kmsg.ACLPermissionType(acl.Permission))
	}
	if !strings.Contains(acl.Principal, ":") {
		return fmt.Errorf("Could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", acl.Principal)
	}
	return nil
}
