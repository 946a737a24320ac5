package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The raft listener carries two protocols: hashicorp/raft's own RPCs and
// the controller's HTTP/JSON RPCs (forwarded proposals, heartbeats,
// status). Every connection starts with one tag byte saying which.
const (
	tagRaft byte = 'R'
	tagRPC  byte = 'C'
)

// muxListener splits one TCP listener by tag byte.
type muxListener struct {
	ln     net.Listener
	adv    net.Addr
	raftCh chan net.Conn
	rpcCh  chan net.Conn
	done   chan struct{}
	once   sync.Once
	logger *slog.Logger
}

func newMux(ln net.Listener, advertise string, logger *slog.Logger) (*muxListener, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("raft advertise %q: %w", advertise, err)
	}
	m := &muxListener{ln: ln, adv: adv, raftCh: make(chan net.Conn), rpcCh: make(chan net.Conn), done: make(chan struct{}), logger: logger}
	go m.acceptLoop()
	return m, nil
}

func (m *muxListener) acceptLoop() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go m.route(c)
	}
}

func (m *muxListener) route(c net.Conn) {
	var tag [1]byte
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if tc, ok := c.(*tls.Conn); ok {
		// A peer without a certificate from the node CA (or not
		// speaking TLS at all) is refused here, before any byte of
		// raft or of the controller's RPCs is read.
		if err := tc.Handshake(); err != nil {
			m.logger.Warn("refused a raft-port connection: TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
			c.Close()
			return
		}
	}
	if _, err := io.ReadFull(c, tag[:]); err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	ch := m.raftCh
	switch tag[0] {
	case tagRaft:
	case tagRPC:
		ch = m.rpcCh
	default:
		m.logger.Warn("closing raft-port connection with unknown tag", "remote", c.RemoteAddr(), "tag", tag[0])
		c.Close()
		return
	}
	select {
	case ch <- c:
	case <-m.done:
		c.Close()
	}
}

func (m *muxListener) close() {
	m.once.Do(func() {
		close(m.done)
		m.ln.Close()
	})
}

// subListener is one protocol's view of the mux.
type subListener struct {
	m  *muxListener
	ch chan net.Conn
}

func (s *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.ch:
		return c, nil
	case <-s.m.done:
		return nil, net.ErrClosed
	}
}

func (s *subListener) Close() error   { s.m.close(); return nil }
func (s *subListener) Addr() net.Addr { return s.m.adv }

// raftLayer is the raft StreamLayer over the mux; with tlsCfg set it
// dials other nodes with mutual TLS.
type raftLayer struct {
	subListener
	tlsCfg *tls.Config
}

func (l *raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return dialTagged(string(addr), tagRaft, timeout, l.tlsCfg)
}

// dialTagged connects to a raft port and sends the tag byte; with tlsCfg
// set the TLS handshake comes first and the tag goes inside it.
func dialTagged(addr string, tag byte, timeout time.Duration, tlsCfg *tls.Config) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		tc := tls.Client(c, tlsCfg)
		tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake with node at %s: %w", addr, err)
		}
		tc.SetDeadline(time.Time{})
		c = tc
	}
	if _, err := c.Write([]byte{tag}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// rpcClient calls other controllers' HTTP RPCs.
type rpcClient struct{ hc *http.Client }

func newRPCClient(tlsCfg *tls.Config) *rpcClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			timeout := 3 * time.Second
			if dl, ok := ctx.Deadline(); ok {
				timeout = time.Until(dl)
			}
			return dialTagged(addr, tagRPC, timeout, tlsCfg)
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
	}
	return &rpcClient{hc: &http.Client{Transport: tr}}
}

// errRPCNotLeader is the answer of a controller that is not the leader.
var errRPCNotLeader = fmt.Errorf("%w: remote is not the leader", ErrNotController)

func (c *rpcClient) call(ctx context.Context, addr, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("controller rpc %s%s: %w", addr, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusMisdirectedRequest {
		return errRPCNotLeader
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("controller rpc %s%s: %s: %s", addr, path, resp.Status, msg)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// slogWriter forwards raft's hclog output, written as JSON without a
// timestamp (raftLogger), to slog: one event per line at raft's level, its
// fields as attributes, so no timestamp or level is nested in a message.
// Raft's info lines are routine (heartbeats, pipelines) and go to debug,
// except changes of role. Failed RPCs to a peer are raft's errors but a
// warning here: they say another node is unreachable, as Kafka warns of a
// connection it cannot make. Once this node is stopping (quiet), its own
// peers going away is expected and everything goes to debug.
type slogWriter struct {
	logger *slog.Logger
	quiet  *atomic.Bool
}

// peerFailures are raft's messages for an RPC to another node that failed.
var peerFailures = []string{
	"failed to appendEntries to", "failed to heartbeat to", "failed to make requestVote RPC",
	"failed to contact", "failed to pipeline appendEntries", "failed to get log",
	"failed to decode incoming command", "failed to send snapshot to",
}

func (w slogWriter) Write(p []byte) (int, error) {
	var fields map[string]any
	if err := json.Unmarshal(p, &fields); err != nil {
		w.logger.Debug(string(bytes.TrimSpace(p)))
		return len(p), nil
	}
	msg, _ := fields["@message"].(string)
	lvl, _ := fields["@level"].(string)
	attrs := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		if strings.HasPrefix(k, "@") {
			continue
		}
		attrs = append(attrs, k, v)
	}
	level := slog.LevelDebug
	switch {
	case w.quiet != nil && w.quiet.Load():
	case lvl == "error" || lvl == "warn":
		level = slog.LevelWarn
		if lvl == "error" && !slices.ContainsFunc(peerFailures, func(f string) bool { return strings.HasPrefix(msg, f) }) {
			level = slog.LevelError
		}
	case strings.Contains(msg, "entering leader state"), strings.Contains(msg, "entering follower state"), strings.Contains(msg, "entering candidate state"):
		level = slog.LevelInfo
	}
	w.logger.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}

// raftLogger is the hclog logger raft and its transport write through.
func raftLogger(logger *slog.Logger, quiet *atomic.Bool) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Output:      slogWriter{logger: logger.With("module", "raft"), quiet: quiet},
		Level:       hclog.Info,
		JSONFormat:  true,
		DisableTime: true,
	})
}
