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
	b := startBroker(t)
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, b.Addr(), topic, partitions848, nil)
	g := groupName(t)

	m1, stop1 := runJava848(t, jar, b.Addr(), g, topic, "m1")
	m2, stop2 := runJava848(t, jar, b.Addr(), g, topic, "m2")
	waitAssigned(t, b.Addr(), g, 2)

	first := produce848(t, b.Addr(), topic, "a", 200)
	pollUntil(t, "both members read the first batch", 60*time.Second, func() bool {
		a, _ := m1.snapshot()
		b, _ := m2.snapshot()
		return len(a)+len(b) >= len(first)
	})
	got1, dups1 := m1.snapshot()
	got2, dups2 := m2.snapshot()
	if len(got1) == 0 || len(got2) == 0 || len(dups1)+len(dups2) > 0 {
		t.Fatalf("m1 read %d, m2 %d; read twice: %v %v", len(got1), len(got2), dups1, dups2)
	}
	requireExactly(t, first, mergeDisjoint(t, got1, got2))

	// m1 leaves: m2 takes over its partitions from the commits.
	stop1()
	waitAssigned(t, b.Addr(), g, 1)
	second := produce848(t, b.Addr(), topic, "b", 100)
	pollUntil(t, "m2 read the second batch", 60*time.Second, func() bool {
		a, _ := m2.snapshot()
		return readAllOf(a, second)
	})
	if _, dups := m2.snapshot(); len(dups) > 0 {
		t.Fatalf("m2 read records twice after taking over: %v", dups)
	}
	stop2()
	if got, want := committed(t, b.Addr(), g, topic), ends(t, b.Addr(), topic); !equalOffsets(got, want) {
		t.Fatalf("committed %v, want the high watermarks %v", got, want)
	}

	// A new member resumes from the commits.
	third := produce848(t, b.Addr(), topic, "c", 60)
	m3, stop3 := runJava848(t, jar, b.Addr(), g, topic, "m3")
	pollUntil(t, "m3 read the third batch", 60*time.Second, func() bool {
		a, _ := m3.snapshot()
		return len(a) >= len(third)
	})
	stop3()
	got3, _ := m3.snapshot()
	requireExactly(t, third, got3)
}
