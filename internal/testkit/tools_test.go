package testkit

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// missingTool is a name no machine has in PATH.
const missingTool = "strom-no-such-tool-7f3a"

// TestNeedToolChild is run by TestNeedTool in a child process of this test
// binary, so that the child's skip or failure can be observed; on its own it
// does nothing.
func TestNeedToolChild(t *testing.T) {
	switch os.Getenv("STROM_TESTKIT_TOOL_CHILD") {
	case "need":
		NeedTool(t, missingTool)
		t.Log("NeedTool returned")
	case "kcat":
		MissingTool(t, "kcat", "not found in PATH")
	case "optional":
		OptionalTool(t, missingTool, "an image builder")
		t.Log("OptionalTool returned")
	}
}

func runToolChild(t *testing.T, mode, ci string) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNeedToolChild$", "-test.v", "-test.count=1")
	env := []string{"STROM_TESTKIT_TOOL_CHILD=" + mode}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "STROM_TESTKIT_TOOL_CHILD=") {
			env = append(env, kv)
		}
	}
	if ci != "" {
		env = append(env, "CI="+ci)
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run child: %v", err)
		}
	}
	return string(out), err == nil
}

func TestNeedTool(t *testing.T) {
	if p := NeedTool(t, missingTool, "go"); p == "" {
		t.Fatal("NeedTool did not find the alternative go")
	}
	for _, tc := range []struct {
		mode, ci string
		pass     bool
		want     []string
	}{
		{"need", "", true, []string{"--- SKIP", missingTool + " unavailable: not found in PATH"}},
		{"need", "false", true, []string{"--- SKIP"}},
		{"need", "true", false, []string{"--- FAIL", missingTool + " unavailable", "CI=true"}},
		{"kcat", "true", false, []string{"--- FAIL", "install kcat: apt-get install kcat"}},
		{"kcat", "", true, []string{"--- SKIP", "install kcat: apt-get install kcat"}},
		{"optional", "true", true, []string{"--- SKIP", "optional (an image builder)"}},
	} {
		out, ok := runToolChild(t, tc.mode, tc.ci)
		if ok != tc.pass {
			t.Errorf("%s with CI=%q: passed=%v, want %v\n%s", tc.mode, tc.ci, ok, tc.pass, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s with CI=%q: output lacks %q\n%s", tc.mode, tc.ci, w, out)
			}
		}
		if strings.Contains(out, "returned") {
			t.Errorf("%s with CI=%q: the test went on after the tool was missing\n%s", tc.mode, tc.ci, out)
		}
	}
}
