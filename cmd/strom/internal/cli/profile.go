package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Client settings come from, highest precedence first: -b/--bootstrap (or
// --bootstrap-server), STROM_BOOTSTRAP, the profile file (--profile,
// STROM_PROFILE, or ~/.config/strom/config.toml when it exists) and the
// default 127.0.0.1:9092. TLS and SASL come from the profile file only, so
// that secrets stay out of the process list.
const (
	envBootstrap     = "STROM_BOOTSTRAP"
	envProfile       = "STROM_PROFILE"
	defaultBootstrap = "127.0.0.1:9092"
)

// Profile is the client profile file, as rpk's profiles: where the cluster
// is and how to authenticate to it.
type Profile struct {
	// Bootstrap is a comma-separated host:port list.
	Bootstrap string       `toml:"bootstrap"`
	TLS       *ProfileTLS  `toml:"tls"`
	SASL      *ProfileSASL `toml:"sasl"`
}

// ProfileTLS turns on TLS to the brokers. Empty files mean the system roots
// and no client certificate.
type ProfileTLS struct {
	Enabled            bool   `toml:"enabled"`
	CAFile             string `toml:"ca_file"`
	CertFile           string `toml:"cert_file"`
	KeyFile            string `toml:"key_file"`
	ServerName         string `toml:"server_name"`
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
}

// ProfileSASL authenticates with SASL/PLAIN or SASL/SCRAM-SHA-256/512.
type ProfileSASL struct {
	Mechanism string `toml:"mechanism"`
	Username  string `toml:"username"`
	Password  string `toml:"password"`
}

// clientFlags are the connection flags every client command has.
type clientFlags struct {
	bootstrap string
	profile   string
	lookupEnv func(string) (string, bool)
}

// addClientFlags registers -b/--bootstrap and --profile on cmd and its
// subcommands.
func addClientFlags(cmd *cobra.Command, d Deps) *clientFlags {
	f := &clientFlags{lookupEnv: d.LookupEnv}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&f.bootstrap, "bootstrap", "b", "", "comma-separated host:port list of brokers (alias --bootstrap-server; default $"+envBootstrap+", the profile's bootstrap, or "+defaultBootstrap+")")
	pf.StringVar(&f.profile, "profile", "", "client profile file (default $"+envProfile+", else ~/.config/strom/config.toml if it exists)")
	return f
}

// normalizeFlag maps Kafka's flag spellings onto ours.
func normalizeFlag(name string) string {
	switch name {
	case "bootstrap-server", "bootstrap-servers", "brokers":
		return "bootstrap"
	}
	return name
}

// profilePath returns the profile file to read and whether it must exist.
func (f *clientFlags) profilePath() (string, bool) {
	if f.profile != "" {
		return f.profile, true
	}
	if p, ok := f.lookupEnv(envProfile); ok && p != "" {
		return p, true
	}
	home, ok := f.lookupEnv("XDG_CONFIG_HOME")
	if ok && home != "" {
		return filepath.Join(home, "strom", "config.toml"), false
	}
	if h, ok := f.lookupEnv("HOME"); ok && h != "" {
		return filepath.Join(h, ".config", "strom", "config.toml"), false
	}
	return "", false
}

// loadProfile reads the profile file; a missing default file is an empty
// profile.
func (f *clientFlags) loadProfile() (Profile, string, error) {
	var p Profile
	path, must := f.profilePath()
	if path == "" {
		return p, "", nil
	}
	md, err := toml.DecodeFile(path, &p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !must {
			return p, "", nil
		}
		return p, path, fmt.Errorf("read profile %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return p, path, fmt.Errorf("profile %s: unknown key %q", path, und[0].String())
	}
	return p, path, nil
}

// seeds resolves the bootstrap list.
func (f *clientFlags) seeds(p Profile) []string {
	if f.bootstrap != "" {
		return splitList(f.bootstrap)
	}
	if v, ok := f.lookupEnv(envBootstrap); ok && strings.TrimSpace(v) != "" {
		return splitList(v)
	}
	if p.Bootstrap != "" {
		return splitList(p.Bootstrap)
	}
	return []string{defaultBootstrap}
}

// opts returns the franz-go options that reach the cluster: seeds, client
// id, TLS and SASL. The resolved seeds are kept for error messages.
func (f *clientFlags) opts() ([]kgo.Opt, error) {
	p, path, err := f.loadProfile()
	if err != nil {
		return nil, err
	}
	seeds := f.seeds(p)
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("strom-cli"), kgo.DialTimeout(5 * time.Second)}
	if p.TLS != nil && (p.TLS.Enabled || p.TLS.CAFile != "" || p.TLS.CertFile != "") {
		cfg, err := p.TLS.config()
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", path, err)
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if p.SASL != nil && p.SASL.Mechanism != "" {
		m, err := p.SASL.mechanism()
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", path, err)
		}
		opts = append(opts, m)
	}
	return opts, nil
}

// seedList is the resolved bootstrap list for messages.
func (f *clientFlags) seedList() string {
	p, _, _ := f.loadProfile()
	return strings.Join(f.seeds(p), ",")
}

func (t *ProfileTLS) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("tls.cert_file and tls.key_file go together")
	}
	if t.CertFile != "" {
		c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

func (s *ProfileSASL) mechanism() (kgo.Opt, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return kgo.SASL(plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()), nil
	case "SCRAM-SHA-256":
		return kgo.SASL(scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()), nil
	case "SCRAM-SHA-512":
		return kgo.SASL(scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()), nil
	}
	return nil, fmt.Errorf("sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}

// newClient connects a franz-go client with the connection settings and
// extra options.
func (f *clientFlags) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := f.opts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("client options: %w", err)
	}
	return cl, nil
}

// reachable fails fast, with a hint, when no seed broker answers; without
// it franz-go retries the dial for the life of the request.
func (f *clientFlags) reachable(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		if isDialError(err) || errors.Is(err, context.DeadlineExceeded) {
			return unreachable(f.seedList(), err)
		}
		return fmt.Errorf("connect to %s: %w", f.seedList(), err)
	}
	return nil
}
