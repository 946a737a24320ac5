// Package aclreq sends the three ACL requests (DescribeAcls, CreateAcls,
// DeleteAcls) for clients of a Strom cluster: the `strom acl` command and
// the console. Both name exact bindings, as kafka-acls --add/--remove do,
// and list every binding, so the requests are built here once.
//
// kadm's ACLBuilder crosses every principal with every host and operation
// and hides the per-filter error messages the broker sends; these callers
// want one request per listed binding and the broker's message as it came.
package aclreq

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Binding is one ACL: a resource pattern and one access control entry.
type Binding struct {
	ResourceType kmsg.ACLResourceType
	Resource     string
	Pattern      kmsg.ACLResourcePatternType
	Principal    string
	Host         string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// List returns every ACL of the cluster (a match-all DescribeAcls filter),
// sorted by resource type, resource, principal, operation.
func List(ctx context.Context, cl kmsg.Requestor) ([]Binding, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, WithMessage(err, resp.ErrorMessage)
	}
	out := []Binding{}
	for _, res := range resp.Resources {
		for _, a := range res.ACLs {
			out = append(out, Binding{res.ResourceType, res.ResourceName, res.ResourcePatternType,
				a.Principal, a.Host, a.Operation, a.PermissionType})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ResourceType != b.ResourceType {
			return a.ResourceType < b.ResourceType
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		return a.Operation < b.Operation
	})
	return out, nil
}

// Create adds the bindings in one CreateAcls request; the first refused
// one is the error.
func Create(ctx context.Context, cl kmsg.Requestor, bs []Binding) error {
	req := kmsg.NewPtrCreateACLsRequest()
	for _, b := range bs {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = b.ResourceType, b.Resource, b.Pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, res := range resp.Results {
		if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
			return WithMessage(err, res.ErrorMessage)
		}
	}
	return nil
}

// Delete removes the ACLs matching each binding exactly (one DeleteAcls
// filter per binding) and returns how many were removed.
func Delete(ctx context.Context, cl kmsg.Requestor, bs []Binding) (int, error) {
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, b := range bs {
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = b.ResourceType, kmsg.StringPtr(b.Resource), b.Pattern
		f.Principal, f.Host = kmsg.StringPtr(b.Principal), kmsg.StringPtr(b.Host)
		f.Operation, f.PermissionType = b.Operation, b.Permission
		req.Filters = append(req.Filters, f)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, res := range resp.Results {
		if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
			return removed, WithMessage(err, res.ErrorMessage)
		}
		removed += len(res.MatchingACLs)
	}
	return removed, nil
}

// WithMessage adds a Kafka response's error message to its error code.
func WithMessage(err error, msg *string) error {
	if msg != nil && *msg != "" {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}
