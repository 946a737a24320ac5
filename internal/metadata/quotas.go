package metadata

import "sort"

// Kafka's client quota entity types (ClientQuotaEntity) and config keys
// (QuotaConfig).
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
	QuotaEntityIP       = "ip"

	QuotaProducerByteRate       = "producer_byte_rate"
	QuotaConsumerByteRate       = "consumer_byte_rate"
	QuotaRequestPercentage      = "request_percentage"
	QuotaControllerMutationRate = "controller_mutation_rate"
	QuotaConnectionCreationRate = "connection_creation_rate"
)

// QuotaName is one component of a quota entity: absent, the default
// (Kafka's <default>, a null name on the wire) or a name. Kafka refuses
// empty names, so Present with an empty Name is the default.
type QuotaName struct {
	Present bool
	Name    string // "" when Present: the default entity
}

// IsDefault reports whether the component is <default>.
func (n QuotaName) IsDefault() bool { return n.Present && n.Name == "" }

// Named returns the component naming name.
func Named(name string) QuotaName { return QuotaName{Present: true, Name: name} }

// DefaultName is the <default> component.
var DefaultName = QuotaName{Present: true}

// QuotaEntity is whom a client quota applies to (Kafka's
// ClientQuotaEntity): a user and/or a client id, or an IP; comparable,
// so it keys Image.ClientQuotas.
type QuotaEntity struct {
	User, ClientID, IP QuotaName
}

// QuotaComponent is one entity component as Kafka's APIs carry it:
// a type and a name, nil for <default>.
type QuotaComponent struct {
	Type string  `json:"type"`
	Name *string `json:"name"`
}

// Components lists the entity's components in a fixed order (user,
// client-id, ip).
func (e QuotaEntity) Components() []QuotaComponent {
	var out []QuotaComponent
	add := func(typ string, n QuotaName) {
		if !n.Present {
			return
		}
		c := QuotaComponent{Type: typ}
		if !n.IsDefault() {
			name := n.Name
			c.Name = &name
		}
		out = append(out, c)
	}
	add(QuotaEntityUser, e.User)
	add(QuotaEntityClientID, e.ClientID)
	add(QuotaEntityIP, e.IP)
	return out
}

// QuotaEntityOf builds an entity from components; ok is false for an
// unknown type, a type given twice or an empty name (Kafka refuses each;
// the caller words the error).
func QuotaEntityOf(cs []QuotaComponent) (e QuotaEntity, ok bool) {
	for _, c := range cs {
		var p *QuotaName
		switch c.Type {
		case QuotaEntityUser:
			p = &e.User
		case QuotaEntityClientID:
			p = &e.ClientID
		case QuotaEntityIP:
			p = &e.IP
		default:
			return QuotaEntity{}, false
		}
		if p.Present || (c.Name != nil && *c.Name == "") {
			return QuotaEntity{}, false
		}
		p.Present = true
		if c.Name != nil {
			p.Name = *c.Name
		}
	}
	return e, true
}

// String is the entity as Kafka's ClientQuotaEntity prints it.
func (e QuotaEntity) String() string {
	s := "ClientQuotaEntity(entries={"
	for i, c := range e.Components() {
		if i > 0 {
			s += ", "
		}
		name := "null"
		if c.Name != nil {
			name = *c.Name
		}
		s += c.Type + "=" + name
	}
	return s + "})"
}

// cloneQuotas deep-copies the client quotas.
func cloneQuotas(in map[QuotaEntity]map[string]float64) map[QuotaEntity]map[string]float64 {
	if len(in) == 0 {
		return nil
	}
	out := make(map[QuotaEntity]map[string]float64, len(in))
	for e, vs := range in {
		cv := make(map[string]float64, len(vs))
		for k, v := range vs {
			cv[k] = v
		}
		out[e] = cv
	}
	return out
}

// SortedQuotaEntities lists the entities with quotas in a stable order.
func (im *Image) SortedQuotaEntities() []QuotaEntity {
	out := make([]QuotaEntity, 0, len(im.ClientQuotas))
	for e := range im.ClientQuotas {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
