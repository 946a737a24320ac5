// Command kubeschema writes the JSON schemas kubeconform reads, strict
// variant, from the OpenAPI v3 documents the Kubernetes sources carry
// (api/openapi-spec/v3 of the k8s.io/kubernetes module), so that the chart is
// validated without downloading schemas from the network.
//
//	kubeschema -spec $(go mod download -json k8s.io/kubernetes@v1.37.2 | jq -r .Dir)/api/openapi-spec/v3 -out DIR
//	kubeconform -strict -schema-location DIR ...
//
// It writes DIR/master-standalone-strict/<kind>-<group>-<version>.json for
// every kind of the groups it reads (kubeconform's file naming). Each file
// refers to its kind's definition and carries all definitions of that API
// group version, with additionalProperties false on every object that lists
// its properties, which is what kubeconform's own "-strict" schemas are.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	spec := flag.String("spec", "", "directory of Kubernetes' OpenAPI v3 documents (api/openapi-spec/v3)")
	out := flag.String("out", "", "directory to write the schemas to")
	flag.Parse()
	if *spec == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*spec, filepath.Join(*out, "master-standalone-strict")); err != nil {
		fmt.Fprintln(os.Stderr, "kubeschema:", err)
		os.Exit(1)
	}
}

// documents are the API group versions the chart uses.
var documents = []string{"api__v1_openapi.json", "apis__apps__v1_openapi.json", "apis__policy__v1_openapi.json"}

func run(specDir, outDir string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	n := 0
	for _, name := range documents {
		data, err := os.ReadFile(filepath.Join(specDir, name))
		if err != nil {
			return err
		}
		var doc struct {
			Components struct {
				Schemas map[string]any `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		schemas := doc.Components.Schemas
		for _, s := range schemas {
			strict(s)
		}
		for id, s := range schemas {
			m, _ := s.(map[string]any)
			gvks, _ := m["x-kubernetes-group-version-kind"].([]any)
			for _, g := range gvks {
				gvk, _ := g.(map[string]any)
				group, _ := gvk["group"].(string)
				version, _ := gvk["version"].(string)
				kind, _ := gvk["kind"].(string)
				if kind == "" || !strings.HasPrefix(id, "io.k8s.api.") {
					continue
				}
				suffix := "-" + version
				if group != "" {
					suffix = "-" + strings.Split(group, ".")[0] + "-" + version
				}
				file := map[string]any{
					"$ref":       "#/components/schemas/" + id,
					"components": map[string]any{"schemas": schemas},
				}
				b, err := json.Marshal(file)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(outDir, strings.ToLower(kind)+suffix+".json"), b, 0o644); err != nil {
					return err
				}
				n++
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("no kinds found in %s", specDir)
	}
	return nil
}

// strict sets additionalProperties false on every object schema that lists
// its properties and says nothing of others, recursively.
func strict(v any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["properties"]; ok {
			if _, set := x["additionalProperties"]; !set && x["x-kubernetes-preserve-unknown-fields"] != true {
				x["additionalProperties"] = false
			}
		}
		for _, c := range x {
			strict(c)
		}
	case []any:
		for _, c := range x {
			strict(c)
		}
	}
}
