package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Unlimited is Kafka's Int.MaxValue, the default of its connection
// limits: no limit.
const Unlimited = 2147483647

// ParseConnOverrides parses Kafka's max.connections.per.ip.overrides form,
// "host:count,host:count" (host a name or an address; the count follows
// the last colon, so IPv6 addresses need no brackets). An empty string
// is no override.
func ParseConnOverrides(s string) (map[string]int32, error) {
	out := map[string]int32{}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		i := strings.LastIndexByte(e, ':')
		if i <= 0 {
			return nil, fmt.Errorf("%q is not host:count", e)
		}
		host := strings.Trim(strings.TrimSpace(e[:i]), "[]")
		n, err := strconv.ParseInt(strings.TrimSpace(e[i+1:]), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: count must be an integer >= 0", e)
		}
		out[host] = int32(n)
	}
	return out, nil
}

// validateConnLimits checks the connection limits and the failed
// authentication delay as Kafka's KafkaConfig does.
func (c Config) validateConnLimits() error {
	if c.MaxConnections < 0 {
		return fmt.Errorf("max_connections: must be >= 0, got %d", c.MaxConnections)
	}
	if c.MaxConnectionCreationRate < 1 {
		return fmt.Errorf("max_connection_creation_rate: must be >= 1 (per second), got %d", c.MaxConnectionCreationRate)
	}
	if c.MaxConnectionsPerIP < 0 {
		return fmt.Errorf("max_connections_per_ip: must be >= 0, got %d", c.MaxConnectionsPerIP)
	}
	ov, err := ParseConnOverrides(c.MaxConnectionsPerIPOverrides)
	if err != nil {
		return fmt.Errorf("max_connections_per_ip_overrides: %w", err)
	}
	if c.MaxConnectionsPerIP == 0 && len(ov) == 0 {
		return fmt.Errorf("max_connections_per_ip: 0 refuses every client; it needs max_connections_per_ip_overrides naming the hosts that may connect")
	}
	for i, l := range c.Listeners {
		if l.MaxConnections < 0 {
			return fmt.Errorf("listeners[%d].max_connections: must be > 0 (unset: unlimited), got %d", i, l.MaxConnections)
		}
		if l.MaxConnectionCreationRate < 0 {
			return fmt.Errorf("listeners[%d].max_connection_creation_rate: must be > 0 (unset: unlimited), got %d", i, l.MaxConnectionCreationRate)
		}
	}
	if c.ConnFailedAuthDelay < 0 {
		return fmt.Errorf("connection_failed_authentication_delay: must be >= 0, got %s", c.ConnFailedAuthDelay)
	}
	if c.ConnFailedAuthDelay >= c.ConnMaxIdle {
		return fmt.Errorf("connection_failed_authentication_delay %s: must be less than connections_max_idle %s", c.ConnFailedAuthDelay, c.ConnMaxIdle)
	}
	return nil
}
