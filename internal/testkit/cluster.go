package testkit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClusterOptions configures StartCluster.
type ClusterOptions struct {
	// Proxies puts an in-process proxy in front of every node's wal and
	// raft listener and advertises the proxy instead (in [node.advertise]
	// and in every [[peers]] entry), so that all node-to-node traffic goes
	// through them however a node learned the address. The proxies know
	// which node each connection comes from, so Cut can isolate one node
	// from the others while clients still reach its Kafka port.
	Proxies bool
	// Netns runs every node in its own network namespace, with node-to-node
	// traffic (wal, raft) on one network and the Kafka listener on another
	// (netns.go); Cut sets a node's link to the peer network down, so its
	// packets are dropped and open connections hang. Needs root and
	// ip(8): the test is skipped without them. Not with Proxies.
	Netns bool
	// TOML is appended to every node's file after its top-level keys and
	// before the [node.*] tables: top-level keys first, then any tables.
	TOML string
	// NodeTOML, when set, returns more of the file of node id (Kafka
	// address kafka), written after TOML (tables only; e.g. the node's
	// own [[listeners]]).
	NodeTOML func(id int32, kafka string) string
	// Env is added to every node's environment.
	Env []string
	// LogLevel of the nodes; default "info".
	LogLevel string
	// ReadyTimeout bounds how long the cluster (or a restarted node) may
	// take to form; default 30s.
	ReadyTimeout time.Duration
	// DataDirs gives chosen nodes their data directory (a file system a
	// test prepared); the others get one in the test's temporary directory.
	DataDirs map[int32]string
	// ClientOpts are added to the clients the harness itself uses on the
	// nodes' Kafka addresses (Request, Metadata, WaitFormed): TLS and SASL
	// when the first listener is secured.
	ClientOpts []kgo.Opt
}

// ClusterOption adjusts ClusterOptions.
type ClusterOption func(*ClusterOptions)

// WithProxies puts a cuttable proxy on every node-to-node link.
func WithProxies() ClusterOption { return func(o *ClusterOptions) { o.Proxies = true } }

// WithNetns puts every node in its own network namespace (see
// ClusterOptions.Netns).
func WithNetns() ClusterOption { return func(o *ClusterOptions) { o.Netns = true } }

// WithNodeTOML appends s to every node's config file (see ClusterOptions.TOML).
func WithNodeTOML(s string) ClusterOption {
	return func(o *ClusterOptions) { o.TOML += s + "\n" }
}

// WithPerNodeTOML appends f(id, kafka) to each node's config file (see
// ClusterOptions.NodeTOML).
func WithPerNodeTOML(f func(id int32, kafka string) string) ClusterOption {
	return func(o *ClusterOptions) { o.NodeTOML = f }
}

// WithNodeEnv adds environment variables (KEY=value) to every node.
func WithNodeEnv(kv ...string) ClusterOption {
	return func(o *ClusterOptions) { o.Env = append(o.Env, kv...) }
}

// WithLogLevel sets the nodes' log level (debug, info, warn, error).
func WithLogLevel(level string) ClusterOption {
	return func(o *ClusterOptions) { o.LogLevel = level }
}

// WithNodeDataDir gives node id the data directory dir.
func WithNodeDataDir(id int32, dir string) ClusterOption {
	return func(o *ClusterOptions) {
		if o.DataDirs == nil {
			o.DataDirs = map[int32]string{}
		}
		o.DataDirs[id] = dir
	}
}

// WithClientOpts sets the options of the harness's own clients (see
// ClusterOptions.ClientOpts).
func WithClientOpts(opts ...kgo.Opt) ClusterOption {
	return func(o *ClusterOptions) { o.ClientOpts = append(o.ClientOpts, opts...) }
}

// WithReadyTimeout sets how long the cluster may take to form.
func WithReadyTimeout(d time.Duration) ClusterOption {
	return func(o *ClusterOptions) { o.ReadyTimeout = d }
}

// Cluster is n strom nodes, each its own OS process of the strom binary with
// its own config file, data directory and loopback ports. Node ids are 1..n.
// The test's cleanup kills every node and closes every proxy; each node's
// output is written to the test log when the test fails.
type Cluster struct {
	opts  ClusterOptions
	bin   string
	nodes []*ClusterNode // nodes[i] has id i+1

	cutMu sync.Mutex
	cut   map[int32]bool // nodes cut off by Cut

	lab *netLab // WithNetns, else nil
}

// stopTimeout is how long Stop waits for a node to exit after SIGTERM: the
// broker's own 30s shutdown bound plus a margin, so a node that overruns its
// bound is told apart from one that returns an error at it.
const stopTimeout = 40 * time.Second

// ClusterNode is one node of a Cluster. Its methods fail the test on misuse
// (e.g. Kill on a node that is not running).
type ClusterNode struct {
	c                 *Cluster
	id                int32
	kafka, repl, raft string // bound addresses
	admin             string // admin HTTP listener (metrics, health)
	// replProxy and raftProxy front wal and raft WithProxies: their
	// addresses are the advertised ones. nil otherwise.
	replProxy, raftProxy *Proxy
	dataDir, config      string
	logs                 *logBuffer
	starts               int

	mu      sync.Mutex // guards cmd, exited, paused
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been waited for
	waitErr error         // valid after exited is closed
	paused  bool
}

// StartCluster writes a config file per node, starts every node as a
// separate process, and returns once every node answers Metadata listing all
// n brokers.
func StartCluster(t testing.TB, n int, opts ...ClusterOption) *Cluster {
	t.Helper()
	c := newCluster(t, n, opts...)
	for _, nd := range c.nodes {
		nd.start(t)
	}
	c.WaitFormed(t)
	return c
}

func newCluster(t testing.TB, n int, opts ...ClusterOption) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("StartCluster: need at least one node, got %d", n)
	}
	o := ClusterOptions{LogLevel: "info", ReadyTimeout: 30 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	c := &Cluster{opts: o, bin: StromBinary(t), cut: map[int32]bool{}}
	if o.Netns && o.Proxies {
		t.Fatalf("StartCluster: WithNetns and WithProxies do not go together")
	}
	var addrs []string
	if o.Netns {
		// Before the cluster's shutdown is registered, so the network
		// goes after the nodes.
		c.lab = newNetLab(t, n)
		for i := range n {
			k, w, r, a := c.lab.addrs(int32(i + 1))
			addrs = append(addrs, k, w, r, a)
		}
	} else {
		addrs = freeAddrs(t, 4*n)
	}
	root := t.TempDir()
	for i := 0; i < n; i++ {
		id := int32(i + 1)
		dir := filepath.Join(root, fmt.Sprintf("node%d", id))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		nd := &ClusterNode{
			c: c, id: id,
			kafka: addrs[4*i], repl: addrs[4*i+1], raft: addrs[4*i+2], admin: addrs[4*i+3],
			dataDir: filepath.Join(dir, "data"), config: filepath.Join(dir, "strom.toml"),
			logs: newLogBuffer(),
		}
		if d := o.DataDirs[id]; d != "" {
			nd.dataDir = d
		}
		c.nodes = append(c.nodes, nd)
		dumpOnFailure(t, fmt.Sprintf("node %d", id), nd.logs)
	}
	// Registered after the log dumps, so it runs first: the logs are
	// complete when they are written out.
	t.Cleanup(c.shutdown)
	if o.Proxies {
		for _, nd := range c.nodes {
			dst := nd.id
			blocked := func(src int32) bool { return c.blocked(src, dst) }
			var err error
			if nd.replProxy, err = NewGatedProxy(nd.repl, c.sourceOf, blocked); err != nil {
				t.Fatalf("proxy: %v", err)
			}
			if nd.raftProxy, err = NewGatedProxy(nd.raft, c.sourceOf, blocked); err != nil {
				t.Fatalf("proxy: %v", err)
			}
		}
	}
	for _, nd := range c.nodes {
		if err := os.WriteFile(nd.config, []byte(c.nodeTOML(nd)), 0o644); err != nil {
			t.Fatalf("write %s: %v", nd.config, err)
		}
	}
	return c
}

// nodeTOML is nd's config file. With proxies, every node advertises its
// proxies for wal and raft, and every [[peers]] entry names them.
func (c *Cluster) nodeTOML(nd *ClusterNode) string {
	var b strings.Builder
	fmt.Fprintf(&b, "node_id = %d\ndata_dir = %q\nlog_level = %q\n", nd.id, nd.dataDir, c.opts.LogLevel)
	b.WriteString(c.opts.TOML)
	if c.opts.NodeTOML != nil {
		b.WriteString("\n" + c.opts.NodeTOML(nd.id, nd.kafka) + "\n")
	}
	fmt.Fprintf(&b, "\n[admin]\naddress = %q\n", nd.admin)
	fmt.Fprintf(&b, "\n[node.addresses]\nkafka = %q\nwal = %q\nraft = %q\n", nd.kafka, nd.repl, nd.raft)
	fmt.Fprintf(&b, "\n[node.advertise]\nkafka = %q\nwal = %q\nraft = %q\n", nd.kafka, nd.ReplicationAddr(), nd.RaftAddr())
	for _, p := range c.nodes {
		fmt.Fprintf(&b, "\n[[peers]]\nid = %d\nkafka = %q\nwal = %q\nraft = %q\n", p.id, p.kafka, p.ReplicationAddr(), p.RaftAddr())
	}
	return b.String()
}

// AddNode adds node n+1 to the running cluster the way an operator adds a
// machine: the new node's config file lists every node including itself,
// the existing nodes' files stay as they are, and the node asks the cluster
// to take it into the metadata quorum. It returns once every running node
// lists the new broker. Not with WithProxies (the proxies' routing tables
// are fixed at start).
func (c *Cluster) AddNode(t testing.TB) *ClusterNode {
	t.Helper()
	if c.opts.Proxies || c.opts.Netns {
		t.Fatal("AddNode: not supported WithProxies or WithNetns")
	}
	id := int32(len(c.nodes) + 1)
	addrs := freeAddrs(t, 3)
	dir := filepath.Join(filepath.Dir(filepath.Dir(c.nodes[0].config)), fmt.Sprintf("node%d", id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nd := &ClusterNode{
		c: c, id: id,
		kafka: addrs[0], repl: addrs[1], raft: addrs[2],
		dataDir: filepath.Join(dir, "data"), config: filepath.Join(dir, "strom.toml"),
		logs: newLogBuffer(),
	}
	c.nodes = append(c.nodes, nd)
	dumpOnFailure(t, fmt.Sprintf("node %d", id), nd.logs)
	// The cluster's shutdown was registered before this node's log dump,
	// so it would run after it: stop this node first, so its log is
	// complete when written out (shutdown then finds it gone).
	t.Cleanup(nd.kill)
	if err := os.WriteFile(nd.config, []byte(c.nodeTOML(nd)), 0o644); err != nil {
		t.Fatalf("write %s: %v", nd.config, err)
	}
	nd.start(t)
	c.WaitFormed(t)
	return nd
}

// Bootstrap is the comma-separated Kafka address of every node.
func (c *Cluster) Bootstrap() string {
	addrs := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		addrs[i] = nd.kafka
	}
	return strings.Join(addrs, ",")
}

// Nodes returns every node, in id order.
func (c *Cluster) Nodes() []*ClusterNode { return c.nodes }

// Node returns the node with id (1..n).
func (c *Cluster) Node(id int32) *ClusterNode {
	if id < 1 || int(id) > len(c.nodes) {
		panic(fmt.Sprintf("testkit: no cluster node %d (ids are 1..%d)", id, len(c.nodes)))
	}
	return c.nodes[id-1]
}

// Cut isolates node id from every other node: all wal and raft traffic
// between them, in both directions, is black-holed (WithProxies: open
// connections are closed, new ones hang; WithNetns: packets are dropped,
// open connections hang too). Clients still reach its Kafka port. The
// cluster must have been started WithProxies or WithNetns.
func (c *Cluster) Cut(t testing.TB, id int32) {
	t.Helper()
	c.setCut(t, id, true)
}

// Heal undoes Cut for node id (links to other nodes that are still cut
// stay cut).
func (c *Cluster) Heal(t testing.TB, id int32) {
	t.Helper()
	c.setCut(t, id, false)
}

func (c *Cluster) setCut(t testing.TB, id int32, cut bool) {
	t.Helper()
	c.Node(id) // range check
	if c.lab != nil {
		if err := c.lab.setPeerLink(id, !cut); err != nil {
			t.Fatalf("testkit: cut=%v node %d: %v", cut, id, err)
		}
		c.cutMu.Lock()
		c.cut[id] = cut
		c.cutMu.Unlock()
		return
	}
	if !c.opts.Proxies {
		t.Fatalf("testkit: Cut/Heal need a cluster started WithProxies() or WithNetns()")
	}
	c.cutMu.Lock()
	c.cut[id] = cut
	c.cutMu.Unlock()
	// Not under cutMu: Refresh calls blocked, which takes it.
	for _, nd := range c.nodes {
		nd.replProxy.Refresh()
		nd.raftProxy.Refresh()
	}
}

// blocked reports whether traffic from node src to node dst is cut. A node
// always reaches itself. A source that could not be named (0) is blocked
// while any node is cut off: only nodes dial these listeners, and an
// unnamed connection let through could be the cut-off node's.
func (c *Cluster) blocked(src, dst int32) bool {
	if src == dst {
		return false
	}
	c.cutMu.Lock()
	defer c.cutMu.Unlock()
	if src == 0 {
		for _, cut := range c.cut {
			if cut {
				return true
			}
		}
		return false
	}
	return c.cut[src] || c.cut[dst]
}

// sourceOf names the node a connection accepted by a proxy comes from, by
// finding which node process holds its client socket; 0 if none does.
// /proc/net/tcp is not read atomically (a socket can be missed while
// others come and go), so the lookup is tried a few times.
func (c *Cluster) sourceOf(remote, local net.Addr) int32 {
	for try := 0; try < 3; try++ {
		if try > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		inode := socketInode(remote, local)
		if inode == "" {
			continue
		}
		for _, nd := range c.nodes {
			if pid := nd.PID(); pid != 0 && pidHoldsSocket(pid, inode) {
				return nd.id
			}
		}
	}
	return 0
}

// StopAll stops every running node with SIGTERM, in id order.
func (c *Cluster) StopAll(t testing.TB) {
	t.Helper()
	for _, nd := range c.nodes {
		if nd.Running() {
			nd.Stop(t)
		}
	}
}

// StartAll starts every node that is not running, without waiting for one
// before starting the next (a node may need a quorum before it serves), then
// waits for the cluster to form.
func (c *Cluster) StartAll(t testing.TB) {
	t.Helper()
	for _, nd := range c.nodes {
		if !nd.Running() {
			nd.start(t)
		}
	}
	c.WaitFormed(t)
}

// WaitFormed waits until every running, unpaused node answers Metadata
// listing every node of the cluster at its advertised Kafka address.
func (c *Cluster) WaitFormed(t testing.TB) {
	t.Helper()
	for _, nd := range c.nodes {
		if !nd.Running() || nd.Paused() {
			continue
		}
		var last string
		ok := poll(c.opts.ReadyTimeout, func() bool {
			if !nd.Running() {
				last = "process exited"
				return true
			}
			resp, err := c.Metadata(context.Background(), nd.id)
			if err != nil {
				last = err.Error()
				return false
			}
			last = c.brokerListProblem(resp)
			return last == ""
		})
		if !ok || !nd.Running() {
			t.Fatalf("cluster did not form within %v: node %d: %s", c.opts.ReadyTimeout, nd.id, last)
		}
	}
}

// brokerListProblem describes how resp's broker list differs from the
// cluster's nodes at their advertised Kafka addresses, or returns "".
func (c *Cluster) brokerListProblem(resp *kmsg.MetadataResponse) string {
	got := map[int32]string{}
	for _, b := range resp.Brokers {
		got[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	var probs []string
	for _, nd := range c.nodes {
		switch addr, ok := got[nd.id]; {
		case !ok:
			probs = append(probs, fmt.Sprintf("broker %d missing", nd.id))
		case addr != nd.kafka:
			probs = append(probs, fmt.Sprintf("broker %d at %s, advertised %s", nd.id, addr, nd.kafka))
		}
	}
	if len(got) != len(c.nodes) {
		probs = append(probs, fmt.Sprintf("%d brokers listed, want %d", len(got), len(c.nodes)))
	}
	return strings.Join(probs, "; ")
}

// shutdown kills every node and closes the proxies.
func (c *Cluster) shutdown() {
	for _, nd := range c.nodes {
		nd.kill()
	}
	for _, nd := range c.nodes {
		for _, p := range []*Proxy{nd.replProxy, nd.raftProxy} {
			if p != nil {
				p.Close()
			}
		}
	}
}

// kill sends SIGKILL to a running node and waits for it to exit; it does
// nothing to a node that is not running. For cleanups.
func (n *ClusterNode) kill() {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// ID is the node id.
func (n *ClusterNode) ID() int32 { return n.id }

// KafkaAddr is the node's Kafka listener (its advertised address).
func (n *ClusterNode) KafkaAddr() string { return n.kafka }

// AdminAddr is the host:port of the node's admin HTTP listener (/metrics,
// /healthz, /readyz).
func (n *ClusterNode) AdminAddr() string { return n.admin }

// ReplicationAddr and RaftAddr are the node's advertised replication and Raft
// addresses: its proxies WithProxies, else its listeners.
func (n *ClusterNode) ReplicationAddr() string {
	if n.replProxy != nil {
		return n.replProxy.Addr()
	}
	return n.repl
}

func (n *ClusterNode) RaftAddr() string {
	if n.raftProxy != nil {
		return n.raftProxy.Addr()
	}
	return n.raft
}

// ConfigPath is the node's TOML file; DataDir its data directory.
func (n *ClusterNode) ConfigPath() string { return n.config }
func (n *ClusterNode) DataDir() string    { return n.dataDir }

// Logs returns the node's captured output so far.
func (n *ClusterNode) Logs() string { return n.logs.String() }

// PID is the current process id, or 0 when the node is not running.
func (n *ClusterNode) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether the node's process is alive (paused counts).
func (n *ClusterNode) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runningLocked()
}

// Paused reports whether the node is stopped with SIGSTOP.
func (n *ClusterNode) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused && n.runningLocked()
}

func (n *ClusterNode) runningLocked() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (n *ClusterNode) Kill(t testing.TB) {
	t.Helper()
	exited := n.mustSignal(t, "Kill", syscall.SIGKILL)
	<-exited
	n.note("killed with SIGKILL")
}

// Stop sends SIGTERM (and SIGCONT, should the node be paused) and waits up
// to stopTimeout for a clean exit; it fails the test otherwise.
func (n *ClusterNode) Stop(t testing.TB) {
	t.Helper()
	exited := n.mustSignal(t, "Stop", syscall.SIGTERM)
	n.signal(syscall.SIGCONT)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		n.signal(syscall.SIGKILL)
		<-exited
		t.Fatalf("node %d did not exit within %v of SIGTERM; killed", n.id, stopTimeout)
	}
	n.note(fmt.Sprintf("stopped with SIGTERM: %v", n.waitErr))
	if n.waitErr != nil {
		t.Fatalf("node %d exited uncleanly after SIGTERM: %v", n.id, n.waitErr)
	}
}

// Terminate is Stop that reports an unclean exit instead of failing the
// test: it returns the process's exit error (nil for a clean exit). A node
// that overruns stopTimeout is killed and still fails the test.
func (n *ClusterNode) Terminate(t testing.TB) error {
	t.Helper()
	exited := n.mustSignal(t, "Terminate", syscall.SIGTERM)
	n.signal(syscall.SIGCONT)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		n.signal(syscall.SIGKILL)
		<-exited
		t.Fatalf("node %d did not exit within %v of SIGTERM; killed", n.id, stopTimeout)
	}
	n.note(fmt.Sprintf("terminated with SIGTERM: %v", n.waitErr))
	return n.waitErr
}

// Pause freezes the process with SIGSTOP; Resume continues it.
func (n *ClusterNode) Pause(t testing.TB) {
	t.Helper()
	n.mustSignal(t, "Pause", syscall.SIGSTOP)
	n.mu.Lock()
	n.paused = true
	n.mu.Unlock()
	// SIGSTOP takes effect asynchronously: wait until the kernel reports
	// the process stopped, so the caller never races a still-running node.
	if pid := n.PID(); pid > 0 && !poll(5*time.Second, func() bool { return processStopped(pid) }) {
		t.Fatalf("node %d not stopped 5 s after SIGSTOP", n.id)
	}
	n.note("paused with SIGSTOP")
}

// processStopped reports whether /proc says pid is stopped (state T).
func processStopped(pid int) bool {
	st, ok := ProcessState(pid)
	return ok && (st == 'T' || st == 't')
}

// ProcessState is pid's state letter from /proc/PID/stat (R, S, T, Z ...);
// ok is false when the process does not exist.
func ProcessState(pid int) (state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, false
	}
	return s[i+2], true
}

// Resume continues a paused process with SIGCONT.
func (n *ClusterNode) Resume(t testing.TB) {
	t.Helper()
	n.mustSignal(t, "Resume", syscall.SIGCONT)
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	n.note("resumed with SIGCONT")
}

// Restart starts a stopped or killed node again with the same config and
// data, and waits until it answers Metadata listing every node.
func (n *ClusterNode) Restart(t testing.TB) {
	t.Helper()
	if n.Running() {
		t.Fatalf("node %d: Restart while running; Kill or Stop it first", n.id)
	}
	n.start(t)
	n.c.WaitFormed(t)
}

// Start starts a stopped or killed node again with the same config and data
// and returns at once, without waiting for it to serve: a node started
// alone has no metadata quorum and cannot. Tests that start the nodes of a
// cluster one at a time, in a chosen order, use it; Restart and StartAll
// wait for the cluster to form.
func (n *ClusterNode) Start(t testing.TB) {
	t.Helper()
	if n.Running() {
		t.Fatalf("node %d: Start while running; Kill or Stop it first", n.id)
	}
	n.start(t)
}

func (n *ClusterNode) mustSignal(t testing.TB, op string, sig syscall.Signal) <-chan struct{} {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		t.Fatalf("node %d: %s on a node that is not running", n.id, op)
	}
	_ = n.cmd.Process.Signal(sig)
	return n.exited
}

func (n *ClusterNode) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.runningLocked() {
		_ = n.cmd.Process.Signal(sig)
	}
}

func (n *ClusterNode) note(s string) {
	fmt.Fprintf(n.logs, "==== testkit: %s node %d %s ====\n", time.Now().Format("15:04:05.000"), n.id, s)
}

// start launches the process without waiting for it to serve.
func (n *ClusterNode) start(t testing.TB) {
	t.Helper()
	n.starts++
	args := []string{"serve", "--config", n.config}
	cmd := exec.Command(n.c.bin, args...)
	if l := n.c.lab; l != nil {
		// ip netns exec enters the namespace and execs the binary: the
		// process keeps its pid, so signals reach the node itself.
		cmd = exec.Command("ip", append([]string{"netns", "exec", l.namespaces[n.id-1], n.c.bin}, args...)...)
	}
	cmd.Env = append(os.Environ(), n.c.opts.Env...)
	cmd.Stdout = n.logs
	cmd.Stderr = n.logs
	// Should the test binary die without running its cleanup, the node
	// goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n.note(fmt.Sprintf("start #%d: %s %s", n.starts, n.c.bin, strings.Join(args, " ")))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %d: %v", n.id, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited, n.paused = cmd, exited, false
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		n.note(fmt.Sprintf("process exited: %v", err))
		close(exited)
	}()
}

// freeAddrs returns n distinct loopback addresses whose ports were free a
// moment ago (all listeners are held until every port is chosen).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		out = append(out, freeAddr(t))
	}
	return out
}

// poll calls cond every 100ms until it returns true or timeout passes, and
// reports whether it returned true.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
