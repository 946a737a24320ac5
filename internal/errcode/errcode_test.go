package errcode

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		code  *kerr.Error // nil: 0
		known bool
		wire  string // Name
	}{
		{"nil", nil, nil, true, ""},
		{"sentinel", ErrTopicExists, kerr.TopicAlreadyExists, true, "topic_exists"},
		{"wrapped", fmt.Errorf("create t: %w", ErrTopicExists), kerr.TopicAlreadyExists, true, "topic_exists"},
		// Order: the first row wins.
		{"invalid request over config", fmt.Errorf("%w: %w", ErrInvalidRequest, ErrInvalidConfig), kerr.InvalidRequest, true, "invalid_request"},
		{"derived config error", fmt.Errorf("%w: x", ErrNotDynamicBrokerConfig), kerr.InvalidConfig, true, "not_dynamic_broker_config"},
		{"coordinator over context", fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, context.DeadlineExceeded), kerr.CoordinatorNotAvailable, true, "coordinator_not_available"},
		{"corrupt segment over corrupt batch", fmt.Errorf("read offset 5: seg at 7: %w", ErrCorruptSegment), kerr.KafkaStorageError, true, "corrupt_segment"},
		{"corrupt batch", fmt.Errorf("validate: %w", ErrCorruptBatch), kerr.CorruptMessage, true, "corrupt_batch"},
		{"not leader", fmt.Errorf("append to t-0: %w", ErrNotLeader), kerr.NotLeaderForPartition, true, "not_leader"},
		{"bad compression", ErrBadCompression, kerr.UnknownServerError, true, "bad_compression"},
		{"election not needed", fmt.Errorf("%w: 2 already leads t-0", ErrElectionNotNeeded), kerr.ElectionNotNeeded, true, "election_not_needed"},
		{"no reassignment", fmt.Errorf("%w: t-0", ErrNoReassignment), kerr.NoReassignmentInProgress, true, "no_reassignment"},
		{"metadata log", fmt.Errorf("%w: %w", ErrMetadataLog, errors.New("raft is already shutdown")), kerr.KafkaStorageError, true, "metadata_log"},
		// Classes: known, but they do not cross the wire.
		{"path error", fmt.Errorf("append: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.EIO}), kerr.KafkaStorageError, true, ""},
		{"errno", fmt.Errorf("sync: %w", syscall.ENOSPC), kerr.KafkaStorageError, true, ""},
		{"link error", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EXDEV}, kerr.KafkaStorageError, true, ""},
		{"joined", errors.Join(errors.New("x"), &fs.PathError{Op: "close", Path: "x", Err: fs.ErrClosed}), kerr.KafkaStorageError, true, ""},
		{"short file", fmt.Errorf("read seg at 9: %w", io.EOF), kerr.KafkaStorageError, true, ""},
		{"log failed", fmt.Errorf("%w: %w", ErrLogFailed, errors.New("x")), kerr.KafkaStorageError, true, "log_failed"},
		{"timeout", fmt.Errorf("wait for metadata index 9: %w", context.DeadlineExceeded), kerr.KafkaStorageError, true, ""},
		{"unknown", errors.New("something new"), kerr.UnknownServerError, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, known := Lookup(tc.err)
			want := int16(0)
			if tc.code != nil {
				want = tc.code.Code
			}
			if code != want || known != tc.known {
				t.Errorf("Lookup = %v, %v; want %v, %v", kerr.ErrorForCode(code), known, tc.code, tc.known)
			}
			if c := Code(tc.err); c != code {
				t.Errorf("Code = %d, Lookup %d", c, code)
			}
			if n := Name(tc.err); n != tc.wire {
				t.Errorf("Name = %q, want %q", n, tc.wire)
			}
		})
	}
}

// TestTable checks the rows: every sentinel row has a unique name and
// crosses the wire as itself; class rows have no name; every code is
// Kafka's.
func TestTable(t *testing.T) {
	names := map[string]bool{}
	values := map[error]bool{}
	for i, r := range table {
		if r.code == nil || kerr.ErrorForCode(r.code.Code) != r.code {
			t.Errorf("row %d: code %v is not a Kafka error code", i, r.code)
		}
		if (r.err == nil) == (r.match == nil) {
			t.Errorf("row %d: want a sentinel or a class, not both or neither", i)
			continue
		}
		if r.match != nil {
			if r.name != "" {
				t.Errorf("row %d: a class row has no name, has %q", i, r.name)
			}
			continue
		}
		if r.name == "" || names[r.name] {
			t.Errorf("row %d (%v): name %q empty or repeated", i, r.err, r.name)
		}
		names[r.name] = true
		if values[r.err] {
			t.Errorf("row %d: %v repeated", i, r.err)
		}
		values[r.err] = true
		// Forwarded, an error comes back as the same sentinel, with the
		// same code: no earlier row matches it.
		if got := Sentinel(Name(r.err)); got != r.err {
			t.Errorf("row %d: %v crosses the wire as %v", i, r.err, got)
		}
		if c := Code(r.err); c != r.code.Code {
			t.Errorf("row %d: %v answers %v, its row says %v (an earlier row matches it)", i, r.err, kerr.ErrorForCode(c), r.code)
		}
	}
	if Sentinel("no such name") != nil || Sentinel("") != nil {
		t.Error("Sentinel of an unknown name is not nil")
	}
}

// TestEverySentinelHasARow parses this package: every exported Err*
// variable must be the err of a row of the table.
func TestEverySentinelHasARow(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var declared, inTable []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if id.IsExported() && strings.HasPrefix(id.Name, "Err") {
						declared = append(declared, id.Name)
					}
					if id.Name == "table" {
						inTable = rowSentinels(t, vs.Values[i])
					}
				}
			}
		}
	}
	if len(inTable) == 0 {
		t.Fatal("the table was not found")
	}
	for _, name := range declared {
		if !slices.Contains(inTable, name) {
			t.Errorf("%s has no row in the table: give it a Kafka error code and a name", name)
		}
	}
}

// rowSentinels returns the identifiers given as err in the table's rows.
func rowSentinels(t *testing.T, e ast.Expr) []string {
	var out []string
	for _, el := range e.(*ast.CompositeLit).Elts {
		for _, kv := range el.(*ast.CompositeLit).Elts {
			kv, ok := kv.(*ast.KeyValueExpr)
			if !ok {
				t.Fatalf("table rows must use field names")
			}
			if k := kv.Key.(*ast.Ident); k.Name == "err" {
				out = append(out, kv.Value.(*ast.Ident).Name)
			}
		}
	}
	return out
}
