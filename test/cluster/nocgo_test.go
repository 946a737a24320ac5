//go:build !cgo

package cluster_test

import (
	"testing"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestLibrdkafkaNeedsCgo stands in for the librdkafka tests (librdkafka_test.go), which
// are built only with cgo: without it they would be left out silently.
func TestLibrdkafkaNeedsCgo(t *testing.T) {
	testkit.MissingTool(t, "cgo", "built without cgo, so librdkafka_test.go did not run")
}
