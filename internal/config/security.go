package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
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
	// PrincipalMappingRules maps a client certificate's subject to a
	// principal name, Kafka's ssl.principal.mapping.rules:
	// "RULE:pattern/replacement/[LU],...,DEFAULT"; empty is DEFAULT.
	PrincipalMappingRules string `toml:"principal_mapping_rules"`

	// NodeCertFile and NodeKeyFile are the certificate this node presents
	// to the other nodes, as server and as client, on the replication and
	// Raft links (default CertFile and KeyFile).
	NodeCertFile string `toml:"node_cert_file"`
	NodeKeyFile  string `toml:"node_key_file"`
	// CAFile holds the CAs that sign node certificates: a node trusts a
	// peer whose certificate chains to one of them.
	CAFile string `toml:"ca_file"`
	// Internode is "tls" (mutual TLS between nodes) or "plaintext";
	// empty means tls when CAFile is set, plaintext otherwise.
	Internode string `toml:"internode"`
}

// InterBrokerProtocol is the protocol of the inter-broker listener:
// the listener named by InterBrokerListener, or "" for the replication
// listener.
func (c Config) InterBrokerProtocol() string {
	for _, l := range c.KafkaListeners() {
		if c.InterBrokerListener != "" && l.Name == c.InterBrokerListener {
			return l.Protocol
		}
	}
	return ""
}

// InternodeTLS reports whether the replication and Raft links of this
// cluster node use mutual TLS.
func (c Config) InternodeTLS() bool {
	if !c.Clustered() {
		return false
	}
	switch c.TLS.Internode {
	case "tls":
		return true
	case "plaintext":
		return false
	}
	return c.TLS.CAFile != ""
}

// NodeCert returns the certificate and key files of this node's
// certificate on node-to-node links.
func (t TLS) NodeCert() (certFile, keyFile string) {
	return orDefault(t.NodeCertFile, t.CertFile), orDefault(t.NodeKeyFile, t.KeyFile)
}

// SASL holds the SASL settings ([sasl]).
type SASL struct {
	// Users are bootstrap credentials ([[sasl.users]]), created at start
	// only when the user has no credential yet.
	Users []SASLUser `toml:"users"`
	// OAuthBearer validates OAUTHBEARER tokens ([sasl.oauthbearer]).
	OAuthBearer OAuthBearer `toml:"oauthbearer"`
}

// OAuthBearer is how OAUTHBEARER JWTs are validated, Kafka's
// sasl.oauthbearer.* broker settings (OAuthBearerValidatorCallbackHandler).
type OAuthBearer struct {
	// JWKSFile or JWKSURL holds the issuer's public keys
	// (sasl.oauthbearer.jwks.endpoint.url, file: or http(s):); exactly
	// one must be set to enable the mechanism. The file is re-read when
	// it changes.
	JWKSFile string `toml:"jwks_file"`
	JWKSURL  string `toml:"jwks_url"`
	// JWKSCAFile holds the PEM CAs an https jwks_url is verified against
	// instead of the system's.
	JWKSCAFile string `toml:"jwks_ca_file"`
	// JWKSRefresh is how often the URL is fetched again
	// (sasl.oauthbearer.jwks.endpoint.refresh.ms); a token naming an
	// unknown key id also fetches it (rate-limited).
	JWKSRefresh time.Duration `toml:"jwks_refresh"`
	// Issuer is the iss a token must carry (sasl.oauthbearer.expected.issuer);
	// empty accepts any.
	Issuer string `toml:"issuer"`
	// Audience is a comma-separated list; a token's aud must name one of
	// them (sasl.oauthbearer.expected.audience); empty accepts any.
	Audience string `toml:"audience"`
	// SubClaim names the claim the principal comes from
	// (sasl.oauthbearer.sub.claim.name).
	SubClaim string `toml:"sub_claim"`
	// ScopeClaim names the scope claim (sasl.oauthbearer.scope.claim.name).
	ScopeClaim string `toml:"scope_claim"`
	// ClockSkew is the tolerance on exp, nbf and iat
	// (sasl.oauthbearer.clock.skew.seconds).
	ClockSkew time.Duration `toml:"clock_skew"`
	// Unsecured accepts unsigned tokens (alg "none") instead of verifying
	// against keys, checking exp, iat and the principal claim only:
	// Kafka's default OAUTHBEARER validator
	// (OAuthBearerUnsecuredValidatorCallbackHandler), for development.
	Unsecured bool `toml:"unsecured"`
}

// Enabled reports whether OAUTHBEARER has keys to validate against, or
// accepts unsecured tokens.
func (o OAuthBearer) Enabled() bool { return o.JWKSFile != "" || o.JWKSURL != "" || o.Unsecured }

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
			if m == "OAUTHBEARER" {
				if !c.SASL.OAuthBearer.Enabled() {
					return fmt.Errorf("%s.sasl_mechanisms: OAUTHBEARER needs sasl.oauthbearer.jwks_file or jwks_url", key)
				}
				continue
			}
			if !slices.Contains(saslMechanisms, m) {
				return fmt.Errorf("%s.sasl_mechanisms: %q is not supported (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", key, m)
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
	if err := c.SASL.OAuthBearer.validate(); err != nil {
		return err
	}
	if err := c.validateInternode(); err != nil {
		return err
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

func (o OAuthBearer) validate() error {
	if o.JWKSFile != "" && o.JWKSURL != "" {
		return fmt.Errorf("sasl.oauthbearer: set jwks_file or jwks_url, not both")
	}
	if o.Unsecured && (o.JWKSFile != "" || o.JWKSURL != "") {
		return fmt.Errorf("sasl.oauthbearer.unsecured: set unsecured or a JWKS (jwks_file, jwks_url), not both")
	}
	if o.JWKSURL != "" {
		u, err := url.Parse(o.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("sasl.oauthbearer.jwks_url: %q is not an http(s) URL", o.JWKSURL)
		}
	}
	if o.JWKSCAFile != "" && !strings.HasPrefix(o.JWKSURL, "https://") {
		return fmt.Errorf("sasl.oauthbearer.jwks_ca_file: set without an https jwks_url")
	}
	if !o.Enabled() {
		return nil
	}
	if o.JWKSRefresh < time.Second {
		return fmt.Errorf("sasl.oauthbearer.jwks_refresh: must be at least 1s, got %s", o.JWKSRefresh)
	}
	if o.ClockSkew < 0 {
		return fmt.Errorf("sasl.oauthbearer.clock_skew: must be >= 0, got %s", o.ClockSkew)
	}
	if strings.TrimSpace(o.SubClaim) == "" {
		return fmt.Errorf("sasl.oauthbearer.sub_claim: must be set")
	}
	if strings.TrimSpace(o.ScopeClaim) == "" {
		return fmt.Errorf("sasl.oauthbearer.scope_claim: must be set")
	}
	return nil
}

// validateInternode checks the node-to-node TLS keys of [tls].
func (c Config) validateInternode() error {
	switch c.TLS.Internode {
	case "", "tls", "plaintext":
	default:
		return fmt.Errorf("tls.internode: must be tls or plaintext, got %q", c.TLS.Internode)
	}
	if (c.TLS.NodeCertFile == "") != (c.TLS.NodeKeyFile == "") {
		return fmt.Errorf("tls.node_cert_file and tls.node_key_file: set both or neither")
	}
	if name := c.InterBrokerListener; name != "" {
		i := slices.IndexFunc(c.KafkaListeners(), func(l Listener) bool { return l.Name == name })
		if i < 0 {
			return fmt.Errorf("inter_broker_listener: no listener named %q", name)
		}
		switch p := c.KafkaListeners()[i].Protocol; p {
		case "PLAINTEXT":
		case "SSL":
			if !c.InternodeTLS() {
				return fmt.Errorf("inter_broker_listener: the SSL listener %q needs internode TLS (tls.ca_file and a node certificate) for nodes to present", name)
			}
		default:
			return fmt.Errorf("inter_broker_listener: listener %q is %s; nodes hold no SASL credentials, name a PLAINTEXT or SSL listener", name, p)
		}
	}
	if !c.InternodeTLS() {
		return nil
	}
	if c.TLS.CAFile == "" {
		return fmt.Errorf("tls.ca_file: must be set with internode = \"tls\" (the CA that signs the nodes' certificates)")
	}
	if cert, key := c.TLS.NodeCert(); cert == "" || key == "" {
		return fmt.Errorf("tls.node_cert_file and tls.node_key_file (or tls.cert_file and tls.key_file): must be set with internode TLS")
	}
	return nil
}
