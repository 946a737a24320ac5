package charttest

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test.
var chartDir = filepath.Join("..", "strom")

const (
	releaseName = "demo"
	namespace   = "streams"
)

// rendered is one release's objects, strictly decoded, by kind and name.
type rendered struct {
	configMaps      map[string]*corev1.ConfigMap
	services        map[string]*corev1.Service
	statefulSets    map[string]*appsv1.StatefulSet
	pdbs            map[string]*policyv1.PodDisruptionBudget
	serviceAccounts map[string]*corev1.ServiceAccount
	serviceMonitors map[string]*serviceMonitor
	notes           string
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) the chart writes; decoding is strict, so a field
// the chart writes that is not here (a typo included) fails the test.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// render renders the chart as `helm template` does, with vals over
// values.yaml, and decodes every object strictly into its k8s.io/api type.
func render(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	files, err := renderFiles(vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	r := rendered{
		configMaps:      map[string]*corev1.ConfigMap{},
		services:        map[string]*corev1.Service{},
		statefulSets:    map[string]*appsv1.StatefulSet{},
		pdbs:            map[string]*policyv1.PodDisruptionBudget{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
		serviceMonitors: map[string]*serviceMonitor{},
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, "NOTES.txt") {
			r.notes = files[name]
			continue
		}
		for i, doc := range splitDocs(files[name]) {
			where := fmt.Sprintf("%s (document %d)", name, i)
			if err := r.add(doc); err != nil {
				t.Fatalf("%s: %v\n%s", where, err, doc)
			}
		}
	}
	return r
}

func renderFiles(vals map[string]any) (map[string]string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	top, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: releaseName, Namespace: namespace, IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, top)
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// splitDocs splits a rendered file into its YAML documents, dropping empty
// ones (a template whose condition is off renders nothing).
func splitDocs(s string) []string {
	var out []string
	for _, d := range docSep.Split(s, -1) {
		var probe map[string]any
		if err := yaml.Unmarshal([]byte(d), &probe); err == nil && len(probe) == 0 {
			continue
		}
		out = append(out, d)
	}
	return out
}

// add decodes one document into the type its apiVersion and kind name,
// refusing unknown fields, and files it by name.
func (r *rendered) add(doc string) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
		return err
	}
	strict := func(v any) error { return yaml.UnmarshalStrict([]byte(doc), v) }
	file := func(m any, name string, v any) error {
		if err := strict(v); err != nil {
			return err
		}
		mv := reflect.ValueOf(m)
		if name == "" {
			return fmt.Errorf("%s without a name", tm.Kind)
		}
		if mv.MapIndex(reflect.ValueOf(name)).IsValid() {
			return fmt.Errorf("%s %s rendered twice", tm.Kind, name)
		}
		mv.SetMapIndex(reflect.ValueOf(name), reflect.ValueOf(v))
		return nil
	}
	switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
	case "v1/ConfigMap":
		v := &corev1.ConfigMap{}
		if err := strict(v); err != nil {
			return err
		}
		return file(r.configMaps, v.Name, v)
	case "v1/Service":
		v := &corev1.Service{}
		if err := strict(v); err != nil {
			return err
		}
		return file(r.services, v.Name, v)
	case "v1/ServiceAccount":
		v := &corev1.ServiceAccount{}
		if err := strict(v); err != nil {
			return err
		}
		return file(r.serviceAccounts, v.Name, v)
	case "apps/v1/StatefulSet":
		v := &appsv1.StatefulSet{}
		if err := strict(v); err != nil {
			return err
		}
		return file(r.statefulSets, v.Name, v)
	case "policy/v1/PodDisruptionBudget":
		v := &policyv1.PodDisruptionBudget{}
		if err := strict(v); err != nil {
			return err
		}
		return file(r.pdbs, v.Name, v)
	case "monitoring.coreos.com/v1/ServiceMonitor":
		v := &serviceMonitor{}
		if err := strict(v); err != nil {
			return err
		}
		return file(r.serviceMonitors, v.Name, v)
	default:
		return fmt.Errorf("unexpected object %s", gvk)
	}
}

// valueSets are the value sets every check runs on: the defaults and each
// file of testdata/ (which make helm-test also renders with the helm CLI
// and checks with kubeconform).
var valueSets = func() map[string]map[string]any {
	sets := map[string]map[string]any{"default": {}}
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		panic(fmt.Sprintf("no value sets in testdata: %v", err))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			panic(err)
		}
		vals := map[string]any{}
		if err := yaml.UnmarshalStrict(data, &vals); err != nil {
			panic(fmt.Sprintf("%s: %v", f, err))
		}
		sets[strings.TrimSuffix(filepath.Base(f), ".yaml")] = vals
	}
	return sets
}()

// TestLint runs `helm lint`'s rules on every value set; warnings fail too.
func TestLint(t *testing.T) {
	for name, vals := range valueSets {
		t.Run(name, func(t *testing.T) {
			l := lint.RunAll(chartDir, vals, namespace)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m)
				} else {
					t.Logf("lint: %s", m)
				}
			}
		})
	}
}

// TestRenderDefault checks the default release: 3 nodes started together,
// stable names through a headless Service that publishes unready pods,
// probes on the admin port, one config file per pod, PVCs and a PDB.
func TestRenderDefault(t *testing.T) {
	r := render(t, nil)
	sts := r.statefulSets["demo-strom"]
	if sts == nil {
		t.Fatalf("no StatefulSet demo-strom; have %v", slices.Collect(maps.Keys(r.statefulSets)))
	}
	if *sts.Spec.Replicas != 3 || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement || sts.Spec.ServiceName != "demo-strom-headless" {
		t.Errorf("StatefulSet: replicas %d, policy %s, serviceName %s", *sts.Spec.Replicas, sts.Spec.PodManagementPolicy, sts.Spec.ServiceName)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" ||
		sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String() != "10Gi" {
		t.Errorf("volumeClaimTemplates = %+v", sts.Spec.VolumeClaimTemplates)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("readinessProbe = %+v", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("livenessProbe = %+v", p)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for k, want := range map[string]string{
		"STROM_CONFIG":        "/etc/strom/config/$(POD_NAME).toml",
		"STROM_ADVERTISE":     "$(POD_NAME).demo-strom-headless.streams.svc.cluster.local:9092",
		"STROM_ADMIN_ADDRESS": "0.0.0.0:9644",
		"STROM_LISTEN":        "0.0.0.0:9092",
	} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	if sc := sts.Spec.Template.Spec.SecurityContext; sc == nil || *sc.RunAsUser != 65532 || *sc.FSGroup != 65532 || !*sc.RunAsNonRoot {
		t.Errorf("pod securityContext = %+v", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("resources = %+v", c.Resources)
	}

	hl := r.services["demo-strom-headless"]
	if hl == nil || hl.Spec.ClusterIP != "None" || !hl.Spec.PublishNotReadyAddresses {
		t.Fatalf("headless Service = %+v", hl)
	}
	if cl := r.services["demo-strom"]; cl == nil || cl.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("client Service = %+v", cl)
	}
	pdb := r.pdbs["demo-strom"]
	if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget = %+v", pdb)
	}
	if len(r.serviceMonitors) != 0 || r.configMaps["demo-strom-dashboard"] != nil {
		t.Errorf("ServiceMonitor or dashboard rendered though off by default")
	}

	cm := r.configMaps["demo-strom"]
	if cm == nil {
		t.Fatal("no ConfigMap demo-strom")
	}
	if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, []string{"demo-strom-0.toml", "demo-strom-1.toml", "demo-strom-2.toml"}) {
		t.Fatalf("config files %v", got)
	}
	for i := range 3 {
		doc := cm.Data[fmt.Sprintf("demo-strom-%d.toml", i)]
		host := fmt.Sprintf("demo-strom-%d.demo-strom-headless.streams.svc.cluster.local", i)
		for _, want := range []string{
			fmt.Sprintf("node_id = %d\n", i),
			fmt.Sprintf("kafka = %q\n", host+":9092"),
			fmt.Sprintf("wal = %q\n", host+":9093"),
			fmt.Sprintf("raft = %q\n", host+":9094"),
		} {
			if !strings.Contains(doc, want) {
				t.Errorf("pod %d config lacks %q:\n%s", i, want, doc)
			}
		}
		if n := strings.Count(doc, "[[peers]]"); n != 3 {
			t.Errorf("pod %d config has %d peers, want 3", i, n)
		}
	}
}

// TestRenderSecureNodePort checks the TLS and SASL Secrets' mounts, the
// named listeners with per-pod external addresses, one NodePort Service per
// pod, the ServiceMonitor and the dashboard ConfigMap.
func TestRenderSecureNodePort(t *testing.T) {
	r := render(t, valueSets["secure-nodeport"])
	sts := r.statefulSets["demo-strom"]
	if *sts.Spec.Replicas != 5 {
		t.Errorf("replicas = %d", *sts.Spec.Replicas)
	}
	mounts := map[string]string{}
	for _, m := range sts.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	secrets := map[string]string{}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secrets[v.Name] = v.Secret.SecretName
		}
	}
	ports := map[string]int32{}
	for _, p := range sts.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["client"] != 9096 || ports["external"] != 9095 || ports["kafka"] != 9092 {
		t.Errorf("container ports %v", ports)
	}
	if mounts["tls"] != "/etc/strom/tls" || secrets["tls"] != "strom-tls" || mounts["sasl"] != "/etc/strom/sasl" || secrets["sasl"] != "strom-users" {
		t.Errorf("mounts %v, secrets %v", mounts, secrets)
	}
	for i := range 5 {
		svc := r.services[fmt.Sprintf("demo-strom-%d-external", i)]
		if svc == nil || svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].NodePort != int32(31090+i) ||
			svc.Spec.Selector["statefulset.kubernetes.io/pod-name"] != fmt.Sprintf("demo-strom-%d", i) {
			t.Errorf("external Service %d = %+v", i, svc)
		}
		doc := r.configMaps["demo-strom"].Data[fmt.Sprintf("demo-strom-%d.toml", i)]
		host := fmt.Sprintf("demo-strom-%d.demo-strom-headless.streams.svc.cluster.local", i)
		for _, want := range []string{
			// The first listener stays PLAINTEXT for the node's own clients.
			fmt.Sprintf("[[listeners]]\nname = \"INTERNAL\"\naddress = \"0.0.0.0:9092\"\nadvertise = \"%s:9092\"\nprotocol = \"PLAINTEXT\"", host),
			fmt.Sprintf("name = \"CLIENT\"\naddress = \"0.0.0.0:9096\"\nadvertise = \"%s:9096\"\nprotocol = \"SASL_SSL\"", host),
			fmt.Sprintf("advertise = \"kafka.example.com:%d\"\nprotocol = \"SASL_SSL\"", 31090+i),
			`cert_file = "/etc/strom/tls/tls.crt"`,
			`client_ca_file = "/etc/strom/tls/ca.crt"`,
			"\nca_file = \"/etc/strom/tls/ca.crt\"", // TLS between nodes
			`password_file = "/etc/strom/sasl/admin"`,
			"segment_bytes = 268435456",
		} {
			if !strings.Contains(doc, want) {
				t.Errorf("pod %d config lacks %q:\n%s", i, want, doc)
			}
		}
		if strings.Contains(doc, `kafka = "0.0.0.0`) {
			t.Errorf("pod %d config sets node.addresses.kafka beside [[listeners]]:\n%s", i, doc)
		}
	}
	sm := r.serviceMonitors["demo-strom"]
	if sm == nil || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Labels["release"] != "prom" {
		t.Errorf("ServiceMonitor = %+v", sm)
	}
	dash := r.configMaps["demo-strom-dashboard"]
	if dash == nil {
		t.Fatal("no dashboard ConfigMap")
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "grafana", "strom.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace([]byte(dash.Data["strom.json"])), bytes.TrimSpace(want)) {
		t.Errorf("dashboard ConfigMap differs from deploy/grafana/strom.json")
	}
	if !strings.Contains(r.notes, "kafka.example.com:31094") {
		t.Errorf("NOTES lack the external addresses:\n%s", r.notes)
	}
}

// TestRenderSingleLoadBalancer checks one node without a PVC or PDB behind
// a LoadBalancer that advertises the given host.
func TestRenderSingleLoadBalancer(t *testing.T) {
	r := render(t, valueSets["single-loadbalancer"])
	sts := r.statefulSets["demo-strom"]
	if len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Errorf("volumeClaimTemplates with persistence off")
	}
	if len(r.pdbs) != 0 {
		t.Errorf("PDB rendered though off")
	}
	svc := r.services["demo-strom-0-external"]
	if svc == nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.Ports[0].Port != 9095 {
		t.Errorf("external Service = %+v", svc)
	}
	doc := r.configMaps["demo-strom"].Data["demo-strom-0.toml"]
	if !strings.Contains(doc, "advertise = \"lb0.example.com:9095\"\nprotocol = \"PLAINTEXT\"") {
		t.Errorf("config lacks the load balancer's address:\n%s", doc)
	}
}

// TestRenderRefusesBadValues: values that cannot work fail at render time
// with a message naming the value.
func TestRenderRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]any
		want string
	}{
		{map[string]any{"replicaCount": 2}, "defaultReplicationFactor 3 exceeds replicaCount 2"},
		{map[string]any{"tls": map[string]any{"enabled": true}}, "tls.existingSecret"},
		{map[string]any{"sasl": map[string]any{"enabled": true}}, "sasl.existingSecret"},
		{map[string]any{"external": map[string]any{"enabled": true, "type": "NodePort"}}, "external.host"},
		{map[string]any{"external": map[string]any{"enabled": true, "type": "LoadBalancer"}}, "external.advertisedHosts"},
	} {
		_, err := renderFiles(tc.vals)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %v: err %v, want one containing %q", tc.vals, err, tc.want)
		}
	}
}
