package kafkaref

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// DefaultVersion is the Apache Kafka release used when Options.Version is empty.
const DefaultVersion = "4.1.1"

// ErrUnavailable reports that the machine lacks what the reference broker needs
// (java, or mvn when the jars are not cached yet). Tests skip on it.
var ErrUnavailable = errors.New("kafkaref: reference broker unavailable")

// completeMarker is written last into a libs directory, so a directory left
// half-filled by an interrupted download is never taken for a good one.
const completeMarker = ".complete"

// DefaultLibDir is where the jars of a version are cached:
// $STROM_KAFKA_CACHE/kafka-<version>/libs, else $HOME/.cache/strom/kafka-<version>/libs.
func DefaultLibDir(version string) string {
	base := os.Getenv("STROM_KAFKA_CACHE")
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".cache", "strom")
		} else {
			base = filepath.Join(os.TempDir(), "strom-cache")
		}
	}
	return filepath.Join(base, "kafka-"+version, "libs")
}

// EnsureJars makes sure libDir holds the jars of the given Kafka version and
// returns libDir. It runs Maven once (under a file lock, so concurrent test
// binaries download only once) and does nothing when the jars are present.
// pom is the path of test/kafkaref/pom.xml; empty means find it.
func EnsureJars(ctx context.Context, version, libDir, pom string) (string, error) {
	if version == "" {
		version = DefaultVersion
	}
	if libDir == "" {
		libDir = DefaultLibDir(version)
	}
	if jarsPresent(libDir, version) {
		return libDir, nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", fmt.Errorf("%w: mvn not found and %s is empty", ErrUnavailable, libDir)
	}
	if pom == "" {
		if pom, err = findPom(); err != nil {
			return "", err
		}
	}
	parent := filepath.Dir(libDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create jar cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(parent, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("open jar cache lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock jar cache: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // released on close anyway
	if jarsPresent(libDir, version) {                    // another process fetched them while we waited
		return libDir, nil
	}

	tmp, err := os.MkdirTemp(parent, "libs-partial-")
	if err != nil {
		return "", fmt.Errorf("create jar staging dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, mvn, "-q", "-B", "-f", pom,
		"-Dkafka.version="+version,
		"dependency:copy-dependencies", "-DoutputDirectory="+tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("fetch kafka %s jars with maven: %w\n%s", version, err, out.String())
	}
	if !fileExists(filepath.Join(tmp, "kafka_2.13-"+version+".jar")) {
		return "", fmt.Errorf("fetch kafka %s jars: maven finished but kafka_2.13-%s.jar is missing", version, version)
	}
	if err := os.WriteFile(filepath.Join(tmp, completeMarker), []byte(version+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("mark jar cache complete: %w", err)
	}
	if err := os.RemoveAll(libDir); err != nil {
		return "", fmt.Errorf("clear stale jar cache: %w", err)
	}
	if err := os.Rename(tmp, libDir); err != nil {
		return "", fmt.Errorf("install jar cache: %w", err)
	}
	return libDir, nil
}

// DefaultToolLibDir is where the jars of Kafka's command-line tools are
// cached: tools-libs beside DefaultLibDir's libs.
func DefaultToolLibDir(version string) string {
	return filepath.Join(filepath.Dir(DefaultLibDir(version)), "tools-libs")
}

// EnsureToolJars makes sure the jars of Kafka's command-line tools
// (org.apache.kafka.tools.TopicCommand, kafka.admin.ConfigCommand, ...)
// of version are cached, from test/kafkaref/tools/pom.xml, and returns a
// Java classpath holding them. The shell scripts are not on Maven: run
// the classes with `java -cp <classpath> <class> <args>`.
func EnsureToolJars(ctx context.Context, version string) (string, error) {
	if version == "" {
		version = DefaultVersion
	}
	pom, err := findPom()
	if err != nil {
		return "", err
	}
	dir, err := EnsureJars(ctx, version, DefaultToolLibDir(version), filepath.Join(filepath.Dir(pom), "tools", "pom.xml"))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "*"), nil
}

func jarsPresent(libDir, version string) bool {
	return fileExists(filepath.Join(libDir, completeMarker)) &&
		fileExists(filepath.Join(libDir, "kafka_2.13-"+version+".jar"))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// findPom locates test/kafkaref/pom.xml: $STROM_KAFKAREF_POM, then the
// directories above the working directory, then the module this file was
// compiled from.
func findPom() (string, error) {
	if p := os.Getenv("STROM_KAFKAREF_POM"); p != "" {
		return p, nil
	}
	const rel = "test/kafkaref/pom.xml"
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if p := filepath.Join(dir, rel); fileExists(p) {
				return p, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		// file is <module>/internal/testkit/kafkaref/jars.go
		root := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(file))))
		if p := filepath.Join(root, rel); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: cannot find %s (set STROM_KAFKAREF_POM)", ErrUnavailable, rel)
}
