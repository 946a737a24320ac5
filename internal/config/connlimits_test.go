package config

import (
	"strings"
	"testing"
	"time"
)

func TestConnLimitsFromFileAndEnv(t *testing.T) {
	c := Default()
	if c.MaxConnections != Unlimited || c.MaxConnectionsPerIP != Unlimited || c.ConnFailedAuthDelay != 100*time.Millisecond || c.ConnMaxIdle != 10*time.Minute {
		t.Fatalf("defaults: %d %d %s %s", c.MaxConnections, c.MaxConnectionsPerIP, c.ConnFailedAuthDelay, c.ConnMaxIdle)
	}
	p := writeFile(t, `
max_connections = 500
max_connections_per_ip = 20
max_connections_per_ip_overrides = "10.0.0.1:100, broker2.example.com:0"
max_connection_creation_rate = 50
connection_failed_authentication_delay = "250ms"
[[listeners]]
name = "CLIENT"
address = "127.0.0.1:9092"
protocol = "PLAINTEXT"
max_connections = 300
max_connection_creation_rate = 10
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 500 || c.MaxConnectionsPerIP != 20 || c.ConnFailedAuthDelay != 250*time.Millisecond || c.Listeners[0].MaxConnections != 300 ||
		c.MaxConnectionCreationRate != 50 || c.Listeners[0].MaxConnectionCreationRate != 10 {
		t.Fatalf("file values not applied: %+v", c)
	}
	ov, err := ParseConnOverrides(c.MaxConnectionsPerIPOverrides)
	if err != nil || len(ov) != 2 || ov["10.0.0.1"] != 100 || ov["broker2.example.com"] != 0 {
		t.Fatalf("overrides = %v, %v", ov, err)
	}
	env := map[string]string{
		"STROM_MAX_CONNECTIONS":                        "7",
		"STROM_MAX_CONNECTIONS_PER_IP":                 "3",
		"STROM_MAX_CONNECTIONS_PER_IP_OVERRIDES":       "127.0.0.2:1",
		"STROM_CONNECTION_FAILED_AUTHENTICATION_DELAY": "1s",
	}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 7 || c.MaxConnectionsPerIP != 3 || c.MaxConnectionsPerIPOverrides != "127.0.0.2:1" || c.ConnFailedAuthDelay != time.Second {
		t.Fatalf("env not applied: %+v", c)
	}
}

func TestConnLimitsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"negative max", func(c *Config) { c.MaxConnections = -1 }, "max_connections"},
		{"zero rate", func(c *Config) { c.MaxConnectionCreationRate = 0 }, "max_connection_creation_rate"},
		{"negative per ip", func(c *Config) { c.MaxConnectionsPerIP = -1 }, "max_connections_per_ip"},
		{"zero per ip without overrides", func(c *Config) { c.MaxConnectionsPerIP = 0 }, "needs max_connections_per_ip_overrides"},
		{"bad override", func(c *Config) { c.MaxConnectionsPerIPOverrides = "10.0.0.1" }, "max_connections_per_ip_overrides"},
		{"bad override count", func(c *Config) { c.MaxConnectionsPerIPOverrides = "10.0.0.1:x" }, "max_connections_per_ip_overrides"},
		{"delay not below idle", func(c *Config) { c.ConnFailedAuthDelay = c.ConnMaxIdle }, "less than connections_max_idle"},
		{"negative delay", func(c *Config) { c.ConnFailedAuthDelay = -time.Second }, "connection_failed_authentication_delay"},
		{"listener max", func(c *Config) {
			c.Listeners = []Listener{{Name: "A", Address: c.Listen, Protocol: "PLAINTEXT", MaxConnections: -2}}
		}, "listeners[0].max_connections"},
	} {
		c := Default()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
	c := Default()
	c.MaxConnectionsPerIP = 0
	c.MaxConnectionsPerIPOverrides = "127.0.0.1:5"
	if err := c.Validate(); err != nil {
		t.Fatalf("per-IP 0 with an override: %v", err)
	}
}
