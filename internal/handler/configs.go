package handler

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/metadata"
)

// DescribeConfigs v0-4, AlterConfigs v0-2, IncrementalAlterConfigs v0-1.
//
// TOPIC resources: the configs of metadata.TopicConfigDefs, each resolved
// topic override > cluster-wide dynamic broker default > static node
// config > built-in default, with that chain as synonyms (v1+), config
// types and documentation (v3+). Invalid names or values are
// INVALID_CONFIG, an unknown topic UNKNOWN_TOPIC_OR_PARTITION, an invalid
// topic name INVALID_TOPIC_EXCEPTION.
//
// BROKER resources: the resource name is this node's id (every broker
// config) or "" (only the cluster-wide dynamic defaults). The log.* keys
// and message.max.bytes are dynamic and may be altered cluster-wide
// (resource name ""); the controller stores them and every partition
// picks them up. Per-broker dynamic configs (resource name = node id) are
// not supported, nor are non-dynamic keys: both are INVALID_REQUEST, the
// code Kafka gives for a broker config it will not apply (KAFKA-13609).
//
// Left out: BROKER_LOGGER, CLIENT_METRICS and GROUP resources
// (INVALID_REQUEST), sensitive configs (none exist), authorization.
//
// Common to the alters: a resource repeated in one request, a null value
// (except an incremental DELETE) and a key repeated in one incremental
// resource are INVALID_REQUEST; validate_only checks without applying.
// An internal topic keeps cleanup.policy=compact: a change that would
// end it is INVALID_CONFIG (metadata.CheckClientOp; Kafka's broker takes
// it).

func init() {
	register(kmsg.DescribeConfigs, 0, 4, serveDescribeConfigs)
	register(kmsg.AlterConfigs, 0, 2, serveAlterConfigs)
	register(kmsg.IncrementalAlterConfigs, 0, 1, serveIncrementalAlterConfigs)
}

// sourceDynamicDefaultBroker is DYNAMIC_DEFAULT_BROKER_CONFIG; the other
// sources are in topics.go. DYNAMIC_BROKER_CONFIG (per-broker) never
// occurs: per-broker dynamic configs are not supported.
const sourceDynamicDefaultBroker int8 = 3

// errInvalidRequest marks request-shape errors answered INVALID_REQUEST.
var errInvalidRequest = errcode.ErrInvalidRequest

// configEntry is one described config before it is encoded.
type configEntry struct {
	name     string
	kind     metadata.ConfigKind
	readOnly bool
	doc      string
	value    string
	source   int8
	synonyms []configSynonym // highest precedence first
}

type configSynonym struct {
	name, value string
	source      int8
}

// brokerSynonyms is the broker-level chain for a topic config's default,
// named by its broker key: the dynamic cluster default, the static node
// config when it differs from the built-in default, the built-in default
// (unless Kafka lists none for the key). A config without a broker key
// has none.
func (e *Env) brokerSynonyms(im *metadata.Image, d metadata.TopicConfigDef) []configSynonym {
	if d.BrokerKey == "" {
		return nil
	}
	var out []configSynonym
	if v, ok := im.BrokerConfigs[d.BrokerKey]; ok {
		out = append(out, configSynonym{d.BrokerKey, v, sourceDynamicDefaultBroker})
	}
	static, builtin := d.Default(e.Cfg.Log), d.Default(config.Default().Log)
	if static != builtin {
		out = append(out, configSynonym{d.BrokerKey, static, sourceStaticBroker})
	}
	if !d.Unlisted {
		out = append(out, configSynonym{d.BrokerKey, builtin, sourceDefault})
	}
	return out
}

// brokerOnlySynonyms is the chain of a dynamic broker config that is no
// topic default: the dynamic cluster default, the static node config when
// it differs from the built-in default, the built-in default.
func (e *Env) brokerOnlySynonyms(im *metadata.Image, d metadata.BrokerOnlyConfig) []configSynonym {
	var out []configSynonym
	if v, ok := im.BrokerConfigs[d.Name]; ok {
		out = append(out, configSynonym{d.Name, v, sourceDynamicDefaultBroker})
	}
	static, builtin := d.Default(e.Cfg), d.Default(config.Default())
	if static != builtin {
		out = append(out, configSynonym{d.Name, static, sourceStaticBroker})
	}
	return append(out, configSynonym{d.Name, builtin, sourceDefault})
}

// topicConfigEntry resolves one topic config: the topic's override, else
// the broker-level chain, else the topic config's own default.
func (e *Env) topicConfigEntry(im *metadata.Image, d metadata.TopicConfigDef, overrides map[string]string) configEntry {
	var syn []configSynonym
	if v, ok := overrides[d.Name]; ok {
		syn = append(syn, configSynonym{d.Name, v, sourceTopic})
	}
	syn = append(syn, e.brokerSynonyms(im, d)...)
	ce := configEntry{name: d.Name, kind: d.Kind, doc: d.Doc, synonyms: syn}
	if len(syn) > 0 {
		ce.value, ce.source = syn[0].value, syn[0].source
	} else {
		ce.value, ce.source = d.Default(config.Default().Log), sourceDefault
	}
	return ce
}

func (e *Env) topicConfigEntries(im *metadata.Image, t *metadata.Topic) []configEntry {
	out := make([]configEntry, 0, len(metadata.TopicConfigDefs))
	for _, d := range metadata.TopicConfigDefs {
		out = append(out, e.topicConfigEntry(im, d, t.Configs))
	}
	return out
}

// staticBrokerEntry is a read-only broker config from the node config.
func staticBrokerEntry(name string, kind metadata.ConfigKind, value, builtin string, alwaysStatic bool, doc string) configEntry {
	syn := []configSynonym{{name, value, sourceStaticBroker}}
	if !alwaysStatic {
		if value != builtin {
			syn = append(syn, configSynonym{name, builtin, sourceDefault})
		} else {
			syn = []configSynonym{{name, builtin, sourceDefault}}
		}
	}
	return configEntry{name: name, kind: kind, readOnly: true, doc: doc, value: syn[0].value, source: syn[0].source, synonyms: syn}
}

func (e *Env) brokerConfigEntries(im *metadata.Image) []configEntry {
	var out []configEntry
	for _, d := range metadata.TopicConfigDefs {
		if d.BrokerKey == "" {
			continue
		}
		syn := e.brokerSynonyms(im, d)
		v, src := d.Default(e.Cfg.Log), sourceDefault
		if len(syn) > 0 {
			v, src = syn[0].value, syn[0].source
		}
		out = append(out, configEntry{name: d.BrokerKey, kind: d.Kind, doc: d.Doc, value: v, source: src, synonyms: syn})
	}
	for _, d := range metadata.BrokerOnlyConfigs {
		syn := e.brokerOnlySynonyms(im, d)
		out = append(out, configEntry{name: d.Name, kind: d.Kind, doc: d.Doc, value: syn[0].value, source: syn[0].source, synonyms: syn})
	}
	def := config.Default()
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	node := itoa(int64(e.Cfg.NodeID))
	out = append(out,
		staticBrokerEntry("num.partitions", metadata.KindInt, itoa(int64(e.Cfg.DefaultPartitions)), itoa(int64(def.DefaultPartitions)), false,
			"Default number of partitions for new topics."),
		staticBrokerEntry("auto.create.topics.enable", metadata.KindBoolean, strconv.FormatBool(e.Cfg.AutoCreateTopics), strconv.FormatBool(def.AutoCreateTopics), false,
			"Whether a Metadata or Produce request for an unknown topic creates it."),
		staticBrokerEntry("default.replication.factor", metadata.KindInt, itoa(int64(e.Cfg.DefaultReplicationFactor)), itoa(int64(def.DefaultReplicationFactor)), false,
			"Default replication factor for new topics."),
		staticBrokerEntry("socket.request.max.bytes", metadata.KindInt, itoa(int64(e.Cfg.SocketRequestMaxBytes)), itoa(int64(def.SocketRequestMaxBytes)), false,
			"Largest request frame the broker reads."),
		staticBrokerEntry("log.retention.check.interval.ms", metadata.KindLong, itoa(e.Cfg.Log.RetentionCheckInterval.Milliseconds()), itoa(def.Log.RetentionCheckInterval.Milliseconds()), false,
			"How often partitions are checked for segments to delete under retention."),
		staticBrokerEntry("node.id", metadata.KindInt, node, node, true, "This node's id in the cluster."),
		staticBrokerEntry("broker.id", metadata.KindInt, node, node, true, "This node's id in the cluster (the same as node.id)."),
	)
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// dynamicDefaultEntries are the cluster-wide dynamic broker defaults: what
// Kafka describes for the BROKER resource "".
func dynamicDefaultEntries(im *metadata.Image) []configEntry {
	var out []configEntry
	for key, v := range im.BrokerConfigs {
		kind, doc := metadata.ConfigKind(0), ""
		if d, ok := metadata.LookupBrokerConfig(key); ok {
			kind, doc = d.Kind, d.Doc
		} else if d, ok := metadata.LookupBrokerOnlyConfig(key); ok {
			kind, doc = d.Kind, d.Doc
		} else {
			continue
		}
		out = append(out, configEntry{name: key, kind: kind, doc: doc, value: v, source: sourceDynamicDefaultBroker,
			synonyms: []configSynonym{{key, v, sourceDynamicDefaultBroker}}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// brokerResource checks a BROKER resource name: "" (the cluster default)
// or this node's id.
func (e *Env) brokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: broker id must be an integer, but it is: %s", errInvalidRequest, name)
	}
	if int32(id) != e.Cfg.NodeID {
		return fmt.Errorf("%w: unexpected broker id, expected %d or empty string, but received %s", errInvalidRequest, e.Cfg.NodeID, name)
	}
	return nil
}

func serveDescribeConfigs(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	im := e.Ctrl.Image()
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []configEntry
		var err error
		var code int16
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := im.Topics[rr.ResourceName]
			switch {
			case !controller.ValidTopicName(rr.ResourceName):
				code, err = kerr.InvalidTopicException.Code, fmt.Errorf("invalid topic name %q", rr.ResourceName)
			case t == nil:
				code, err = kerr.UnknownTopicOrPartition.Code, fmt.Errorf("unknown topic %s", rr.ResourceName)
			default:
				entries = e.topicConfigEntries(im, t)
			}
		case kmsg.ConfigResourceTypeBroker:
			if err = e.brokerResource(rr.ResourceName); err != nil {
				code = kerr.InvalidRequest.Code
			} else if rr.ResourceName == "" {
				entries = dynamicDefaultEntries(im)
			} else {
				entries = e.brokerConfigEntries(im)
			}
		default:
			code, err = kerr.InvalidRequest.Code, fmt.Errorf("unsupported resource type: %v", rr.ResourceType)
		}
		sr.ErrorCode, sr.ErrorMessage = code, errMsg(err)
		for _, ce := range entries {
			// Kafka treats an empty name list like a null one: every config.
			if len(rr.ConfigNames) > 0 && !slices.Contains(rr.ConfigNames, ce.name) {
				continue
			}
			sr.Configs = append(sr.Configs, ce.encode(req))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return Now(resp)
}

func (ce configEntry) encode(req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = ce.name
	v := ce.value
	c.Value = &v
	c.ReadOnly = ce.readOnly
	c.Source = kmsg.ConfigSource(ce.source)
	c.IsDefault = ce.source == sourceDefault
	c.ConfigType = kmsg.ConfigType(ce.kind)
	if req.IncludeSynonyms {
		for _, s := range ce.synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			sv := s.value
			cs.Name, cs.Value, cs.Source = s.name, &sv, kmsg.ConfigSource(s.source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	if req.IncludeDocumentation && ce.doc != "" {
		doc := ce.doc
		c.Documentation = &doc
	}
	return c
}

// alterResult is the outcome for one resource of an alter request.
type alterResult struct {
	code int16
	err  error
}

func (e *Env) alterFailed(err error) alterResult { return alterResult{e.errCode(err), err} }

// resourceKey identifies a config resource within one request.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// duplicates returns the resources named more than once.
func duplicates(keys []resourceKey) map[resourceKey]bool {
	n := map[resourceKey]int{}
	for _, k := range keys {
		n[k]++
	}
	dup := map[resourceKey]bool{}
	for k, c := range n {
		if c > 1 {
			dup[k] = true
		}
	}
	return dup
}

func serveAlterConfigs(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	keys := make([]resourceKey, len(req.Resources))
	for i, rr := range req.Resources {
		keys[i] = resourceKey{rr.ResourceType, rr.ResourceName}
	}
	dup := duplicates(keys)
	for _, rr := range req.Resources {
		var res alterResult
		if dup[resourceKey{rr.ResourceType, rr.ResourceName}] {
			res = e.alterFailed(fmt.Errorf("%w: duplicate resource %s", errInvalidRequest, rr.ResourceName))
		} else {
			changes := make([]controller.ConfigChange, 0, len(rr.Configs))
			for _, c := range rr.Configs {
				changes = append(changes, controller.ConfigChange{Name: c.Name, Value: c.Value})
			}
			res = e.alterResource(r, rr.ResourceType, rr.ResourceName, changes, true, req.ValidateOnly)
		}
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = res.code, errMsg(res.err)
		resp.Resources = append(resp.Resources, sr)
	}
	return Now(resp)
}

func serveIncrementalAlterConfigs(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	keys := make([]resourceKey, len(req.Resources))
	for i, rr := range req.Resources {
		keys[i] = resourceKey{rr.ResourceType, rr.ResourceName}
	}
	dup := duplicates(keys)
	im := e.Ctrl.Image()
	for _, rr := range req.Resources {
		var res alterResult
		if dup[resourceKey{rr.ResourceType, rr.ResourceName}] {
			res = e.alterFailed(fmt.Errorf("%w: duplicate resource %s", errInvalidRequest, rr.ResourceName))
		} else if changes, err := e.incrementalChanges(im, rr); err != nil {
			res = e.alterFailed(err)
		} else {
			res = e.alterResource(r, rr.ResourceType, rr.ResourceName, changes, false, req.ValidateOnly)
		}
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		sr.ErrorCode, sr.ErrorMessage = res.code, errMsg(res.err)
		resp.Resources = append(resp.Resources, sr)
	}
	return Now(resp)
}

// incrementalChanges turns SET/DELETE/APPEND/SUBTRACT operations into
// plain set/delete changes, resolving list operations against the current
// effective value as Kafka does.
func (e *Env) incrementalChanges(im *metadata.Image, rr kmsg.IncrementalAlterConfigsRequestResource) ([]controller.ConfigChange, error) {
	if rr.ResourceType != kmsg.ConfigResourceTypeTopic && rr.ResourceType != kmsg.ConfigResourceTypeBroker {
		return nil, fmt.Errorf("%w: unsupported resource type: %v", errInvalidRequest, rr.ResourceType)
	}
	seen := map[string]bool{}
	var out []controller.ConfigChange
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return nil, fmt.Errorf("%w: duplicate config key %s", errInvalidRequest, c.Name)
		}
		seen[c.Name] = true
		if c.Value == nil && c.Op != kmsg.IncrementalAlterConfigOpDelete {
			return nil, fmt.Errorf("%w: null value not supported for %s", errInvalidRequest, c.Name)
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			out = append(out, controller.ConfigChange{Name: c.Name, Value: c.Value})
		case kmsg.IncrementalAlterConfigOpDelete:
			out = append(out, controller.ConfigChange{Name: c.Name})
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			cur, kind, ok := e.currentValue(im, rr.ResourceType, rr.ResourceName, c.Name)
			if !ok {
				return nil, fmt.Errorf("%w: %s", metadata.ErrUnknownConfig, c.Name)
			}
			if kind != metadata.KindList {
				return nil, fmt.Errorf("%w: cannot %v to key %s because its type is not LIST", metadata.ErrInvalidConfig, c.Op, c.Name)
			}
			v := listOp(cur, *c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
			out = append(out, controller.ConfigChange{Name: c.Name, Value: &v})
		default:
			return nil, fmt.Errorf("%w: unknown operation type %d", errInvalidRequest, c.Op)
		}
	}
	return out, nil
}

// currentValue is a config's effective value for a list operation; ok is
// false for a config that does not exist (or a resource that does not: the
// alter reports that itself).
func (e *Env) currentValue(im *metadata.Image, typ kmsg.ConfigResourceType, resource, name string) (string, metadata.ConfigKind, bool) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		d, ok := metadata.LookupTopicConfig(name)
		if !ok {
			return "", 0, false
		}
		var overrides map[string]string
		if t := im.Topics[resource]; t != nil {
			overrides = t.Configs
		}
		return e.topicConfigEntry(im, d, overrides).value, d.Kind, true
	case kmsg.ConfigResourceTypeBroker:
		d, ok := metadata.LookupBrokerConfig(name)
		if !ok {
			return "", 0, false
		}
		if syn := e.brokerSynonyms(im, d); len(syn) > 0 {
			return syn[0].value, d.Kind, true
		}
		return d.Default(e.Cfg.Log), d.Kind, true
	}
	return "", 0, false
}

// listOp appends the comma-separated items of arg to (or subtracts them
// from) the list cur.
func listOp(cur, arg string, add bool) string {
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	items, args := split(cur), split(arg)
	if add {
		for _, a := range args {
			if !slices.Contains(items, a) {
				items = append(items, a)
			}
		}
	} else {
		items = slices.DeleteFunc(items, func(s string) bool { return slices.Contains(args, s) })
	}
	return strings.Join(items, ",")
}

// alterResource validates and (unless validateOnly) applies changes to one
// resource; replace drops the existing overrides first.
func (e *Env) alterResource(r *Request, typ kmsg.ConfigResourceType, name string, changes []controller.ConfigChange, replace, validateOnly bool) alterResult {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !controller.ValidTopicName(name) {
			return e.alterFailed(fmt.Errorf("%w: %q", controller.ErrInvalidTopic, name))
		}
		t, ok := e.Ctrl.Image().Topics[name]
		if !ok {
			return e.alterFailed(fmt.Errorf("%w: %s", controller.ErrUnknownTopic, name))
		}
		for _, c := range changes {
			if c.Value == nil {
				if replace {
					return e.alterFailed(fmt.Errorf("%w: null value not supported for %s", errInvalidRequest, c.Name))
				}
				continue
			}
			if err := metadata.ValidateTopicConfig(c.Name, *c.Value); err != nil {
				return e.alterFailed(err)
			}
		}
		if err := metadata.CheckClientOp(name, metadata.OpAlterConfigs, r.ClientID, controller.ConfigsAfter(t.Configs, changes, replace)); err != nil {
			return e.alterFailed(err)
		}
		if validateOnly {
			return alterResult{}
		}
		if err := e.Ctrl.AlterTopicConfigs(r.Ctx, name, changes, replace); err != nil {
			return e.alterFailed(err)
		}
		e.Logger.Info("altered topic configs", "topic", name, "changes", len(changes), "replace", replace)
		return alterResult{}
	case kmsg.ConfigResourceTypeBroker:
		if err := e.brokerResource(name); err != nil {
			return e.alterFailed(err)
		}
		if name != "" {
			return e.alterFailed(fmt.Errorf("%w: per-broker dynamic configs are not supported; set a cluster-wide default with an empty resource name", errInvalidRequest))
		}
		for _, c := range changes {
			if c.Value == nil {
				if replace {
					return e.alterFailed(fmt.Errorf("%w: null value not supported for %s", errInvalidRequest, c.Name))
				}
				if !metadata.IsDynamicBrokerConfig(c.Name) {
					return e.alterFailed(fmt.Errorf("%w: %s is not a dynamic broker config", errInvalidRequest, c.Name))
				}
				continue
			}
			// Kafka answers INVALID_REQUEST, not INVALID_CONFIG, for a
			// broker config it rejects (KAFKA-13609).
			if err := metadata.ValidateBrokerConfig(c.Name, *c.Value); err != nil {
				return e.alterFailed(fmt.Errorf("%w: %w", errInvalidRequest, err))
			}
		}
		if validateOnly {
			return alterResult{}
		}
		if err := e.Ctrl.AlterBrokerConfigs(r.Ctx, changes, replace); err != nil {
			return e.alterFailed(err)
		}
		e.Logger.Info("altered cluster-wide broker configs", "changes", len(changes), "replace", replace)
		return alterResult{}
	default:
		return e.alterFailed(fmt.Errorf("%w: unsupported resource type: %v", errInvalidRequest, typ))
	}
}
