package errcode_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/group"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/partition"
	"github.com/strom-broker/strom/internal/record"
	"github.com/strom-broker/strom/internal/storage"
	"github.com/strom-broker/strom/internal/txn"
	"github.com/strom-broker/strom/internal/vfs"
)

// sentinels is every exported Err* variable of the packages under
// internal/, by package path (from internal/) and name. A new sentinel
// fails TestEveryPackageSentinelHasACode until it is listed here, and it
// passes only once it has its own row in errcode's table.
var sentinels = map[string]error{
	"controller.ErrTopicExists":              controller.ErrTopicExists,
	"controller.ErrUnknownTopic":             controller.ErrUnknownTopic,
	"controller.ErrInvalidPartitions":        controller.ErrInvalidPartitions,
	"controller.ErrInvalidReplicationFactor": controller.ErrInvalidReplicationFactor,
	"controller.ErrInvalidTopic":             controller.ErrInvalidTopic,
	"controller.ErrInvalidReplicaAssignment": controller.ErrInvalidReplicaAssignment,
	"controller.ErrNotController":            controller.ErrNotController,
	"controller.ErrRequestTimedOut":          controller.ErrRequestTimedOut,
	"controller.ErrStaleLeaderEpoch":         controller.ErrStaleLeaderEpoch,
	"controller.ErrInvalidISR":               controller.ErrInvalidISR,
	"controller.ErrNotInISR":                 controller.ErrNotInISR,
	"controller.ErrNoEligibleLeader":         controller.ErrNoEligibleLeader,
	"controller.ErrUnknownBroker":            controller.ErrUnknownBroker,
	"controller.ErrElectionNotNeeded":        controller.ErrElectionNotNeeded,
	"controller.ErrNoReassignment":           controller.ErrNoReassignment,
	"controller.ErrMetadataLog":              controller.ErrMetadataLog,

	"metadata.ErrUnknownConfig":          metadata.ErrUnknownConfig,
	"metadata.ErrInvalidConfig":          metadata.ErrInvalidConfig,
	"metadata.ErrNotDynamicBrokerConfig": metadata.ErrNotDynamicBrokerConfig,
	"metadata.ErrInternalTopic":          metadata.ErrInternalTopic,

	"record.ErrCorrupt":          record.ErrCorrupt,
	"record.ErrUnsupportedMagic": record.ErrUnsupportedMagic,
	"record.ErrInvalidRecord":    record.ErrInvalidRecord,
	"record.ErrBadCompression":   record.ErrBadCompression,

	"storage.ErrOffsetOutOfRange": storage.ErrOffsetOutOfRange,
	"storage.ErrClosed":           storage.ErrClosed,
	"storage.ErrOffsetMismatch":   storage.ErrOffsetMismatch,
	"storage.ErrFailed":           storage.ErrFailed,
	"vfs.ErrLocked":               vfs.ErrLocked,
	"storage.ErrCorruptSegment":   storage.ErrCorruptSegment,

	"partition.ErrNotLeader":            partition.ErrNotLeader,
	"partition.ErrNotFollower":          partition.ErrNotFollower,
	"partition.ErrClosed":               partition.ErrClosed,
	"partition.ErrOutOfOrderSequence":   partition.ErrOutOfOrderSequence,
	"partition.ErrInvalidProducerEpoch": partition.ErrInvalidProducerEpoch,
	"partition.ErrTopicIDMismatch":      partition.ErrTopicIDMismatch,
	"partition.ErrOffsetOutOfRange":     partition.ErrOffsetOutOfRange,
	"partition.ErrInvalidRecord":        partition.ErrInvalidRecord,
	"partition.ErrRecordTooLarge":       partition.ErrRecordTooLarge,
	"partition.ErrInvalidTimestamp":     partition.ErrInvalidTimestamp,
	"partition.ErrTxnState":             partition.ErrTxnState,
	"partition.ErrCoordinatorFenced":    partition.ErrCoordinatorFenced,

	"group.ErrNotCoordinator":          group.ErrNotCoordinator,
	"group.ErrLoading":                 group.ErrLoading,
	"group.ErrCoordinatorNotAvailable": group.ErrCoordinatorNotAvailable,
	"group.ErrInvalidGroupID":          group.ErrInvalidGroupID,
	"group.ErrUnknownMember":           group.ErrUnknownMember,
	"group.ErrMemberIDRequired":        group.ErrMemberIDRequired,
	"group.ErrIllegalGeneration":       group.ErrIllegalGeneration,
	"group.ErrRebalanceInProgress":     group.ErrRebalanceInProgress,
	"group.ErrInconsistentProtocol":    group.ErrInconsistentProtocol,
	"group.ErrInvalidSessionTimeout":   group.ErrInvalidSessionTimeout,
	"group.ErrGroupMaxSize":            group.ErrGroupMaxSize,
	"group.ErrFencedInstance":          group.ErrFencedInstance,
	"group.ErrGroupNotFound":           group.ErrGroupNotFound,
	"group.ErrNonEmptyGroup":           group.ErrNonEmptyGroup,
	"group.ErrSubscribedToTopic":       group.ErrSubscribedToTopic,
	"group.ErrOffsetMetadataTooLarge":  group.ErrOffsetMetadataTooLarge,
	"group.ErrFencedMemberEpoch":       group.ErrFencedMemberEpoch,
	"group.ErrStaleMemberEpoch":        group.ErrStaleMemberEpoch,
	"group.ErrUnsupportedAssignor":     group.ErrUnsupportedAssignor,
	"group.ErrUnreleasedInstanceID":    group.ErrUnreleasedInstanceID,
	"group.ErrInvalidRegex":            group.ErrInvalidRegex,
	"group.ErrUnsupportedVersion":      group.ErrUnsupportedVersion,
	"txn.ErrConcurrentTransactions":    txn.ErrConcurrentTransactions,
	"txn.ErrProducerFenced":            txn.ErrProducerFenced,
	"txn.ErrInvalidProducerIDMapping":  txn.ErrInvalidProducerIDMapping,
	"txn.ErrInvalidTxnState":           txn.ErrInvalidTxnState,
	"txn.ErrInvalidTransactionTimeout": txn.ErrInvalidTransactionTimeout,
	"txn.ErrTransactionalIDNotFound":   txn.ErrTransactionalIDNotFound,
	"txn.ErrTransactionAbortable":      txn.ErrTransactionAbortable,
	"txn.ErrNotCoordinator":            txn.ErrNotCoordinator,
	"txn.ErrLoading":                   txn.ErrLoading,
	"txn.ErrCoordinatorNotAvailable":   txn.ErrCoordinatorNotAvailable,
}

// notServed are packages whose errors never reach a Kafka request: tools
// and test harnesses.
var notServed = map[string]string{
	"loadgen":          "the strom bench engine, a client",
	"testkit":          "test harnesses",
	"testkit/kafkaref": "runs Apache Kafka for tests",
	"vfs/errorfs":      "a file system for tests; its injected error wraps EIO, an I/O failure by the table's class rows",
	// errcode's own sentinels are checked against the table's rows by
	// TestEverySentinelHasARow.
	"errcode": "the table itself",
}

// TestEveryPackageSentinelHasACode parses every package under internal/
// for exported package-level Err* variables and checks that each is a
// sentinel of errcode's table: it has a Kafka error code, and it crosses
// the wire between nodes as itself.
func TestEveryPackageSentinelHasACode(t *testing.T) {
	found := exportedErrs(t, "..")
	if len(found) == 0 {
		t.Fatal("no sentinel found under internal/")
	}
	for _, name := range found {
		err, ok := sentinels[name]
		if !ok {
			t.Errorf("%s is not in this test's list: add it, and give it a row in errcode's table", name)
			continue
		}
		if _, known := errcode.Lookup(err); !known {
			t.Errorf("%s (%v) has no Kafka error code", name, err)
		}
		if got := errcode.Sentinel(errcode.Name(err)); got != err {
			t.Errorf("%s (%v) has no row of its own in errcode's table: it would cross the wire as %v", name, err, got)
		}
	}
	for name := range sentinels {
		if !contains(found, name) {
			t.Errorf("%s is listed but was not found in the sources", name)
		}
	}
}

// exportedErrs returns "pkg.ErrX" for every exported package-level variable
// named Err* in the non-test Go files under root, pkg being the directory
// relative to root.
func exportedErrs(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == "testdata" || strings.HasPrefix(n, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg = filepath.ToSlash(pkg)
		if _, skip := notServed[pkg]; skip {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				for _, id := range s.(*ast.ValueSpec).Names {
					if id.IsExported() && strings.HasPrefix(id.Name, "Err") {
						out = append(out, pkg+"."+id.Name)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}
