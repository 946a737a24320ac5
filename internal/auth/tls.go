package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/strom-broker/strom/internal/config"
)

// certFiles serves the listeners' TLS config and reloads it when the
// certificate, key or client CA file changes (checked on each handshake
// by modification time and size, a stat per file). A reload that fails
// keeps the previous config and logs why.
type certFiles struct {
	cfg    config.TLS
	logger *slog.Logger

	mu struct {
		sync.Mutex
		stamp  [3]fileStamp
		config *tls.Config
	}
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewTLSConfig returns the server TLS config of cfg: its GetConfigForClient
// re-reads the files when they change, so a renewed certificate is served
// without a restart.
func NewTLSConfig(cfg config.TLS, logger *slog.Logger) (*tls.Config, error) {
	cf := &certFiles{cfg: cfg, logger: logger}
	if _, err := cf.current(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return cf.current()
		},
	}, nil
}

func (cf *certFiles) stamps() [3]fileStamp {
	var out [3]fileStamp
	for i, p := range []string{cf.cfg.CertFile, cf.cfg.KeyFile, cf.cfg.ClientCAFile} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			out[i] = fileStamp{fi.ModTime(), fi.Size()}
		}
	}
	return out
}

func (cf *certFiles) current() (*tls.Config, error) {
	st := cf.stamps()
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if cf.mu.config != nil && st == cf.mu.stamp {
		return cf.mu.config, nil
	}
	c, err := loadTLS(cf.cfg)
	if err != nil {
		if cf.mu.config == nil {
			return nil, err
		}
		cf.logger.Error("reloading TLS files failed; serving the previous certificate", "err", err)
		cf.mu.stamp = st // retried when the files change again
		return cf.mu.config, nil
	}
	if cf.mu.config != nil {
		cf.logger.Info("TLS files changed; reloaded", "cert_file", cf.cfg.CertFile)
	}
	cf.mu.config, cf.mu.stamp = c, st
	return c, nil
}

func loadTLS(cfg config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file %s / tls.key_file %s: %w", cfg.CertFile, cfg.KeyFile, err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca_file %s: no PEM certificate", cfg.ClientCAFile)
		}
		c.ClientCAs = pool
	}
	switch cfg.ClientAuth {
	case "requested":
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// CertPrincipal is the principal of a verified client certificate: its
// subject's distinguished name, as Kafka's default principal builder
// names it ("User:CN=alice,O=example").
func CertPrincipal(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return Anonymous
	}
	return "User:" + cs.PeerCertificates[0].Subject.String()
}

// CertPrincipal is the principal of a connection's client certificate on
// an SSL listener: its subject's distinguished name mapped by
// tls.principal_mapping_rules (Kafka's ssl.principal.mapping.rules);
// User:ANONYMOUS without a certificate. A name no rule maps is an error:
// the connection is refused, as Kafka's NoMatchingRule.
func (l Listener) CertPrincipal(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return Anonymous, nil
	}
	dn := cs.PeerCertificates[0].Subject.String()
	if l.PrincipalMapper == nil {
		return UserPrincipal(dn), nil
	}
	name, ok := l.PrincipalMapper.Name(dn)
	if !ok {
		return "", fmt.Errorf("no tls.principal_mapping_rules rule applies to %s, rules %s", dn, l.PrincipalMapper)
	}
	return UserPrincipal(name), nil
}

// NewSession starts mechanism mech on this listener: OAUTHBEARER with the
// listener's token validator, the others with creds.
func (l Listener) NewSession(mech string, creds CredentialSource, reauth bool) (Session, error) {
	if mech == MechOAuthBearer {
		if l.OAuth == nil {
			return nil, fmt.Errorf("%w %q: no [sasl.oauthbearer] keys", errUnsupportedMechanism, mech)
		}
		return NewOAuthBearerSession(l.OAuth, reauth), nil
	}
	return NewSession(mech, creds, reauth)
}

// Listener is one Kafka listener ready to bind.
type Listener struct {
	Name       string
	Address    string
	Advertise  string // empty: the bound address
	Protocol   Protocol
	Mechanisms []string    // enabled SASL mechanisms, SASL protocols only
	TLS        *tls.Config // SSL and SASL_SSL only
	// MaxConnections bounds the listener's connections and
	// MaxConnectionCreationRate its new connections per second; 0 is
	// unlimited.
	MaxConnections            int
	MaxConnectionCreationRate int
	// PrincipalMapper maps client certificate names (SSL only; nil:
	// the name unchanged).
	PrincipalMapper *PrincipalMapper
	// OAuth validates OAUTHBEARER tokens when Mechanisms names it;
	// shared by the listeners, closed by CloseListeners.
	OAuth *OAuthValidator
}

// CloseListeners stops what the listeners' specs run in the background
// (the OAUTHBEARER JWKS refresh).
func CloseListeners(specs []Listener) {
	for _, l := range specs {
		if l.OAuth != nil {
			l.OAuth.Close()
		}
	}
}

// Listeners builds the Kafka listeners of cfg (validated), loading the
// TLS files once when a listener needs them.
func Listeners(cfg config.Config, logger *slog.Logger) ([]Listener, error) {
	var tlsCfg *tls.Config
	var out []Listener
	mapper, err := ParsePrincipalMappingRules(cfg.TLS.PrincipalMappingRules)
	if err != nil {
		return nil, fmt.Errorf("tls.principal_mapping_rules: %w", err)
	}
	var oauth *OAuthValidator
	for _, l := range cfg.KafkaListeners() {
		p, err := ParseProtocol(l.Protocol)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		ln := Listener{Name: l.Name, Address: l.Address, Advertise: l.Advertise, Protocol: p, MaxConnections: int(l.MaxConnections), MaxConnectionCreationRate: int(l.MaxConnectionCreationRate)}
		if p.SASL() {
			ln.Mechanisms = l.SASLMechanisms
			if len(ln.Mechanisms) == 0 {
				ln.Mechanisms = Mechanisms()
			}
			if slices.Contains(ln.Mechanisms, MechOAuthBearer) {
				if oauth == nil {
					if oauth, err = NewOAuthValidator(cfg.SASL.OAuthBearer, logger); err != nil {
						return nil, err
					}
				}
				ln.OAuth = oauth
			}
		}
		if p == SSL {
			ln.PrincipalMapper = mapper
		}
		if p.TLS() {
			if tlsCfg == nil {
				if tlsCfg, err = NewTLSConfig(cfg.TLS, logger); err != nil {
					return nil, err
				}
			}
			ln.TLS = tlsCfg
		}
		out = append(out, ln)
	}
	return out, nil
}
