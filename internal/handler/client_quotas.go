package handler

import (
	"fmt"
	"math"
	"net"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/metadata"
)

// DescribeClientQuotas v0-1 and AlterClientQuotas v0-1 (KIP-546), the
// versions Kafka 4.1 serves.
//
// Quotas live in the metadata image, one set of keys per entity (user,
// client-id, both, or ip; a null name is <default>). Describe matches
// as Kafka's ClientQuotasImage.describe (exact, default, any; strict);
// Alter validates as Kafka's ClientQuotaControlManager and writes every
// valid entity's changes in one metadata command. Enforcement is
// internal/quota. Who may call them (DESCRIBE_CONFIGS and ALTER_CONFIGS
// on the cluster) is checked before the handler (internal/authz).

func init() {
	register(kmsg.DescribeClientQuotas, 0, 1, serveDescribeClientQuotas)
	register(kmsg.AlterClientQuotas, 0, 1, serveAlterClientQuotas)
}

// quotaKeyTypes are the quota keys of each entity kind and their config
// types (Kafka's QuotaConfig: LONG keys must be integral).
var (
	userClientQuotaKeys = map[string]string{
		metadata.QuotaProducerByteRate:       "LONG",
		metadata.QuotaConsumerByteRate:       "LONG",
		metadata.QuotaRequestPercentage:      "DOUBLE",
		metadata.QuotaControllerMutationRate: "DOUBLE",
	}
	ipQuotaKeys = map[string]string{metadata.QuotaConnectionCreationRate: "INT"}
)

func serveDescribeClientQuotas(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	entries, code, msg := describeClientQuotas(e.Ctrl.Image(), req)
	if code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, strPtr(msg)
		return Now(resp)
	}
	resp.Entries = entries
	return Now(resp)
}

func describeClientQuotas(im *metadata.Image, req *kmsg.DescribeClientQuotasRequest) ([]kmsg.DescribeClientQuotasResponseEntry, int16, string) {
	exact := map[string]*string{}
	anyOf := map[string]bool{}
	for _, c := range req.Components {
		typ := c.EntityType
		if typ == "" {
			return nil, kerr.InvalidRequest.Code, "Invalid empty entity type."
		}
		if _, dup := exact[typ]; dup || anyOf[typ] {
			return nil, kerr.InvalidRequest.Code, "Entity type " + typ + " cannot appear more than once in the filter."
		}
		if typ != metadata.QuotaEntityIP && typ != metadata.QuotaEntityUser && typ != metadata.QuotaEntityClientID {
			return nil, kerr.UnsupportedVersion.Code, "Unsupported entity type " + typ
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return nil, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_EXACT, but set match string to null."
			}
			exact[typ] = c.Match
		case kmsg.QuotasMatchTypeDefault:
			if c.Match != nil {
				return nil, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
			}
			exact[typ] = nil
		case kmsg.QuotasMatchTypeAny:
			if c.Match != nil {
				return nil, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
			}
			anyOf[typ] = true
		default:
			return nil, kerr.InvalidRequest.Code, fmt.Sprintf("Unknown match type %d", c.MatchType)
		}
	}
	_, ipExact := exact[metadata.QuotaEntityIP]
	_, userExact := exact[metadata.QuotaEntityUser]
	_, clientExact := exact[metadata.QuotaEntityClientID]
	if (ipExact || anyOf[metadata.QuotaEntityIP]) && (userExact || anyOf[metadata.QuotaEntityUser] || clientExact || anyOf[metadata.QuotaEntityClientID]) {
		return nil, kerr.InvalidRequest.Code, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."
	}
	entries := []kmsg.DescribeClientQuotasResponseEntry{}
	for _, ent := range im.SortedQuotaEntities() {
		comps := ent.Components()
		if !quotaEntityMatches(comps, exact, anyOf, req.Strict) {
			continue
		}
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range comps {
			ee := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ee.Type, ee.Name = c.Type, c.Name
			entry.Entity = append(entry.Entity, ee)
		}
		vals := im.ClientQuotas[ent]
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, vals[k]
			entry.Values = append(entry.Values, v)
		}
		entries = append(entries, entry)
	}
	return entries, 0, ""
}

// quotaEntityMatches is Kafka's ClientQuotasImage.matches.
func quotaEntityMatches(comps []metadata.QuotaComponent, exact map[string]*string, anyOf map[string]bool, strict bool) bool {
	if strict && len(comps) != len(exact)+len(anyOf) {
		return false
	}
	find := func(typ string) (metadata.QuotaComponent, bool) {
		for _, c := range comps {
			if c.Type == typ {
				return c, true
			}
		}
		return metadata.QuotaComponent{}, false
	}
	for typ, want := range exact {
		c, ok := find(typ)
		if !ok || (want == nil) != (c.Name == nil) || (want != nil && *want != *c.Name) {
			return false
		}
	}
	for typ := range anyOf {
		if _, ok := find(typ); !ok {
			return false
		}
	}
	return true
}

func serveAlterClientQuotas(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	return Result{Deferred: func() kmsg.Response {
		im := e.Ctrl.Image()
		type result struct {
			comps []metadata.QuotaComponent
			code  int16
			msg   string
		}
		var order []metadata.QuotaEntity
		results := map[metadata.QuotaEntity]*result{}
		var cmd controller.AlterClientQuotas
		var pending []metadata.QuotaEntity // entities whose changes are in cmd
		for _, entry := range req.Entries {
			comps := make([]metadata.QuotaComponent, 0, len(entry.Entity))
			for _, c := range entry.Entity {
				comps = append(comps, metadata.QuotaComponent{Type: c.Type, Name: c.Name})
			}
			ent, key, code, msg := validateQuotaEntity(comps)
			if _, seen := results[key]; !seen {
				order = append(order, key)
				results[key] = &result{comps: comps}
			} else {
				// Kafka's ClientQuotaControlManager refuses a repeated entity
				// (and a repeated key, which it reports the same way).
				res := results[key]
				res.code, res.msg = kerr.InvalidRequest.Code, "Ignoring duplicate entity "+ent.String()
				continue
			}
			res := results[key]
			if code != 0 {
				res.code, res.msg = code, msg
				continue
			}
			changes, code, msg := quotaChanges(im, ent, comps, entry.Ops)
			if code != 0 {
				res.code, res.msg = code, msg
				continue
			}
			if !req.ValidateOnly && len(changes) > 0 {
				cmd.Changes = append(cmd.Changes, changes...)
				pending = append(pending, key)
			}
		}
		// An entity refused by a later duplicate drops its changes too.
		if len(pending) > 0 {
			var kept []controller.ClientQuotaChange
			for _, ch := range cmd.Changes {
				ent, _ := metadata.QuotaEntityOf(ch.Entity)
				if results[ent].code == 0 {
					kept = append(kept, ch)
				}
			}
			cmd.Changes = kept
		}
		var proposeErr error
		if len(cmd.Changes) > 0 {
			proposeErr = e.Ctrl.AlterClientQuotas(r.Ctx, cmd)
		}
		for _, key := range order {
			res := results[key]
			out := kmsg.NewAlterClientQuotasResponseEntry()
			for _, c := range res.comps {
				ee := kmsg.NewAlterClientQuotasResponseEntryEntity()
				ee.Type, ee.Name = c.Type, c.Name
				out.Entity = append(out.Entity, ee)
			}
			switch {
			case res.code != 0:
				out.ErrorCode, out.ErrorMessage = res.code, strPtr(res.msg)
			case proposeErr != nil:
				out.ErrorCode, out.ErrorMessage = e.errCode(proposeErr), errMsg(proposeErr)
			}
			resp.Entries = append(resp.Entries, out)
		}
		return resp
	}}
}

// validateQuotaEntity is Kafka's validateEntity and
// configKeysForEntityType: known types, each once, no empty name, and
// ip alone. key identifies the entity even when it is invalid, so a
// repeated invalid entity is still reported once.
func validateQuotaEntity(comps []metadata.QuotaComponent) (ent metadata.QuotaEntity, key metadata.QuotaEntity, code int16, msg string) {
	seen := map[string]bool{}
	for _, c := range comps {
		// key: best effort for invalid entities (first of each type).
		var p *metadata.QuotaName
		switch c.Type {
		case metadata.QuotaEntityUser:
			p = &key.User
		case metadata.QuotaEntityClientID:
			p = &key.ClientID
		case metadata.QuotaEntityIP:
			p = &key.IP
		}
		if p != nil && !p.Present {
			p.Present = true
			if c.Name != nil {
				p.Name = *c.Name
				if p.Name == "" {
					p.Name = "\x00empty"
				}
			}
		}
	}
	if len(comps) == 0 {
		return ent, key, kerr.InvalidRequest.Code, "Invalid empty client quota entity"
	}
	for _, c := range comps {
		if seen[c.Type] {
			return ent, key, kerr.InvalidRequest.Code, "Invalid client quota entity, duplicate entity entry " + c.Type
		}
		seen[c.Type] = true
		switch c.Type {
		case metadata.QuotaEntityUser, metadata.QuotaEntityClientID, metadata.QuotaEntityIP:
		default:
			return ent, key, kerr.InvalidRequest.Code, "Unhandled client quota entity type: " + c.Type
		}
		if c.Name != nil && *c.Name == "" {
			return ent, key, kerr.InvalidRequest.Code, "Empty " + c.Type + " not supported"
		}
	}
	ent, _ = metadata.QuotaEntityOf(comps)
	if ent.IP.Present {
		if ent.User.Present || ent.ClientID.Present {
			return ent, key, kerr.InvalidRequest.Code, "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
		}
		if !ent.IP.IsDefault() && net.ParseIP(ent.IP.Name) == nil {
			return ent, key, kerr.InvalidRequest.Code, ent.IP.Name + " is not a valid IP or resolvable host."
		}
	}
	return ent, key, 0, ""
}

// quotaChanges turns one entity's ops into metadata changes, as Kafka's
// alterClientQuotaEntity: a removal of an absent key and a value equal
// to the current one change nothing.
func quotaChanges(im *metadata.Image, ent metadata.QuotaEntity, comps []metadata.QuotaComponent, ops []kmsg.AlterClientQuotasRequestEntryOp) ([]controller.ClientQuotaChange, int16, string) {
	keys := userClientQuotaKeys
	if ent.IP.Present {
		keys = ipQuotaKeys
	}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Key] {
			return nil, kerr.InvalidRequest.Code, "Ignoring duplicate entity " + ent.String()
		}
		seen[op.Key] = true
	}
	cur := im.ClientQuotas[ent]
	var out []controller.ClientQuotaChange
	for _, op := range ops {
		if op.Remove {
			if _, ok := cur[op.Key]; ok {
				out = append(out, controller.ClientQuotaChange{Entity: comps, Key: op.Key})
			}
			continue
		}
		if code, msg := validateQuotaValue(keys, op.Key, op.Value); code != 0 {
			return nil, code, msg
		}
		if v, ok := cur[op.Key]; ok && v == op.Value {
			continue
		}
		v := op.Value
		out = append(out, controller.ClientQuotaChange{Entity: comps, Key: op.Key, Value: &v})
	}
	return out, 0, ""
}

// validateQuotaValue is Kafka's validateQuotaKeyValue.
func validateQuotaValue(keys map[string]string, key string, v float64) (int16, string) {
	typ, ok := keys[key]
	if !ok {
		return kerr.InvalidRequest.Code, "Invalid configuration key " + key
	}
	if !(v > 0) {
		return kerr.InvalidRequest.Code, "Quota " + key + " must be greater than 0"
	}
	integral := func() (int16, string) {
		if math.Abs(math.Mod(v, 1)) > 1e-6 {
			return kerr.InvalidRequest.Code, key + " cannot be a fractional value."
		}
		return 0, ""
	}
	switch typ {
	case "INT":
		if v > math.MaxInt32 {
			return kerr.InvalidRequest.Code, "Proposed value for " + key + " is too large for an INT."
		}
		return integral()
	case "LONG":
		if v > math.MaxInt64 {
			return kerr.InvalidRequest.Code, "Proposed value for " + key + " is too large for a LONG."
		}
		return integral()
	}
	if math.IsInf(v, 1) {
		// Kafka takes it; the metadata log's JSON cannot hold it.
		return kerr.InvalidRequest.Code, "Proposed value for " + key + " is too large for a DOUBLE."
	}
	return 0, ""
}
