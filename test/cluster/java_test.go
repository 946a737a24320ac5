package cluster_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestJavaRoundTrip runs test/cluster/java (the Apache Kafka Java client:
// Admin creates an RF=3 topic, an idempotent acks=all producer, an assign()
// consumer that checks offsets and values) bootstrapped through a node that
// is not the controller.
func TestJavaRoundTrip(t *testing.T) {
	jar := javaClusterJar(t)
	c := testkit.StartCluster(t, nodes)
	boot := nonController(t, c).KafkaAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", "-jar", jar, boot, testkit.TopicName(t, ""), "3000")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("java client output:\n%s", out.String())
	if err != nil {
		t.Fatalf("java cluster check failed: %v", err)
	}
	if !strings.Contains(out.String(), "javaclustercheck: all checks passed") {
		t.Fatalf("java cluster check exited 0 without its success line")
	}
}

// javaClusterJar builds the check with Maven, cached by a hash of its
// sources, and skips the test when no JDK or Maven is installed.
func javaClusterJar(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed; the Java client check needs a JDK 17+ and Maven (CI has both)", tool)
		}
	}
	root, err := testkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(root, "test", "cluster", "java")
	h := sha256.New()
	err = filepath.WalkDir(proj, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "target" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(proj, path)
		h.Write([]byte(rel))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatalf("hash %s: %v", proj, err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	buildDir := filepath.Join(cache, "strom-test", "javaclustercheck-"+hex.EncodeToString(h.Sum(nil))[:16])
	jar := filepath.Join(buildDir, "strom-javaclustercheck.jar")
	if _, err := os.Stat(jar); err == nil {
		return jar
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mvn", "-q", "-B", "-f", filepath.Join(proj, "pom.xml"),
		"-Djavacheck.buildDir="+buildDir, "package")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mvn package test/cluster/java: %v\n%s", err, out)
	}
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("mvn package did not produce %s: %v", jar, err)
	}
	return jar
}
