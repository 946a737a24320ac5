package testkit

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netLab puts every node of a cluster in its own network namespace with two
// links: one on the peer network, which carries the node-to-node traffic
// (wal and raft), and one on the client network, which carries the Kafka
// listener. The test process reaches both through two bridges in its own
// namespace (no forwarding between them). Cutting a node sets its peer
// link down: packets to and from its peers are dropped by the kernel, and
// open connections hang rather than close, unlike the proxies' cuts.
type netLab struct {
	tag             string // random hex, in every name
	peerNet, cliNet string // "10.X.Y." prefixes
	namespaces      []string
	hostLinks       []string // peer-side host ends of the veth pairs, by node index
	links           []string // every host-side link made, deleted at cleanup
}

// netnsAvailable reports why network namespaces cannot be used, or "".
func netnsAvailable() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no ip(8) command"
	}
	return ""
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetLab builds the namespaces, bridges and links for n nodes; the
// test's cleanup removes them.
func newNetLab(t testing.TB, n int) *netLab {
	t.Helper()
	if why := netnsAvailable(); why != "" {
		t.Skipf("netns cluster: %s", why)
	}
	// 10.200-249.x: two /24s unlikely to clash with another test's.
	a, b := 200+rand.IntN(50), rand.IntN(250)
	l := &netLab{
		tag:     fmt.Sprintf("%04x", rand.IntN(1<<16)),
		peerNet: fmt.Sprintf("10.%d.%d.", a, b),
		cliNet:  fmt.Sprintf("10.%d.%d.", a, b+1),
	}
	t.Cleanup(l.close)
	brP, brC := "sp"+l.tag, "sc"+l.tag
	steps := [][]string{
		{"link", "add", brP, "type", "bridge"}, {"link", "set", brP, "up"}, {"addr", "add", l.peerNet + "254/24", "dev", brP},
		{"link", "add", brC, "type", "bridge"}, {"link", "set", brC, "up"}, {"addr", "add", l.cliNet + "254/24", "dev", brC},
	}
	l.links = append(l.links, brP, brC)
	for i := range n {
		id := i + 1
		ns := fmt.Sprintf("strom-%s-%d", l.tag, id)
		hp, np := fmt.Sprintf("p%s%dh", l.tag, id), fmt.Sprintf("p%s%dn", l.tag, id)
		hc, nc := fmt.Sprintf("c%s%dh", l.tag, id), fmt.Sprintf("c%s%dn", l.tag, id)
		l.namespaces = append(l.namespaces, ns)
		l.hostLinks = append(l.hostLinks, hp)
		l.links = append(l.links, hp, hc)
		steps = append(steps,
			[]string{"netns", "add", ns},
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"link", "add", hp, "type", "veth", "peer", "name", np},
			[]string{"link", "set", np, "netns", ns},
			[]string{"link", "set", hp, "master", brP, "up"},
			[]string{"-n", ns, "addr", "add", fmt.Sprintf("%s%d/24", l.peerNet, id), "dev", np},
			[]string{"-n", ns, "link", "set", np, "up"},
			[]string{"link", "add", hc, "type", "veth", "peer", "name", nc},
			[]string{"link", "set", nc, "netns", ns},
			[]string{"link", "set", hc, "master", brC, "up"},
			[]string{"-n", ns, "addr", "add", fmt.Sprintf("%s%d/24", l.cliNet, id), "dev", nc},
			[]string{"-n", ns, "link", "set", nc, "up"},
		)
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Skipf("netns cluster: cannot build the network: %v", err)
		}
	}
	return l
}

// addrs are node id's Kafka, wal, raft and admin HTTP addresses. Every
// namespace has its own addresses, so the ports can be fixed.
func (l *netLab) addrs(id int32) (kafka, wal, raft, admin string) {
	return fmt.Sprintf("%s%d:9092", l.cliNet, id), fmt.Sprintf("%s%d:9093", l.peerNet, id),
		fmt.Sprintf("%s%d:9094", l.peerNet, id), fmt.Sprintf("%s%d:9095", l.cliNet, id)
}

// setPeerLink sets node id's peer link up or down.
func (l *netLab) setPeerLink(id int32, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ipCmd("link", "set", l.hostLinks[id-1], state)
}

// close deletes the links (their peers go with them) and namespaces. The
// nodes have been killed by then (the cluster's cleanup runs first).
func (l *netLab) close() {
	for _, ln := range l.links {
		_ = ipCmd("link", "del", ln)
	}
	for _, ns := range l.namespaces {
		_ = ipCmd("netns", "del", ns)
	}
}
