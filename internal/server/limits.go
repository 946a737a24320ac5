package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/metrics"
)

// ConnLimits counts one node's connections by listener and client address
// and enforces Kafka's connection limits, as its SocketServer's
// ConnectionQuotas does:
//
//   - max_connections_per_ip (with overrides): a connection from an
//     address that already has its limit is closed as soon as it is
//     accepted;
//   - a listener's max_connections and the broker-wide max_connections:
//     at the limit the listener stops accepting (new clients wait in the
//     kernel's accept queue) until one of its connections closes. The
//     inter-broker listeners (the replication listener, and the one
//     inter_broker_listener names) never wait for the broker-wide limit,
//     only for their own, though their connections count towards the
//     total; over it, the quietest client connection is closed (KIP-306,
//     KIP-402);
//   - max_connection_creation_rate, broker-wide (inter-broker listeners
//     exempt) and per listener (KIP-612).
//
// One ConnLimits is shared by every server of a node. Its lock guards
// counters only: nothing waits on a socket with it held.
type ConnLimits struct {
	maxTotal  int
	maxPerIP  int
	overrides map[netip.Addr]int
	logger    *slog.Logger
	rate      rateLimit // broker-wide connection creation rate, guarded by mu

	mu   sync.Mutex
	cond *sync.Cond // broadcast when a connection closes or a server shuts down
	// Guarded by mu.
	total     int
	perIP     map[netip.Addr]int
	listeners []*listenerQuota
	servers   []*Server // whose client connections may be evicted
	rejectLog rateLog
	blockLog  rateLog
}

// listenerQuota is one listener's count and limit; count is guarded by
// ConnLimits.mu.
type listenerQuota struct {
	name        string
	max         int
	interBroker bool
	count       int
	rate        rateLimit
}

// rateLimit spaces new connections to at most perSec a second, with
// bursts of up to a second's worth (a generic cell rate algorithm: next
// is when the connection after the burst may come). Kafka measures the
// rate over its quota windows; the bound is the same.
type rateLimit struct {
	interval time.Duration // 0: unlimited
	burst    time.Duration
	next     time.Time
}

func newRateLimit(perSec int) rateLimit {
	if perSec <= 0 || perSec >= config.Unlimited {
		return rateLimit{}
	}
	iv := time.Second / time.Duration(perSec)
	return rateLimit{interval: iv, burst: time.Duration(perSec-1) * iv}
}

// wait is how long until one more connection is within the rate.
func (r *rateLimit) wait(now time.Time) time.Duration {
	if r.interval == 0 || r.next.IsZero() {
		return 0
	}
	return r.next.Sub(now) - r.burst
}

// take records one connection.
func (r *rateLimit) take(now time.Time) {
	if r.interval == 0 {
		return
	}
	if r.next.Before(now) {
		r.next = now
	}
	r.next = r.next.Add(r.interval)
}

// limitLogInterval spaces the log lines about refused and held-back
// connections: a flood logs one line per interval, not one per connection.
const limitLogInterval = 10 * time.Second

// rateLog lets one line through per limitLogInterval and counts the rest.
type rateLog struct {
	last       time.Time
	suppressed int
}

// allow reports whether to log now and how many lines were held back
// since the last one.
func (r *rateLog) allow(now time.Time) (bool, int) {
	if !r.last.IsZero() && now.Sub(r.last) < limitLogInterval {
		r.suppressed++
		return false, 0
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return true, n
}

// NewConnLimits returns the limits of cfg. Host names in the per-IP
// overrides are resolved once, here, as Kafka does when it reads its
// configuration.
func NewConnLimits(ctx context.Context, cfg config.Config, logger *slog.Logger) (*ConnLimits, error) {
	l := &ConnLimits{
		maxTotal:  unlimitedIfMax(int(cfg.MaxConnections)),
		maxPerIP:  unlimitedIfMax(int(cfg.MaxConnectionsPerIP)),
		overrides: map[netip.Addr]int{},
		logger:    logger,
		rate:      newRateLimit(int(cfg.MaxConnectionCreationRate)),
		perIP:     map[netip.Addr]int{},
	}
	l.cond = sync.NewCond(&l.mu)
	ov, err := config.ParseConnOverrides(cfg.MaxConnectionsPerIPOverrides)
	if err != nil {
		return nil, fmt.Errorf("max_connections_per_ip_overrides: %w", err)
	}
	for host, n := range ov {
		if a, err := netip.ParseAddr(host); err == nil {
			l.overrides[a.Unmap()] = int(n)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("max_connections_per_ip_overrides: resolve %q: %w", host, err)
		}
		for _, a := range addrs {
			l.overrides[a.Unmap()] = int(n)
		}
	}
	return l, nil
}

// unlimitedIfMax maps Kafka's Int.MaxValue default to no limit at all.
func unlimitedIfMax(n int) int {
	if n >= config.Unlimited {
		return int(^uint(0) >> 1)
	}
	return n
}

// listener registers a listener; max and ratePerSec <= 0 are unlimited.
// interBroker marks a listener other nodes dial, exempt from the
// broker-wide limits once another listener exists.
func (l *ConnLimits) listener(name string, max, ratePerSec int, interBroker bool) *listenerQuota {
	if max <= 0 {
		max = unlimitedIfMax(config.Unlimited)
	}
	q := &listenerQuota{name: name, max: max, interBroker: interBroker, rate: newRateLimit(ratePerSec)}
	l.mu.Lock()
	l.listeners = append(l.listeners, q)
	l.mu.Unlock()
	return q
}

// slotLocked is Kafka's connectionSlotAvailable.
func (l *ConnLimits) slotLocked(q *listenerQuota) bool {
	if q.count >= q.max {
		return false
	}
	if l.protectedLocked(q) {
		return true
	}
	return l.total < l.maxTotal
}

// waitSlot blocks until q may take one more connection, or stopped
// reports true (then it returns false). It reserves nothing: acquire
// checks again.
func (l *ConnLimits) waitSlot(q *listenerQuota, stopped func() bool, m *metrics.ListenerRequests) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waitSlotLocked(q, stopped, m)
}

func (l *ConnLimits) waitSlotLocked(q *listenerQuota, stopped func() bool, m *metrics.ListenerRequests) bool {
	if l.slotLocked(q) {
		return !stopped()
	}
	start := time.Now()
	if ok, n := l.blockLog.allow(start); ok {
		total, count := l.total, q.count
		l.mu.Unlock() // no I/O under the lock; the loop below checks again
		l.logger.Warn("connection limit reached; not accepting new connections until one closes",
			"listener", q.name, "connections", total, "listener_connections", count,
			"max_connections", l.maxTotal, "listener_max_connections", q.max, "times_since_last_line", n)
		l.mu.Lock()
	}
	for !l.slotLocked(q) {
		if stopped() {
			return false
		}
		l.cond.Wait()
	}
	m.AcceptorBlocked(time.Since(start))
	return !stopped()
}

// protectedLocked is Kafka's protectedListener: the inter-broker
// listener, once there is another.
func (l *ConnLimits) protectedLocked(q *listenerQuota) bool {
	return q.interBroker && len(l.listeners) > 1
}

// waitRate blocks until one more connection on q is within the
// listener's and the broker-wide connection creation rates (the
// inter-broker listener only its own), and records it; false when done
// closes first. The wait holds no lock.
func (l *ConnLimits) waitRate(q *listenerQuota, done <-chan struct{}, m *metrics.ListenerRequests) bool {
	var waited time.Duration
	defer func() {
		if waited > 0 {
			m.AcceptorBlocked(waited)
		}
	}()
	for {
		now := time.Now()
		l.mu.Lock()
		d := q.rate.wait(now)
		if !l.protectedLocked(q) {
			d = max(d, l.rate.wait(now))
		}
		if d <= 0 {
			q.rate.take(now)
			if !l.protectedLocked(q) {
				l.rate.take(now)
			}
			l.mu.Unlock()
			return true
		}
		l.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-t.C:
			waited += d
		case <-done:
			t.Stop()
			return false
		}
	}
}

// acquire counts a new connection from ip on q, first waiting for a slot
// (a connection accepted just as another listener took the last one
// waits here, as Kafka's acceptor does). It returns false, counting
// nothing, when ip is over its limit (the caller closes the connection)
// or the server stopped.
func (l *ConnLimits) acquire(q *listenerQuota, ip netip.Addr, remote string, stopped func() bool, m *metrics.ListenerRequests) bool {
	l.mu.Lock()
	if !l.waitSlotLocked(q, stopped, m) {
		l.mu.Unlock()
		return false
	}
	max := l.maxPerIP
	if n, ok := l.overrides[ip]; ok {
		max = n
	}
	if n := l.perIP[ip]; n >= max {
		logNow, suppressed := l.rejectLog.allow(time.Now())
		l.mu.Unlock()
		m.ConnRejected(metrics.RejectPerIP)
		if logNow {
			l.logger.Warn("refused connection: address already has its maximum of connections",
				"listener", q.name, "remote", remote, "max_connections_per_ip", max, "refused_since_last_line", suppressed)
		}
		return false
	}
	l.perIP[ip]++
	l.total++
	q.count++
	over := 0
	if l.protectedLocked(q) {
		over = l.total - l.maxTotal
	}
	l.mu.Unlock()
	for ; over > 0; over-- {
		l.evictLeastRecent()
	}
	return true
}

// addServer registers a server whose client connections (those not on
// an inter-broker listener) may be evicted.
func (l *ConnLimits) addServer(s *Server) {
	l.mu.Lock()
	l.servers = append(l.servers, s)
	l.mu.Unlock()
}

// evictLeastRecent closes the client connection that has been quiet
// longest, as Kafka's processors close their lowest-priority channel
// while inter-broker connections keep the total over max.connections
// (KIP-402): replication may exceed the limit, clients then make room.
func (l *ConnLimits) evictLeastRecent() {
	l.mu.Lock()
	servers := l.servers
	l.mu.Unlock()
	var victim *conn
	var oldest int64
	for _, s := range servers {
		s.mu.Lock()
		for c := range s.conns {
			if c.ln.quota.interBroker || c.evicted.Load() {
				continue
			}
			if t := c.lastActive.Load(); victim == nil || t < oldest {
				victim, oldest = c, t
			}
		}
		s.mu.Unlock()
	}
	if victim == nil || victim.evicted.Swap(true) {
		return
	}
	victim.s.metrics.ConnRejected(metrics.RejectMaxConns)
	l.logger.Info("closing the least recently active client connection: replication connections took the total over max_connections",
		"listener", victim.ln.spec.Name, "remote", victim.remote, "max_connections", l.maxTotal)
	victim.raw.Close()
}

// release uncounts a closed connection and wakes waiting listeners.
func (l *ConnLimits) release(q *listenerQuota, ip netip.Addr) {
	l.mu.Lock()
	if n := l.perIP[ip]; n <= 1 {
		delete(l.perIP, ip)
	} else {
		l.perIP[ip] = n - 1
	}
	l.total--
	q.count--
	l.cond.Broadcast()
	l.mu.Unlock()
}

// wake makes waiting listeners check again whether their server stopped.
func (l *ConnLimits) wake() {
	l.mu.Lock()
	l.cond.Broadcast()
	l.mu.Unlock()
}

// Count returns the connections counted for ip, and in all.
func (l *ConnLimits) Count(ip netip.Addr) (fromIP, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perIP[ip.Unmap()], l.total
}

// remoteIP is the address a connection's limits are counted by.
func remoteIP(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// closedByLimit counts a connection the broker ends by its own rule: a
// failed authentication, or no complete request within
// connections_max_idle (not a shutdown's deadline).
func (c *conn) closedByLimit(err error) {
	switch {
	case errors.Is(err, errAuthFailed):
		c.s.metrics.ConnRejected(metrics.RejectAuthFailed)
	case err != nil && isTimeout(err) && !c.s.stopped.Load():
		c.s.metrics.ConnRejected(metrics.RejectIdle)
	}
}
