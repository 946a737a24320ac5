package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a connection is refused or closed by the broker's limits
// (the reason label of strom_connections_rejected_total).
const (
	// RejectPerIP: the client's address already had
	// max_connections_per_ip connections (or its override); closed at once.
	RejectPerIP = "max_connections_per_ip"
	// RejectAuthFailed: SASL authentication failed; closed after
	// connection_failed_authentication_delay.
	RejectAuthFailed = "authentication_failed"
	// RejectIdle: no complete request within connections_max_idle.
	RejectIdle = "idle"
	// RejectMaxConns: the least recently active client connection,
	// closed because replication connections took the total over
	// max_connections (KIP-402).
	RejectMaxConns = "max_connections"
)

func newRejected() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strom_connections_rejected_total",
		Help: "Connections closed by the broker's connection limits, by listener and reason: max_connections_per_ip, authentication_failed, idle, max_connections.",
	}, []string{"listener", "reason"})
}

func newAcceptorBlocked() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strom_acceptor_blocked_seconds_total",
		Help: "Time the listeners spent not accepting because max_connections or a listener's max_connections was reached (AcceptorBlockedPercent).",
	})
}

// ConnRejected counts a connection closed for reason (Reject*).
func (l *ListenerRequests) ConnRejected(reason string) {
	if l != nil {
		l.r.rejected.WithLabelValues(l.name, reason).Inc()
	}
}

// AcceptorBlocked adds time a listener waited for a free connection slot.
func (l *ListenerRequests) AcceptorBlocked(d time.Duration) {
	if l != nil {
		l.r.blocked.Add(d.Seconds())
	}
}
