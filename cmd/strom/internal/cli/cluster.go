package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/vfs"
)

// clusterFormTimeout bounds how long `cluster up` waits for every node to
// list every broker before it gives up and stops them.
const clusterFormTimeout = 60 * time.Second

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local multi-node cluster",
	}
	cmd.AddCommand(newClusterUpCmd())
	return cmd
}

type clusterUpFlags struct {
	nodes    int
	dataDir  string
	basePort int
	logLevel string
}

func newClusterUpCmd() *cobra.Command {
	var f clusterUpFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start an N-node cluster on loopback, one process per node, until interrupted",
		Long: `Start an N-node cluster on 127.0.0.1 as separate processes of this binary
(strom serve --config DATA_DIR/nodeI/strom.toml), print the bootstrap list once
every node lists every broker, and stop all nodes cleanly (SIGTERM, then wait)
on Ctrl-C or SIGTERM. Node I (1-based) listens for Kafka on BASE_PORT+I-1, for
replication on BASE_PORT+100+I-1, for Raft on BASE_PORT+200+I-1 and serves
its admin HTTP listener (metrics, health) on BASE_PORT+552+I-1 (9644 for node 1
by default); with
--base-port 0 every port is chosen free. Node output is prefixed with [nodeI].
Data is kept in --data-dir, so a second run resumes the same cluster: it must
use the ports the directory was made with (recorded in DATA_DIR/cluster.toml;
--base-port 0 reuses them), and is refused at once otherwise, or while another
strom uses the directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return clusterUp(ctx, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.nodes, "nodes", 3, "number of nodes")
	fl.StringVar(&f.dataDir, "data-dir", "./strom-cluster", "directory holding one config file and data directory per node")
	fl.IntVar(&f.basePort, "base-port", 9092, "first Kafka port (0: choose free ports)")
	fl.StringVar(&f.logLevel, "log-level", "info", "node log level: debug, info, warn, error")
	return cmd
}

// localNode is one node of a local cluster: its addresses and process.
type localNode struct {
	id                int32
	kafka, repl, raft string
	admin             string // admin HTTP listener (metrics, health)
	dir               string
	cmd               *exec.Cmd
	done              chan struct{} // closed when the process has been waited for
	err               error         // valid after done
}

func clusterUp(ctx context.Context, f clusterUpFlags, out, errOut io.Writer) (err error) {
	if f.nodes < 1 {
		return fmt.Errorf("--nodes: must be >= 1, got %d", f.nodes)
	}
	if f.basePort < 0 || f.basePort+552+f.nodes > 65535 {
		return fmt.Errorf("--base-port: %d leaves no room for %d nodes", f.basePort, f.nodes)
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cluster up: find own binary: %w", err)
	}
	dataDir, err := filepath.Abs(f.dataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	// One cluster up per directory: a second one would rewrite the
	// configs under the first one's nodes.
	lock, err := vfs.LockDir(dataDir)
	if err != nil {
		return fmt.Errorf("cluster up: %w", err)
	}
	defer lock.Unlock()
	nodes, err := planExistingCluster(dataDir, f.nodes, f.basePort)
	if err != nil {
		return fmt.Errorf("cluster up: %w", err)
	}
	for _, n := range nodes {
		if err := checkNodeDirFree(n); err != nil {
			return fmt.Errorf("cluster up: %w", err)
		}
	}
	for _, n := range nodes {
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", n.dir, err)
		}
		if err := os.WriteFile(filepath.Join(n.dir, "strom.toml"), []byte(localNodeTOML(n, nodes, f.logLevel)), 0o644); err != nil {
			return fmt.Errorf("write config of node %d: %w", n.id, err)
		}
	}
	if err := writeClusterRecord(dataDir, f.basePort, nodes); err != nil {
		return err
	}
	var outMu sync.Mutex // node output lines are written whole
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() {
		// A node that does not stop cleanly makes the whole run fail.
		err = errors.Join(err, stopLocalNodes(nodes))
	}()
	for _, n := range nodes {
		if err := n.start(bin, errOut, &outMu, &wg); err != nil {
			return err
		}
	}
	bootstrap := make([]string, len(nodes))
	for i, n := range nodes {
		bootstrap[i] = n.kafka
	}
	if err := waitLocalCluster(ctx, nodes); err != nil {
		return fmt.Errorf("cluster up: %w", err)
	}
	outMu.Lock()
	fmt.Fprintf(out, "strom: cluster of %d nodes up, data in %s\n", len(nodes), dataDir)
	fmt.Fprintf(out, "bootstrap: %s\n", strings.Join(bootstrap, ","))
	admins := make([]string, len(nodes))
	for i, n := range nodes {
		admins[i] = "http://" + n.admin + "/"
	}
	fmt.Fprintf(out, "console and metrics: %s\n", strings.Join(admins, " "))
	rf, minISR := clusterTopicDefaults(len(nodes))
	fmt.Fprintf(out, "new topics: replication factor %d, min.insync.replicas %d\n", rf, minISR)
	fmt.Fprintf(out, "try: %s produce -b %s -t demo < file.txt   and   %s consume -b %s -t demo -o beginning -e\n",
		filepath.Base(bin), strings.Join(bootstrap, ","), filepath.Base(bin), strings.Join(bootstrap, ","))
	outMu.Unlock()
	for _, n := range nodes {
		select {
		case <-ctx.Done():
			return nil
		case <-n.done:
			// A node that dies (or is killed by hand) is reported; the
			// others keep running until interrupted.
			outMu.Lock()
			fmt.Fprintf(errOut, "strom: node %d exited: %v\n", n.id, n.err)
			outMu.Unlock()
		}
	}
	return errors.New("cluster up: every node exited")
}

// planLocalCluster assigns addresses: from basePort as documented, or free
// ports when basePort is 0 (all held open until every one is chosen).
func planLocalCluster(n, basePort int, dataDir string) ([]*localNode, error) {
	var addrs []string
	if basePort == 0 {
		for range 4 * n {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("find free port: %w", err)
			}
			defer l.Close()
			addrs = append(addrs, l.Addr().String())
		}
	}
	nodes := make([]*localNode, n)
	for i := range nodes {
		nd := &localNode{id: int32(i + 1), dir: filepath.Join(dataDir, fmt.Sprintf("node%d", i+1)), done: make(chan struct{})}
		if basePort == 0 {
			nd.kafka, nd.repl, nd.raft, nd.admin = addrs[4*i], addrs[4*i+1], addrs[4*i+2], addrs[4*i+3]
		} else {
			at := func(off int) string { return "127.0.0.1:" + strconv.Itoa(basePort+off+i) }
			nd.kafka, nd.repl, nd.raft = at(0), at(100), at(200)
			// Node i's admin port is 9644+i-1 for the default base port,
			// as a single broker's is 9644.
			nd.admin = "127.0.0.1:" + strconv.Itoa(basePort+552+i)
		}
		nodes[i] = nd
	}
	return nodes, nil
}

// clusterTopicDefaults is the replication of new topics in an n-node dev
// cluster: RF 3 and min.insync.replicas 2 from three nodes on (a write
// acked with acks=all is on two nodes), scaled down below that.
func clusterTopicDefaults(n int) (rf int16, minISR int32) {
	rf = int16(min(n, 3))
	minISR = int32(max(1, int(rf)-1))
	return rf, minISR
}

func localNodeTOML(n *localNode, all []*localNode, logLevel string) string {
	var b strings.Builder
	rf, minISR := clusterTopicDefaults(len(all))
	fmt.Fprintf(&b, "# Written by strom cluster up.\nnode_id = %d\ndata_dir = %q\nlog_level = %q\n",
		n.id, filepath.Join(n.dir, "data"), logLevel)
	fmt.Fprintf(&b, "# New topics survive one node down without losing acknowledged writes.\ndefault_replication_factor = %d\n", rf)
	fmt.Fprintf(&b, "\n[log]\nmin_insync_replicas = %d\n", minISR)
	fmt.Fprintf(&b, "\n[admin]\naddress = %q\n", n.admin)
	for _, sec := range []string{"node.addresses", "node.advertise"} {
		fmt.Fprintf(&b, "\n[%s]\nkafka = %q\nwal = %q\nraft = %q\n", sec, n.kafka, n.repl, n.raft)
	}
	for _, p := range all {
		fmt.Fprintf(&b, "\n[[peers]]\nid = %d\nkafka = %q\nwal = %q\nraft = %q\n", p.id, p.kafka, p.repl, p.raft)
	}
	return b.String()
}

// start runs the node, copying its output line by line to errOut with a
// [nodeI] prefix. wg tracks the goroutine that waits for it.
func (n *localNode) start(bin string, errOut io.Writer, outMu *sync.Mutex, wg *sync.WaitGroup) error {
	cmd := exec.Command(bin, "serve", "--config", filepath.Join(n.dir, "strom.toml"))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	// Nodes must not outlive this process, even if it is killed.
	// Their own process group: a Ctrl-C in the terminal reaches this
	// process only, which stops the nodes with one SIGTERM each (a second
	// signal would make a node skip its clean shutdown).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("start node %d: %w", n.id, err)
	}
	n.cmd = cmd
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			outMu.Lock()
			fmt.Fprintf(errOut, "[node%d] %s\n", n.id, sc.Text())
			outMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		defer wg.Done()
		n.err = cmd.Wait()
		pw.Close()
		close(n.done)
	}()
	return nil
}

// stopLocalNodes sends SIGTERM to every node still running, then waits for
// each, killing one that takes longer than the broker's own shutdown bound.
// It returns an error naming every node that was running and did not exit
// cleanly (Execute prints it).
func stopLocalNodes(nodes []*localNode) error {
	var running []*localNode
	for _, n := range nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.done:
			continue // already reported when it exited
		default:
		}
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		running = append(running, n)
	}
	var errs []error
	deadline := time.After(shutdownTimeout + 5*time.Second)
	for _, n := range running {
		select {
		case <-n.done:
			if n.err != nil {
				errs = append(errs, fmt.Errorf("node %d did not stop cleanly: %w", n.id, n.err))
			}
		case <-deadline:
			_ = n.cmd.Process.Kill()
			<-n.done
			errs = append(errs, fmt.Errorf("node %d did not stop within %v; killed", n.id, shutdownTimeout+5*time.Second))
		}
	}
	return errors.Join(errs...)
}

// waitLocalCluster polls every node until its Metadata lists all nodes.
func waitLocalCluster(ctx context.Context, nodes []*localNode) error {
	ctx, cancel := context.WithTimeout(ctx, clusterFormTimeout)
	defer cancel()
	for _, n := range nodes {
		for {
			err := localMetadataLists(ctx, n.kafka, len(nodes))
			if err == nil {
				break
			}
			select {
			case <-n.done:
				return fmt.Errorf("node %d exited before the cluster formed: %v", n.id, n.err)
			case <-ctx.Done():
				return fmt.Errorf("node %d: cluster not formed: %v (%w)", n.id, err, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// localMetadataLists asks the node at addr, and only it, for Metadata and
// checks that it lists want brokers.
func localMetadataLists(ctx context.Context, addr string, want int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := cl.SeedBrokers()[0].Request(rctx, req)
	if err != nil {
		return err
	}
	if got := len(resp.(*kmsg.MetadataResponse).Brokers); got != want {
		return fmt.Errorf("metadata lists %d brokers, want %d", got, want)
	}
	return nil
}
