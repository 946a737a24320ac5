package charttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	corev1 "k8s.io/api/core/v1"

	"github.com/strom-broker/strom/internal/config"
)

// pod is one rendered pod as a local process would run it: its config file
// and its container environment, with the pods' DNS names and the wildcard
// binds mapped to a loopback address per pod.
type pod struct {
	name   string
	ip     string
	config string   // the file's text
	env    []string // NAME=value, $(POD_NAME) expanded
}

// podsOf maps the release r's pods to loopback addresses 127.0.1.(i+1).
func podsOf(t *testing.T, r rendered, n int) []pod {
	t.Helper()
	sts := r.statefulSets["demo-strom"]
	cm := r.configMaps["demo-strom"]
	if sts == nil || cm == nil {
		t.Fatal("no StatefulSet or ConfigMap demo-strom")
	}
	var rules []string
	for i := range n {
		rules = append(rules, fmt.Sprintf("demo-strom-%d.demo-strom-headless.streams.svc.cluster.local", i), fmt.Sprintf("127.0.1.%d", i+1))
	}
	hosts := strings.NewReplacer(rules...)
	pods := make([]pod, n)
	for i := range n {
		p := pod{name: fmt.Sprintf("demo-strom-%d", i), ip: fmt.Sprintf("127.0.1.%d", i+1)}
		mapAddrs := func(s string) string {
			return strings.ReplaceAll(hosts.Replace(s), "0.0.0.0:", p.ip+":")
		}
		text, ok := cm.Data[p.name+".toml"]
		if !ok {
			t.Fatalf("no config file for %s", p.name)
		}
		p.config = mapAddrs(text)
		for _, e := range containerEnv(t, sts.Spec.Template.Spec.Containers[0].Env, p.name) {
			p.env = append(p.env, mapAddrs(e))
		}
		pods[i] = p
	}
	return pods
}

// containerEnv is the container's environment as the kubelet sets it:
// POD_NAME from the downward API and $(VAR) references expanded.
func containerEnv(t *testing.T, vars []corev1.EnvVar, podName string) []string {
	vals := map[string]string{}
	var out []string
	for _, v := range vars {
		val := v.Value
		switch {
		case v.ValueFrom != nil && v.ValueFrom.FieldRef != nil && v.ValueFrom.FieldRef.FieldPath == "metadata.name":
			val = podName
		case v.ValueFrom != nil:
			t.Fatalf("env %s: unexpected valueFrom %+v", v.Name, v.ValueFrom)
		}
		for k, kv := range vals {
			val = strings.ReplaceAll(val, "$("+k+")", kv)
		}
		vals[v.Name] = val
		out = append(out, v.Name+"="+val)
	}
	return out
}

// setEnv replaces or adds NAME=value in env.
func setEnv(env []string, name, value string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, name+"=") {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}

func lookupIn(env []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, e := range env {
			if k, v, _ := strings.Cut(e, "="); k == name {
				return v, true
			}
		}
		return "", false
	}
}

// loadPod reads the pod's config as `strom serve` does: the file, then its
// environment, then Validate.
func loadPod(t *testing.T, p pod, dir string) (config.Config, []string) {
	t.Helper()
	path := filepath.Join(dir, p.name+".toml")
	if err := os.WriteFile(path, []byte(p.config), 0o644); err != nil {
		t.Fatal(err)
	}
	env := setEnv(append([]string(nil), p.env...), "STROM_CONFIG", path)
	env = setEnv(env, "STROM_DATA_DIR", filepath.Join(dir, p.name+"-data"))
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	if err := c.ApplyEnv(lookupIn(env)); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: invalid config: %v\n%s", p.name, err, p.config)
	}
	return c, env
}

// TestPodConfigsValidate: every pod's file plus its environment is a config
// the broker accepts, with the pod's id, its advertised addresses and a
// peer list naming every pod.
func TestPodConfigsValidate(t *testing.T) {
	for name, vals := range valueSets {
		t.Run(name, func(t *testing.T) {
			r := render(t, vals)
			n := int(*r.statefulSets["demo-strom"].Spec.Replicas)
			dir := t.TempDir()
			for i, p := range podsOf(t, r, n) {
				c, _ := loadPod(t, p, dir)
				if int(c.NodeID) != i || len(c.Peers) != n {
					t.Errorf("%s: node_id %d, %d peers; want %d, %d", p.name, c.NodeID, len(c.Peers), i, n)
				}
				if want := p.ip + ":9644"; c.Admin.Address != want {
					t.Errorf("%s: admin address %q, want %q", p.name, c.Admin.Address, want)
				}
			}
		})
	}
}

// TestPodConfigsFormCluster runs the default release's three pods as local
// processes of the broker (pod names mapped to loopback addresses, the
// ports moved to free ones) and checks that they form a cluster: every
// node becomes ready, which needs the metadata quorum, and a topic with
// the chart's replication factor 3 takes and returns records.
func TestPodConfigsFormCluster(t *testing.T) {
	ports := freePorts(t, 4)
	vals := map[string]any{"ports": map[string]any{
		"kafka": ports[0], "replication": ports[1], "raft": ports[2], "admin": ports[3],
	}}
	runCluster(t, vals, nil, ports[0])
}

// TestSecurePodConfigsFormCluster does the same with TLS and SASL on: the
// Secrets' files where the chart mounts them (moved into the test's
// directory), and the records go through the CLIENT listener over
// SASL_SSL with SCRAM-SHA-512 as the bootstrap user the chart declares.
func TestSecurePodConfigsFormCluster(t *testing.T) {
	ports := freePorts(t, 5)
	vals := map[string]any{
		"ports": map[string]any{"kafka": ports[0], "replication": ports[1], "raft": ports[2], "admin": ports[3], "client": ports[4]},
		"tls":   map[string]any{"enabled": true, "existingSecret": "strom-tls"},
		"sasl": map[string]any{"enabled": true, "existingSecret": "strom-users",
			"users": []any{map[string]any{"name": "admin"}}},
	}
	secrets := t.TempDir()
	pool := writeServerCert(t, filepath.Join(secrets, "tls"), []string{"127.0.1.1", "127.0.1.2", "127.0.1.3"})
	if err := os.MkdirAll(filepath.Join(secrets, "sasl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "sasl", "admin"), []byte("admin-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mounts := strings.NewReplacer("/etc/strom/tls/", filepath.Join(secrets, "tls")+"/", "/etc/strom/sasl/", filepath.Join(secrets, "sasl")+"/")
	runCluster(t, vals, mounts, ports[4],
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
}

// runCluster renders vals, starts the three pods as processes (mounts, when
// set, rewrites the Secrets' paths in the files), waits until each is
// ready, then produces and consumes 10 records on clientPort with opts.
func runCluster(t *testing.T, vals map[string]any, mounts *strings.Replacer, clientPort int, opts ...kgo.Opt) {
	bin := buildBroker(t)
	r := render(t, vals)
	dir := t.TempDir()
	pods := podsOf(t, r, 3)
	adminPort := 0
	for _, p := range r.statefulSets["demo-strom"].Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "admin" {
			adminPort = int(p.ContainerPort)
		}
	}
	for _, p := range pods {
		if mounts != nil {
			p.config = mounts.Replace(p.config)
		}
		_, env := loadPod(t, p, dir)
		startPod(t, bin, p, env, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Probed as the kubelet probes: the rendered probe's scheme, and an
	// HTTPS certificate not verified.
	scheme := "http"
	if probe := r.statefulSets["demo-strom"].Spec.Template.Spec.Containers[0].ReadinessProbe; probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Scheme == "HTTPS" {
		scheme = "https"
	}
	for _, p := range pods {
		waitReady(ctx, t, fmt.Sprintf("%s://%s:%d/readyz", scheme, p.ip, adminPort), filepath.Join(dir, p.name+".log"))
	}

	var seeds []string
	for _, p := range pods {
		seeds = append(seeds, net.JoinHostPort(p.ip, strconv.Itoa(clientPort)))
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("chart"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "chart", Value: []byte("r" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	got := 0
	for got < 10 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 10: %v", got, err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if want := "r" + strconv.Itoa(got); string(rec.Value) != want {
				t.Errorf("record %d = %q, want %q", got, rec.Value, want)
			}
			got++
		})
	}
	td, err := kadm.NewClient(cl).ListTopics(ctx, "chart")
	if err != nil {
		t.Fatal(err)
	}
	for _, pd := range td["chart"].Partitions {
		if len(pd.Replicas) != 3 {
			t.Errorf("partition %d has replicas %v, want 3 (the chart's defaultReplicationFactor)", pd.Partition, pd.Replicas)
		}
	}
}

// writeServerCert writes tls.crt and tls.key (as a kubernetes.io/tls
// Secret holds them) into dir for a certificate naming ips, signed by a new
// CA, and returns a pool with that CA.
func writeServerCert(t *testing.T, dir string, ips []string) *x509.CertPool {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chart test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "strom"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("tls.crt", "CERTIFICATE", der)
	write("tls.key", "PRIVATE KEY", keyDER)
	write("ca.crt", "CERTIFICATE", caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// buildBroker builds the broker binary as make build does.
func buildBroker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "strom")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/strom")
	cmd.Dir = filepath.Join("..", "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePorts returns n ports free on each pod's loopback address.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.1.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		free := true
		for _, ip := range []string{"127.0.1.2", "127.0.1.3"} {
			l2, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				free = false
				break
			}
			l2.Close()
		}
		l.Close()
		if free {
			ports = append(ports, port)
		}
	}
	return ports
}

// startPod runs the image's entry point (`strom serve`) with the pod's
// environment only, as the container would, and stops it at the end of the
// test.
func startPod(t *testing.T, bin string, p pod, env []string, dir string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, p.name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
}

// waitReady polls url until it answers 200 or ctx ends.
// kubeletClient probes as the kubelet does: an HTTPS probe's certificate
// is not verified.
var kubeletClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func waitReady(ctx context.Context, t *testing.T, url, logPath string) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := kubeletClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("%s not ready (%s); log:\n%s", url, last, logs)
		case <-tick.C:
		}
	}
}
