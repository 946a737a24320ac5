package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/authz"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/metadata"
)

// CreateAcls, DescribeAcls and DeleteAcls v1-3, the versions Kafka 4.1
// serves (v0 was removed by KIP-896).
//
// ACLs live in the metadata image (the alter_acls command). Without
// [authorization] enabled the three answer SECURITY_DISABLED, as Kafka
// without an authorizer. Who may call them (ALTER and DESCRIBE on the
// cluster) is checked before the handler (authz/checks.go). Validation
// and messages are Kafka's (AclApis, AclControlManager).

func init() {
	register(kmsg.CreateACLs, 1, 3, serveCreateACLs)
	register(kmsg.DescribeACLs, 1, 3, serveDescribeACLs)
	register(kmsg.DeleteACLs, 1, 3, serveDeleteACLs)
}

const noAuthorizer = "No Authorizer is configured on the broker"

func serveCreateACLs(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	results := make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range results {
		results[i] = kmsg.NewCreateACLsResponseResult()
	}
	if e.Authz == nil {
		for i := range results {
			results[i].ErrorCode, results[i].ErrorMessage = kerr.SecurityDisabled.Code, strPtr("No Authorizer is configured.")
		}
		resp.Results = results
		return Now(resp)
	}
	var cmd controller.AlterACLs
	valid := make([]bool, len(req.Creations))
	for i, c := range req.Creations {
		acl := metadata.ACL{ResourceType: int8(c.ResourceType), ResourceName: c.ResourceName, PatternType: int8(c.ResourcePatternType),
			Principal: c.Principal, Host: c.Host, Operation: int8(c.Operation), Permission: int8(c.PermissionType)}
		if err := authz.ValidateNew(acl); err != nil {
			results[i].ErrorCode, results[i].ErrorMessage = kerr.InvalidRequest.Code, strPtr(err.Error())
			continue
		}
		valid[i] = true
		cmd.Creations = append(cmd.Creations, acl)
	}
	return Result{Deferred: func() kmsg.Response {
		var err error
		if len(cmd.Creations) > 0 {
			err = e.Ctrl.AlterACLs(r.Ctx, cmd)
		}
		for i := range results {
			if valid[i] && err != nil {
				results[i].ErrorCode, results[i].ErrorMessage = e.errCode(err), errMsg(err)
			}
		}
		resp.Results = results
		return resp
	}}
}

func serveDescribeACLs(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if e.Authz == nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, strPtr(noAuthorizer)
		return Now(resp)
	}
	f := authz.Filter{ResourceType: req.ResourceType, Name: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType}
	if err := f.Validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, strPtr(err.Error())
		return Now(resp)
	}
	// One resource entry per pattern, in the order patterns first appear.
	index := map[[3]any]int{}
	for _, acl := range e.Ctrl.Image().ACLs {
		if !f.Matches(acl) {
			continue
		}
		key := [3]any{acl.ResourceType, acl.ResourceName, acl.PatternType}
		i, ok := index[key]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName = kmsg.ACLResourceType(acl.ResourceType), acl.ResourceName
			res.ResourcePatternType = kmsg.ACLResourcePatternType(acl.PatternType)
			i = len(resp.Resources)
			index[key] = i
			resp.Resources = append(resp.Resources, res)
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host = acl.Principal, acl.Host
		a.Operation, a.PermissionType = kmsg.ACLOperation(acl.Operation), kmsg.ACLPermissionType(acl.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
	}
	return Now(resp)
}

func serveDeleteACLs(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	results := make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range results {
		results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	if e.Authz == nil {
		for i := range results {
			results[i].ErrorCode, results[i].ErrorMessage = kerr.SecurityDisabled.Code, strPtr("No Authorizer is configured.")
		}
		resp.Results = results
		return Now(resp)
	}
	im := e.Ctrl.Image()
	var cmd controller.AlterACLs
	matched := make([][]metadata.ACL, len(req.Filters))
	for i, fr := range req.Filters {
		f := authz.Filter{ResourceType: fr.ResourceType, Name: fr.ResourceName, PatternType: fr.ResourcePatternType,
			Principal: fr.Principal, Host: fr.Host, Operation: fr.Operation, Permission: fr.PermissionType}
		if err := f.Validate(); err != nil {
			results[i].ErrorCode, results[i].ErrorMessage = kerr.InvalidRequest.Code, strPtr(err.Error())
			continue
		}
		for _, acl := range im.ACLs {
			if f.Matches(acl) {
				matched[i] = append(matched[i], acl)
				cmd.Deletions = append(cmd.Deletions, acl)
			}
		}
	}
	return Result{Deferred: func() kmsg.Response {
		var err error
		if len(cmd.Deletions) > 0 {
			err = e.Ctrl.AlterACLs(r.Ctx, cmd)
		}
		for i := range results {
			for _, acl := range matched[i] {
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName = kmsg.ACLResourceType(acl.ResourceType), acl.ResourceName
				m.ResourcePatternType = kmsg.ACLResourcePatternType(acl.PatternType)
				m.Principal, m.Host = acl.Principal, acl.Host
				m.Operation, m.PermissionType = kmsg.ACLOperation(acl.Operation), kmsg.ACLPermissionType(acl.Permission)
				if err != nil {
					m.ErrorCode, m.ErrorMessage = e.errCode(err), errMsg(err)
				}
				results[i].MatchingACLs = append(results[i].MatchingACLs, m)
			}
		}
		resp.Results = results
		return resp
	}}
}
