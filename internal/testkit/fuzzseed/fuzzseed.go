// Package fuzzseed keeps a fuzz target's seeds in code and in its committed
// corpus (testdata/fuzz/FuzzXxx, Go's "go test fuzz v1" format) alike: Add
// gives a seed to the target and, with STROM_FUZZ_WRITE_SEEDS=1, also writes
// it to the corpus, so the corpus is regenerated from the code with
//
//	STROM_FUZZ_WRITE_SEEDS=1 go test -run '^FuzzXxx$' ./internal/pkg
//
// Inputs the fuzzer found failing are added to the same directory by
// go test -fuzz and stay there. The package imports nothing of Strom, so
// every package's tests can use it.
package fuzzseed

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Add adds args to f's seed corpus (f.Add) and, when STROM_FUZZ_WRITE_SEEDS
// is 1, writes them to testdata/fuzz/<target>/ of the package under test.
func Add(f *testing.F, args ...any) {
	f.Helper()
	f.Add(args...)
	if os.Getenv("STROM_FUZZ_WRITE_SEEDS") != "1" {
		return
	}
	data, err := Marshal(args...)
	if err != nil {
		f.Fatal(err)
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join("testdata", "fuzz", f.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seed-"+hex.EncodeToString(sum[:8])), data, 0o644); err != nil {
		f.Fatal(err)
	}
}

// Marshal encodes args as a corpus file of Go's fuzzing engine.
func Marshal(args ...any) ([]byte, error) {
	b := []byte("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			b = fmt.Appendf(b, "[]byte(%q)\n", v)
		case string:
			b = fmt.Appendf(b, "string(%q)\n", v)
		case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			b = fmt.Appendf(b, "%T(%v)\n", v, v)
		default:
			return nil, fmt.Errorf("fuzzseed: cannot encode %T", a)
		}
	}
	return b, nil
}
