package testkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// MavenJar builds the Maven project at proj (relative to the module root)
// once per content: the jar is cached under the user cache directory,
// keyed by a hash of the project's sources, so reruns skip Maven. The pom
// must take the output directory as the property buildDirProp and produce
// jarName there. The test is skipped when java or mvn is missing, and fails
// then under CI (see NeedTool).
func MavenJar(t testing.TB, proj, buildDirProp, jarName string) string {
	t.Helper()
	NeedTool(t, "java")
	NeedTool(t, "mvn")
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, proj)
	h := sha256.New()
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
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
		rel, _ := filepath.Rel(dir, path)
		h.Write([]byte(rel))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatalf("hash %s: %v", dir, err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	buildDir := filepath.Join(cache, "strom-test", filepath.Base(jarName)+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	jar := filepath.Join(buildDir, jarName)
	if _, err := os.Stat(jar); err == nil {
		return jar
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mvn", "-q", "-B", "-f", filepath.Join(dir, "pom.xml"), "-D"+buildDirProp+"="+buildDir, "package")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mvn package %s: %v\n%s", proj, err, out)
	}
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("mvn package %s did not produce %s: %v", proj, jar, err)
	}
	return jar
}
