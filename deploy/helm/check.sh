#!/usr/bin/env bash
# The Helm chart's checks (make helm-test): helm lint and helm template with
# the helm CLI, every rendered object validated by kubeconform -strict, for
# the default values and each value set of deploy/helm/charttest/testdata,
# then the chart's Go tests. The CLIs are tools of the deploy module
# (go tool helm, go tool kubeconform: versions pinned in deploy/go.mod).
#
# kubeconform's schemas are not downloaded from their usual site: they are
# made from the OpenAPI documents in the Kubernetes sources of
# K8S_SCHEMA_VERSION, a module the Go module proxy serves, by
# deploy/helm/kubeschema. The ServiceMonitor (a CRD, no schema there) is
# skipped here; the Go tests decode it strictly.
set -euo pipefail
cd "$(dirname "$0")/.."   # deploy/
GO=${GO:-go}
K8S_SCHEMA_VERSION=${K8S_SCHEMA_VERSION:-v1.37.2}

dir=$(cd / && GOFLAGS= "$GO" mod download -json "k8s.io/kubernetes@$K8S_SCHEMA_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir/api/openapi-spec/v3" ] || { echo "no api/openapi-spec/v3 in k8s.io/kubernetes@$K8S_SCHEMA_VERSION ($dir)" >&2; exit 1; }
schemas=$(mktemp -d)
trap 'rm -rf "$schemas"' EXIT
"$GO" run ./helm/kubeschema -spec "$dir/api/openapi-spec/v3" -out "$schemas"

for values in "" helm/charttest/testdata/*.yaml; do
  echo "== values: ${values:-defaults}"
  args=()
  [ -n "$values" ] && args=(-f "$values")
  # Helm notes on stderr that the dashboard is a symbolic link to
  # deploy/grafana/strom.json; the rest of stderr stays.
  "$GO" tool helm lint --strict helm/strom "${args[@]}" 2> >(grep -v 'found symbolic link' >&2)
  "$GO" tool helm template strom helm/strom --namespace streams "${args[@]}" 2> >(grep -v 'found symbolic link' >&2) |
    "$GO" tool kubeconform -strict -summary -skip ServiceMonitor -schema-location "$schemas" -
done

"$GO" test -count=1 ./...
