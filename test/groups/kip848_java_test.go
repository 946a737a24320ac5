package groups_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/testkit"
)

// member848Jar builds test/groups/java848 (a Java KafkaConsumer with
// group.protocol=consumer), cached by a hash of its sources.
func member848Jar(t *testing.T) string {
	return testkit.MavenJar(t, "test/groups/java848", "member848.buildDir", "strom-member848.jar")
}

// runJava848 starts one Java member process; stop closes its stdin, which
// makes it close the consumer (leaving the group), and waits for it.
func runJava848(t *testing.T, jar, addr, group, topic, name string) (*member848, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, "java", "-jar", jar, addr, group, topic, name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start java: %v", err)
	}
	m := &member848{got: map[string]recordID{}}
	closed := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		saw := false
		for sc.Scan() {
			var key string
			var id recordID
			if _, err := fmt.Sscanf(sc.Text(), "record %s %d %d", &key, &id.partition, &id.offset); err == nil {
				m.add(key, id)
			}
			saw = saw || sc.Text() == "closed"
		}
		io.Copy(io.Discard, stdout)
		closed <- saw
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdin.Close()
			saw := <-closed
			err := cmd.Wait()
			cancel()
			if err != nil || !saw {
				t.Errorf("%s: java member did not close cleanly (%v):\n%s", name, err, stderr.String())
			}
		})
	}
	t.Cleanup(stop)
	return m, stop
}

func TestKIP848Java(t *testing.T) {
	jar := member848Jar(t)
	scenario848(t, func(t *testing.T, addr, group, topic, name string) (*member848, func()) {
		return runJava848(t, jar, addr, group, topic, name)
	}, 200, nil)
}
