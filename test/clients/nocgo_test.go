//go:build !cgo

package clients_test

import (
	"testing"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestLibrdkafkaNeedsCgo stands in for the librdkafka tests (confluent_test.go), which
// are built only with cgo: without it they would be left out silently.
func TestLibrdkafkaNeedsCgo(t *testing.T) {
	testkit.MissingTool(t, "cgo", "built without cgo, so confluent_test.go did not run")
}
