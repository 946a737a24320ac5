package console

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ACLs page: every ACL of the cluster (DescribeAcls with a match-all
// filter), added with CreateAcls and removed with an exact DeleteAcls
// filter, as kafka-acls --list/--add/--remove do. Sent as Kafka requests
// directly: each form names exactly one binding.

type aclRow struct {
	ResourceType, Resource, Pattern string
	Principal, Host                 string
	Operation, Permission           string
}

func (c *Console) acls(w http.ResponseWriter, r *http.Request) {
	var rows []aclRow
	err := func() error {
		_, cl, err := c.admin(r)
		if err != nil {
			return err
		}
		ctx, cancel := c.ctx(r)
		defer cancel()
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType = kmsg.ACLResourceTypeAny
		req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
		req.Operation = kmsg.ACLOperationAny
		req.PermissionType = kmsg.ACLPermissionTypeAny
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return withMessage(err, resp.ErrorMessage)
		}
		for _, res := range resp.Resources {
			for _, a := range res.ACLs {
				rows = append(rows, aclRow{ResourceType: res.ResourceType.String(), Resource: res.ResourceName, Pattern: res.ResourcePatternType.String(),
					Principal: a.Principal, Host: a.Host, Operation: a.Operation.String(), Permission: a.PermissionType.String()})
			}
		}
		sort.Slice(rows, func(i, j int) bool {
			a, b := rows[i], rows[j]
			return fmt.Sprint(a.ResourceType, a.Resource, a.Principal, a.Operation) < fmt.Sprint(b.ResourceType, b.Resource, b.Principal, b.Operation)
		})
		return nil
	}()
	c.render(w, r, "acls", "ACLs", rows, err)
}

func withMessage(err error, msg *string) error {
	if msg != nil && *msg != "" {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}

// aclForm reads one binding from a form; every field must name a single
// value (no ANY/MATCH), as creating or removing exactly it requires.
func aclForm(r *http.Request) (rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType, err error) {
	parse := func(field string, f func(string) (int8, error)) int8 {
		if err != nil {
			return 0
		}
		v, e := f(strings.ToUpper(strings.TrimSpace(r.FormValue(field))))
		if e != nil {
			err = fmt.Errorf("%s: %w", field, e)
		}
		return v
	}
	rt = kmsg.ACLResourceType(parse("resource_type", func(s string) (int8, error) { v, e := kmsg.ParseACLResourceType(s); return int8(v), e }))
	pt = kmsg.ACLResourcePatternType(parse("pattern", func(s string) (int8, error) { v, e := kmsg.ParseACLResourcePatternType(s); return int8(v), e }))
	op = kmsg.ACLOperation(parse("operation", func(s string) (int8, error) { v, e := kmsg.ParseACLOperation(s); return int8(v), e }))
	perm = kmsg.ACLPermissionType(parse("permission", func(s string) (int8, error) { v, e := kmsg.ParseACLPermissionType(s); return int8(v), e }))
	name = strings.TrimSpace(r.FormValue("resource"))
	principal = strings.TrimSpace(r.FormValue("principal"))
	host = strings.TrimSpace(r.FormValue("host"))
	if host == "" {
		host = "*"
	}
	if err == nil && (name == "" || principal == "") {
		err = fmt.Errorf("resource and principal are required")
	}
	return
}

func (c *Console) createACL(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		rt, name, pt, principal, host, op, perm, err := aclForm(r)
		if err != nil {
			return err
		}
		_, cl, err := c.admin(r)
		if err != nil {
			return err
		}
		ctx, cancel := c.ctx(r)
		defer cancel()
		req := kmsg.NewPtrCreateACLsRequest()
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = rt, name, pt
		cr.Principal, cr.Host, cr.Operation, cr.PermissionType = principal, host, op, perm
		req.Creations = append(req.Creations, cr)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for _, res := range resp.Results {
			if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
				return withMessage(err, res.ErrorMessage)
			}
		}
		return nil
	}()
	redirect(w, r, "/acls", err, "ACL added")
}

func (c *Console) deleteACL(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		rt, name, pt, principal, host, op, perm, err := aclForm(r)
		if err != nil {
			return err
		}
		_, cl, err := c.admin(r)
		if err != nil {
			return err
		}
		ctx, cancel := c.ctx(r)
		defer cancel()
		req := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = rt, &name, pt
		f.Principal, f.Host, f.Operation, f.PermissionType = &principal, &host, op, perm
		req.Filters = append(req.Filters, f)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for _, res := range resp.Results {
			if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
				return withMessage(err, res.ErrorMessage)
			}
		}
		return nil
	}()
	redirect(w, r, "/acls", err, "ACL removed")
}
