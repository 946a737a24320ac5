package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/strom-broker/strom/internal/config"
)

// knownEnv reports whether name is a variable `strom serve` reads.
func knownEnv(name string) bool {
	return name == config.EnvConfigFile || slices.Contains(config.EnvVars(), name)
}

// TestImageAndChartAgree: every STROM_* variable the Dockerfile and the
// chart set is one the broker reads (ApplyEnv ignores others, so a misspelt
// name would be dropped without a word), and the image exposes the ports
// the chart uses by default.
func TestImageAndChartAgree(t *testing.T) {
	df, err := os.ReadFile(filepath.Join("..", "..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	imageVars := regexp.MustCompile(`\b(STROM_[A-Z0-9_]+)=`).FindAllStringSubmatch(text, -1)
	if len(imageVars) == 0 {
		t.Fatal("the Dockerfile sets no STROM_* variable")
	}
	for _, m := range imageVars {
		if !knownEnv(m[1]) {
			t.Errorf("Dockerfile sets %s, which the broker does not read", m[1])
		}
	}
	for name, vals := range valueSets {
		r := render(t, vals)
		for _, e := range r.statefulSets["demo-strom"].Spec.Template.Spec.Containers[0].Env {
			if strings.HasPrefix(e.Name, "STROM_") && !knownEnv(e.Name) {
				t.Errorf("%s: the chart sets %s, which the broker does not read", name, e.Name)
			}
		}
	}

	var exposed []int
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "EXPOSE" {
			for _, p := range f[1:] {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Fatalf("EXPOSE %q", p)
				}
				exposed = append(exposed, n)
			}
		}
	}
	r := render(t, nil)
	var chartPorts []int
	for _, p := range r.statefulSets["demo-strom"].Spec.Template.Spec.Containers[0].Ports {
		chartPorts = append(chartPorts, int(p.ContainerPort))
	}
	slices.Sort(exposed)
	slices.Sort(chartPorts)
	if !slices.Equal(exposed, chartPorts) {
		t.Errorf("the image exposes %v, the chart's pods use %v", exposed, chartPorts)
	}
}
