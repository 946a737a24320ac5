package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/aclreq"
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
		bs, err := aclreq.List(ctx, cl)
		for _, b := range bs {
			rows = append(rows, aclRow{ResourceType: b.ResourceType.String(), Resource: b.Resource, Pattern: b.Pattern.String(),
				Principal: b.Principal, Host: b.Host, Operation: b.Operation.String(), Permission: b.Permission.String()})
		}
		return err
	}()
	c.render(w, r, "acls", "ACLs", rows, err)
}

// aclForm reads one binding from a form; every field must name a single
// value (no ANY/MATCH), as creating or removing exactly it requires.
func aclForm(r *http.Request) (b aclreq.Binding, err error) {
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
	b.ResourceType = kmsg.ACLResourceType(parse("resource_type", func(s string) (int8, error) { v, e := kmsg.ParseACLResourceType(s); return int8(v), e }))
	b.Pattern = kmsg.ACLResourcePatternType(parse("pattern", func(s string) (int8, error) { v, e := kmsg.ParseACLResourcePatternType(s); return int8(v), e }))
	b.Operation = kmsg.ACLOperation(parse("operation", func(s string) (int8, error) { v, e := kmsg.ParseACLOperation(s); return int8(v), e }))
	b.Permission = kmsg.ACLPermissionType(parse("permission", func(s string) (int8, error) { v, e := kmsg.ParseACLPermissionType(s); return int8(v), e }))
	b.Resource = strings.TrimSpace(r.FormValue("resource"))
	b.Principal = strings.TrimSpace(r.FormValue("principal"))
	b.Host = strings.TrimSpace(r.FormValue("host"))
	if b.Host == "" {
		b.Host = "*"
	}
	if err == nil && (b.Resource == "" || b.Principal == "") {
		err = fmt.Errorf("resource and principal are required")
	}
	return b, err
}

// changeACL runs one binding from the form through add or remove.
func (c *Console) changeACL(w http.ResponseWriter, r *http.Request, notice string, change func(context.Context, kmsg.Requestor, aclreq.Binding) error) {
	err := func() error {
		b, err := aclForm(r)
		if err != nil {
			return err
		}
		_, cl, err := c.admin(r)
		if err != nil {
			return err
		}
		ctx, cancel := c.ctx(r)
		defer cancel()
		return change(ctx, cl, b)
	}()
	redirect(w, r, "/acls", err, notice)
}

func (c *Console) createACL(w http.ResponseWriter, r *http.Request) {
	c.changeACL(w, r, "ACL added", func(ctx context.Context, cl kmsg.Requestor, b aclreq.Binding) error {
		return aclreq.Create(ctx, cl, []aclreq.Binding{b})
	})
}

func (c *Console) deleteACL(w http.ResponseWriter, r *http.Request) {
	c.changeACL(w, r, "ACL removed", func(ctx context.Context, cl kmsg.Requestor, b aclreq.Binding) error {
		_, err := aclreq.Delete(ctx, cl, []aclreq.Binding{b})
		return err
	})
}
