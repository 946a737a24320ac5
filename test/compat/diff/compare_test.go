package diff

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// known is one documented difference between Apache Kafka and Strom. The
// suite stays green only for differences listed here; each id is a heading
// anchor in docs/compatibility.md, where the difference is described.
type known struct {
	id   string // anchor in docs/compatibility.md
	kind string // "bug": Strom is wrong; "scope": Strom deliberately serves less; "deliberate": Strom refuses on purpose what Kafka accepts
	test string // regexp on the test name (Test.../scenario/vN)
	step string // regexp on the step name
	path string // regexp on the field path
}

// knownDifferences is the allow-list. Remove an entry when the broker is
// fixed; the test then guards the fix.
var knownDifferences = []known{
	{id: "apiversions-ranges", kind: "scope", test: `^TestApiVersions/`, step: `^ApiVersions$`, path: `^ApiKeys\[ApiKey=\d+\]\.M(in|ax)Version$`},
	{id: "produce-duplicate-log-append-time", kind: "legit", test: `^TestProduce/idempotent`, step: `duplicate`, path: `\.LogAppendTime$`},
	{id: "flush-messages-default", kind: "legit", test: `^Test(Configs|CreateTopics)/`, step: ``, path: `\.Configs\[Name=flush\.messages\]\.(Value|ConfigSynonyms\[Name=log\.flush\.interval\.messages\]\.Value)$`},
	{id: "flush-messages-default", kind: "legit", test: `^TestTopicConfig(sLibrdkafka|Tools)$`, step: ``, path: `^flush\.messages$`},
	{id: "min-insync-source", kind: "legit", test: `^TestTopicConfig(sLibrdkafka|Tools)$`, step: ``, path: `^min\.insync\.replicas$`},
	{id: "metadata-auto-create-sync", kind: "legit", test: `^TestMetadata/auto-create`, step: `^unknown topic, auto-create`, path: `^Topics\[`},
	{id: "internal-topics", kind: "deliberate", test: `^TestInternalTopics/(incremental-alter-configs|alter-configs|create-partitions|delete-topics)/`,
		step: `^(internal topic: (cleanup\.policy=|append delete|delete cleanup|without)|grow an internal topic|delete an internal topic)`, path: `ErrorCode$`},
	{id: "fetch-aborted-beyond-records", kind: "legit", test: `^TestTransactions/read-committed-fetch/`, step: `^read_committed after the second abort from 4 `, path: `\.AbortedTransactions(\[\d+\]\.(FirstOffset|ProducerID))?$`},
	{id: "add-partitions-waits-for-completion", kind: "legit", test: `^TestTransactions/add-partitions/v[0-3]$`, step: `^add while the abort completes or after`, path: `ErrorCode$`},
}

var knownRE = map[string]*regexp.Regexp{}

func match(pattern, s string) bool {
	re, ok := knownRE[pattern]
	if !ok {
		re = regexp.MustCompile(pattern)
		knownRE[pattern] = re
	}
	return re.MatchString(s)
}

func allowed(test, step, path string) *known {
	for i := range knownDifferences {
		e := &knownDifferences[i]
		if match(e.test, test) && match(e.step, step) && match(e.path, path) {
			return e
		}
	}
	return nil
}

// normalize turns a response into generic JSON values and rewrites what
// legitimately differs between two brokers; docs/compatibility.md lists
// each rule and why.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	var g any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&g); err != nil {
		return "undecodable: " + err.Error()
	}
	return walk("", g)
}

// dropped fields: texts, throttling and documentation that brokers may
// word or set as they like, and the codec's own bookkeeping.
var dropped = map[string]bool{
	"ThrottleMillis": true,
	"ErrorMessage":   true,
	"Documentation":  true,
	"UnknownTags":    true,
	"Version":        true, // the request's version, identical by construction
}

func walk(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		// Kafka 4 formats its storage with a cluster-wide
		// min.insync.replicas, so it reports that source for the default
		// (docs/compatibility.md#min-insync-source).
		if x["Name"] == "min.insync.replicas" {
			if n, ok := num(x["Source"]); ok && n == 3 {
				x["Source"] = json.Number("5")
			}
			if x["Source"] == "DYNAMIC_DEFAULT_BROKER_CONFIG" {
				x["Source"] = "DEFAULT_CONFIG"
			}
		}
		for k, e := range x {
			if dropped[k] {
				delete(x, k)
				continue
			}
			x[k] = walkField(k, e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = walk(key, e)
		}
		if key != "Synonyms" { // synonyms are ordered by precedence
			sortByIdentity(x)
		}
		if key == "Partitions" { // a list of partition numbers is a set
			sortNumbers(x)
		}
		return x
	}
	return v
}

func walkField(k string, e any) any {
	switch {
	case k == "ClusterID":
		if e != nil {
			return "<cluster-id>"
		}
	case k == "Host":
		return "<host>"
	case k == "Port":
		return "<port>"
	case k == "TopicID":
		return uuidClass(e)
	case k == "ProducerID":
		if n, ok := num(e); ok && n >= 0 {
			return "<producer-id>"
		}
	case k == "MemberID" || k == "LeaderID" || k == "Leader" && isString(e):
		if str, ok := e.(string); ok && str != "" {
			return "<member-id>"
		}
	case k == "StartTimestamp" || k == "LastTimestamp":
		// Wall-clock times of the coordinator or of a marker; the
		// record timestamps the tests write are fixed and compared.
		if n, ok := num(e); ok && n > baseTimestamp+86_400_000 {
			return "<now>"
		}
	case k == "SessionID":
		if n, ok := num(e); ok && n != 0 {
			return "<session-id>"
		}
	case k == "RecordBatches":
		if s, ok := e.(string); ok {
			return batchesValue(s)
		}
	case strings.HasSuffix(k, "ErrorCode"):
		if n, ok := num(e); ok {
			return errorName(int16(n))
		}
	}
	return walk(k, e)
}

// sortNumbers sorts x when every element is a number.
func sortNumbers(x []any) {
	ns := make([]int64, len(x))
	for i, e := range x {
		n, ok := num(e)
		if !ok {
			return
		}
		ns[i] = n
	}
	sort.Slice(x, func(i, j int) bool { a, _ := num(x[i]); b, _ := num(x[j]); return a < b })
}

func num(e any) (int64, bool) {
	n, ok := e.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func errorName(code int16) string {
	if code == 0 {
		return "0"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return fmt.Sprintf("%d %s", code, ke.Message)
		}
	}
	return fmt.Sprint(code)
}

func uuidClass(e any) any {
	arr, ok := e.([]any)
	if !ok {
		return e
	}
	for _, b := range arr {
		if n, _ := num(b); n != 0 {
			return "<topic-id>"
		}
	}
	return "<zero-uuid>"
}

// batchesValue describes fetched record bytes as their whole batches
// (offsets, lengths, epochs, checksums). Trailing bytes of a batch cut off
// by the fetch size are dropped: Kafka sends them, Strom does not, and
// clients ignore them (docs/compatibility.md#partial-batches).
func batchesValue(s string) any {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "undecodable records"
	}
	bs, _ := splitBatches(raw)
	out := make([]any, 0, len(bs))
	for _, b := range bs {
		crc := fmt.Sprintf("%08x", b.CRC)
		if b.Attributes&0x30 != 0 {
			// Transactional and control batches carry the broker's own
			// producer id, and markers the coordinator's clock.
			crc = "<producer-dependent>"
		}
		out = append(out, fmt.Sprintf("offsets %d-%d len %d epoch %d attrs %d records %d crc %s",
			b.BaseOffset, b.BaseOffset+int64(b.LastOffsetDelta), b.Length, b.PartitionLeaderEpoch, b.Attributes, b.Records, crc))
	}
	return out
}

// identity fields name an element of an unordered list; the first one
// present is used.
var identity = []string{"ResourceName", "Topic", "Name", "Key", "Partition", "ApiKey", "MemberID", "Group", "NodeID"}

func identityOf(e any) (string, bool) {
	m, ok := e.(map[string]any)
	if !ok {
		return "", false
	}
	for _, f := range identity {
		if v, ok := m[f]; ok {
			return fmt.Sprintf("%s=%v", f, deref(v)), true
		}
	}
	return "", false
}

func deref(v any) any {
	if v == nil {
		return "null"
	}
	return v
}

func sortByIdentity(x []any) {
	ids := make([]string, len(x))
	for i, e := range x {
		id, ok := identityOf(e)
		if !ok {
			return
		}
		ids[i] = id
	}
	sort.Sort(byID{x, ids})
}

type byID struct {
	x   []any
	ids []string
}

func (b byID) Len() int           { return len(b.x) }
func (b byID) Less(i, j int) bool { return b.ids[i] < b.ids[j] }
func (b byID) Swap(i, j int) {
	b.x[i], b.x[j] = b.x[j], b.x[i]
	b.ids[i], b.ids[j] = b.ids[j], b.ids[i]
}

// flatten maps each leaf of v to its path; list elements with identity
// fields are addressed by them, so a missing element shows as missing
// rather than shifting every later one.
func flatten(path string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = "{}"
		}
		for k, e := range x {
			flatten(join(path, k), e, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, e := range x {
			id, ok := identityOf(e)
			if !ok {
				id = fmt.Sprint(i)
			}
			flatten(fmt.Sprintf("%s[%s]", path, id), e, out)
		}
	case nil:
		out[path] = "null"
	case string:
		out[path] = fmt.Sprintf("%q", x)
	default:
		out[path] = fmt.Sprint(x)
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

type difference struct{ path, kafka, strom string }

func diffValues(kafka, strom any) []difference {
	k, s := map[string]string{}, map[string]string{}
	flatten("", kafka, k)
	flatten("", strom, s)
	var out []difference
	for p, kv := range k {
		sv, ok := s[p]
		if !ok {
			sv = "<absent>"
		}
		if kv != sv {
			out = append(out, difference{p, kv, sv})
		}
	}
	for p, sv := range s {
		if _, ok := k[p]; !ok {
			out = append(out, difference{p, "<absent>", sv})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func isString(e any) bool {
	_, ok := e.(string)
	return ok
}
