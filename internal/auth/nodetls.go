package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"

	"github.com/strom-broker/strom/internal/config"
)

// NodeTLS is the mutual TLS of the links between cluster nodes (the
// replication listener, the Raft transport and the controller's RPCs):
// each side presents its node certificate and checks that the other's
// chains to the node CA ([tls] ca_file). The files are re-read when they
// change, as the listeners' are. Host names are not checked: every
// certificate the node CA signed is a node, so that CA should sign
// nothing else.
type NodeTLS struct {
	files *certFiles
}

// NewNodeTLS loads the node certificate and CA of cfg ([tls]).
func NewNodeTLS(cfg config.TLS, logger *slog.Logger) (*NodeTLS, error) {
	cert, key := cfg.NodeCert()
	files := &certFiles{
		cfg:    config.TLS{CertFile: cert, KeyFile: key, ClientCAFile: cfg.CAFile, ClientAuth: "required"},
		logger: logger,
	}
	if _, err := files.current(); err != nil {
		return nil, fmt.Errorf("node TLS: %w", err)
	}
	return &NodeTLS{files: files}, nil
}

// Server is the config of a node-side listener: a client certificate is
// required and must chain to the node CA.
func (n *NodeTLS) Server() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return n.files.current()
		},
	}
}

// Client is the config a node dials another node with: it presents the
// node certificate and accepts a server certificate that chains to the
// node CA, whatever its names.
func (n *NodeTLS) Client() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is verified below against the node CA; only the
		// host name check of the default verification is skipped.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := n.files.current()
			if err != nil {
				return nil, err
			}
			return &c.Certificates[0], nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			c, err := n.files.current()
			if err != nil {
				return err
			}
			return verifyNode(cs.PeerCertificates, c.ClientCAs)
		},
	}
}

// verifyNode checks that a peer's chain leads to one of roots.
func verifyNode(chain []*x509.Certificate, roots *x509.CertPool) error {
	if len(chain) == 0 {
		return errors.New("tls: the peer node sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("peer node certificate %q: %w", chain[0].Subject.String(), err)
	}
	return nil
}
