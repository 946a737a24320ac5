package diff

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKnownDifferencesDocumented keeps the allow-list and
// docs/compatibility.md in step: every entry names a section there.
func TestKnownDifferencesDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "compatibility.md"))
	if err != nil {
		t.Fatalf("read docs/compatibility.md: %v", err)
	}
	seen := map[string]bool{}
	for _, e := range knownDifferences {
		switch e.kind {
		case "bug", "minor", "legit", "scope", "deliberate":
		default:
			t.Errorf("%s: kind %q is not bug, minor, legit, scope or deliberate", e.id, e.kind)
		}
		if !strings.Contains(string(doc), `<a id="`+e.id+`"></a>`) {
			t.Errorf("%s: no <a id=%q></a> anchor in docs/compatibility.md", e.id, e.id)
		}
		for _, re := range []string{e.test, e.step, e.path} {
			match(re, "") // compiles, or panics here rather than mid-comparison
		}
		seen[e.id] = true
	}
	if len(seen) == 0 {
		t.Fatal("empty allow-list")
	}
}

// TestNormalizeAndDiff checks the comparison machinery on its own: ids,
// ports and error texts are normalised away, list order does not matter,
// a real difference is reported at its path.
func TestNormalizeAndDiff(t *testing.T) {
	mk := func(port int32, id byte, order []string, code int16) *kmsg.MetadataResponse {
		r := kmsg.NewPtrMetadataResponse()
		r.ClusterID = kmsg.StringPtr("cluster-" + string('a'+rune(id)))
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 1, "127.0.0.1", port
		r.Brokers = append(r.Brokers, b)
		for _, name := range order {
			tp := kmsg.NewMetadataResponseTopic()
			tp.Topic = kmsg.StringPtr(name)
			tp.TopicID = [16]byte{id}
			tp.ErrorCode = 0
			if name == "b" {
				tp.ErrorCode = code
			}
			r.Topics = append(r.Topics, tp)
		}
		return r
	}
	same := diffValues(normalize(mk(9092, 1, []string{"a", "b"}, 0)), normalize(mk(1234, 2, []string{"b", "a"}, 0)))
	if len(same) != 0 {
		t.Fatalf("normalised responses differ: %+v", same)
	}
	d := diffValues(normalize(mk(9092, 1, []string{"a", "b"}, 0)), normalize(mk(9092, 1, []string{"a", "b"}, 3)))
	if len(d) != 1 || d[0].path != "Topics[Topic=b].ErrorCode" || d[0].kafka != `"0"` || d[0].strom != `"3 UNKNOWN_TOPIC_OR_PARTITION"` {
		t.Fatalf("diff = %+v, want one ErrorCode difference on topic b", d)
	}
	batch := makeBatch(plain, "x", "y")
	bs, partial := splitBatches(append(batch, batch[:20]...))
	if len(bs) != 1 || partial != 20 || bs[0].Records != 2 || bs[0].LastOffsetDelta != 1 {
		t.Fatalf("splitBatches = %+v, partial %d", bs, partial)
	}
}
