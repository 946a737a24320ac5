package testkit

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Install says how to get each tool a test of the default run may need.
// .ci/run installs every one of them.
var Install = map[string]string{
	"java":           "install a JDK 17+: apt-get install openjdk-17-jdk-headless",
	"mvn":            "install Maven: apt-get install maven",
	"kcat":           "install kcat: apt-get install kcat",
	"chromium":       "install Chromium (the console test): apt-get install chromium",
	"cgo":            "install a C toolchain (apt-get install gcc) and leave CGO_ENABLED unset or 1",
	"kafka-ref-jars": "fetch Apache Kafka's jars from Maven Central: make kafka-ref-jars (needs mvn)",
}

// InCI reports whether the tests run under CI (the environment variable CI
// is true, as .ci/run and most CI services set it). There, a missing tool is
// a broken machine, not a reason to skip.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// NeedTool returns the path of the first of names found in PATH (name and
// its alternatives, e.g. "kcat", "kafkacat"). When none is found the test is
// skipped, or fails under CI (InCI), naming the tool and how to install it.
func NeedTool(t testing.TB, name string, alternatives ...string) string {
	t.Helper()
	for _, n := range append([]string{name}, alternatives...) {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	MissingTool(t, name, "not found in PATH")
	return ""
}

// MissingTool ends a test that cannot run because tool is unavailable (why
// says what is wrong): it skips the test, or fails it under CI (InCI), so a
// CI machine without the tool cannot pass by skipping. tool is a key of
// Install when a hint exists.
func MissingTool(t testing.TB, tool, why string) {
	t.Helper()
	msg := tool + " unavailable: " + why
	if hint, ok := Install[tool]; ok {
		msg += "; " + hint
	}
	if InCI() {
		t.Fatalf("%s (CI=true: a test of the default run may not skip for a missing tool)", msg)
	}
	t.Skip(msg)
}

// OptionalTool is for tests of optional packaging tools (an image builder)
// that the default run does not need: it returns the tool's path, or skips
// the test even under CI, saying why.
func OptionalTool(t testing.TB, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found in PATH; optional (%s), so the test skips even under CI", name, why)
	}
	return p
}
