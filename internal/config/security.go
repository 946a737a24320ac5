package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// Listener is one named Kafka listener ([[listeners]]), Kafka's
// listeners / advertised.listeners / listener.security.protocol.map in
// one entry.
type Listener struct {
	Name      string `toml:"name"`
	Address   string `toml:"address"`   // bind host:port
	Advertise string `toml:"advertise"` // host:port clients dial; default Address
	// Protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
	Protocol string `toml:"protocol"`
	// SASLMechanisms are the mechanisms a SASL listener enables
	// (sasl.enabled.mechanisms); empty enables every supported one.
	SASLMechanisms []string `toml:"sasl_mechanisms"`
	// MaxConnections bounds this listener's connections
	// (listener.name.X.max.connections); 0, unset, is unlimited.
	MaxConnections int32 `toml:"max_connections"`
	// MaxConnectionCreationRate bounds this listener's new connections
	// per second (listener.name.X.max.connection.creation.rate); 0,
	// unset, is unlimited.
	MaxConnectionCreationRate int32 `toml:"max_connection_creation_rate"`
}

// TLS is the certificate every SSL and SASL_SSL listener serves ([tls]).
type TLS struct {
	CertFile     string `toml:"cert_file"`
	KeyFile      string `toml:"key_file"`
	ClientCAFile string `toml:"client_ca_file"`
	// ClientAuth is none, requested or required (ssl.client.auth).
	ClientAuth string `toml:"client_auth"`
}

// SASL holds the SASL settings ([sasl]).
type SASL struct {
	// Users are bootstrap credentials ([[sasl.users]]), created at start
	// only when the user has no credential yet.
	Users []SASLUser `toml:"users"`
}

// SASLUser is one bootstrap user.
type SASLUser struct {
	Name         string   `toml:"name"`
	PasswordFile string   `toml:"password_file"`
	Mechanisms   []string `toml:"mechanisms"`
}

// Authorization is the authorizer's settings ([authorization]), Kafka's
// authorizer.class.name (StandardAuthorizer when enabled), super.users
// and allow.everyone.if.no.acl.found.
type Authorization struct {
	Enabled bool `toml:"enabled"`
	// SuperUsers are principals ("User:admin") allowed everything
	// (file only).
	SuperUsers                []string `toml:"super_users"`
	AllowEveryoneIfNoACLFound bool     `toml:"allow_everyone_if_no_acl_found"`
}

// KafkaListeners returns the Kafka listeners: the [[listeners]] entries,
// or one PLAINTEXT listener named PLAINTEXT on Listen advertising
// AdvertisedAddr (the single-listener form).
func (c Config) KafkaListeners() []Listener {
	if len(c.Listeners) == 0 {
		adv := c.Advertise
		return []Listener{{Name: "PLAINTEXT", Address: c.Listen, Advertise: adv, Protocol: "PLAINTEXT"}}
	}
	return c.Listeners
}

var (
	protocols      = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
	saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
)

// validateSecurity checks [[listeners]], [tls] and [[sasl.users]].
func (c Config) validateSecurity() error {
	for i, u := range c.Authorization.SuperUsers {
		if !strings.Contains(u, ":") || strings.HasPrefix(u, ":") || strings.HasSuffix(u, ":") {
			return fmt.Errorf("authorization.super_users[%d]: %q is not a principal (want Type:name, e.g. User:admin)", i, u)
		}
	}
	names := map[string]bool{}
	needTLS := false
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		if l.Name == "" {
			return fmt.Errorf("%s.name: must be set", key)
		}
		if names[l.Name] {
			return fmt.Errorf("%s.name: duplicate listener name %q", key, l.Name)
		}
		names[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			return fmt.Errorf("%s.address: %q is not host:port: %w", key, l.Address, err)
		}
		if l.Advertise != "" {
			if err := checkDialable(l.Advertise); err != nil {
				return fmt.Errorf("%s.advertise: %w", key, err)
			}
		} else if host, _, _ := net.SplitHostPort(l.Address); !connectableHost(host) {
			return fmt.Errorf("%s.advertise: must be set when address %q has no connectable host", key, l.Address)
		}
		if !slices.Contains(protocols, l.Protocol) {
			return fmt.Errorf("%s.protocol: %q is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", key, l.Protocol)
		}
		sasl := l.Protocol == "SASL_PLAINTEXT" || l.Protocol == "SASL_SSL"
		if len(l.SASLMechanisms) > 0 && !sasl {
			return fmt.Errorf("%s.sasl_mechanisms: set on a %s listener", key, l.Protocol)
		}
		for _, m := range l.SASLMechanisms {
			if !slices.Contains(saslMechanisms, m) {
				return fmt.Errorf("%s.sasl_mechanisms: %q is not supported (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", key, m)
			}
		}
		needTLS = needTLS || l.Protocol == "SSL" || l.Protocol == "SASL_SSL"
	}
	if len(c.Listeners) > 0 && c.Listen != c.Listeners[0].Address {
		return fmt.Errorf("listen %q and listeners[0].address %q disagree; with [[listeners]] set neither listen nor node.addresses.kafka", c.Listen, c.Listeners[0].Address)
	}
	if len(c.Listeners) > 0 && c.Advertise != c.Listeners[0].Advertise {
		return fmt.Errorf("advertise %q and listeners[0].advertise %q disagree; with [[listeners]] set neither advertise nor node.advertise.kafka", c.Advertise, c.Listeners[0].Advertise)
	}
	switch c.TLS.ClientAuth {
	case "", "none", "requested", "required":
	default:
		return fmt.Errorf("tls.client_auth: must be none, requested or required, got %q", c.TLS.ClientAuth)
	}
	if needTLS && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		return fmt.Errorf("tls.cert_file and tls.key_file: must be set for SSL and SASL_SSL listeners")
	}
	if (c.TLS.ClientAuth == "requested" || c.TLS.ClientAuth == "required") && c.TLS.ClientCAFile == "" {
		return fmt.Errorf("tls.client_ca_file: must be set with client_auth = %q", c.TLS.ClientAuth)
	}
	users := map[string]bool{}
	for i, u := range c.SASL.Users {
		key := fmt.Sprintf("sasl.users[%d]", i)
		if u.Name == "" {
			return fmt.Errorf("%s.name: must be set", key)
		}
		if users[u.Name] {
			return fmt.Errorf("%s.name: duplicate user %q", key, u.Name)
		}
		users[u.Name] = true
		if u.PasswordFile == "" {
			return fmt.Errorf("%s.password_file: must be set", key)
		}
		for _, m := range u.Mechanisms {
			if !slices.Contains(saslMechanisms, m) {
				return fmt.Errorf("%s.mechanisms: %q is not supported (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", key, m)
			}
		}
	}
	return nil
}
