package security_test

import (
	"context"
	"crypto/tls"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestMTLSRequired: with client_auth = "required" a client without a
// certificate is refused at the TLS handshake and one with a certificate
// from the client CA is served, on SSL and SASL_SSL listeners.
func TestMTLSRequired(t *testing.T) {
	p := newPKI(t)
	sslAddr, saslAddr := freeAddr(t), freeAddr(t)
	pwFile := p.dir + "/admin.password"
	os.WriteFile(pwFile, []byte(adminPassword), 0o600)
	testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.Listeners = []config.Listener{
			{Name: "SSL", Address: sslAddr, Protocol: "SSL"},
			{Name: "SASL_SSL", Address: saslAddr, Protocol: "SASL_SSL"},
		}
		c.Listen = sslAddr
		c.TLS = config.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile, ClientAuth: "required"}
		c.SASL.Users = []config.SASLUser{{Name: "admin", PasswordFile: pwFile}}
	}))
	ping := func(addr string, cfg *tls.Config, opts ...kgo.Opt) error {
		cl := franzClient(t, addr, cfg, nil, opts...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return cl.Ping(ctx)
	}
	noCert := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}
	withCert := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{p.clientCert}}
	if err := ping(sslAddr, noCert); err == nil {
		t.Fatal("SSL listener served a client without a certificate")
	}
	if err := ping(sslAddr, withCert); err != nil {
		t.Fatalf("SSL listener refused a client certificate: %v", err)
	}
	scramAdmin := kgo.SASL(scram.Auth{User: "admin", Pass: adminPassword}.AsSha512Mechanism())
	if err := ping(saslAddr, noCert, scramAdmin); err == nil {
		t.Fatal("SASL_SSL listener served a client without a certificate")
	}
	if err := ping(saslAddr, withCert, scramAdmin); err != nil {
		t.Fatalf("SASL_SSL listener with a client certificate: %v", err)
	}
}

// TestCertificateReload: a certificate file replaced while the broker
// runs is served to the next connection, without a restart.
func TestCertificateReload(t *testing.T) {
	sb := startSecureBroker(t, "none")
	next := newPKI(t) // a new CA: old clients no longer trust the broker
	for _, f := range [][2]string{{next.certFile, sb.pki.certFile}, {next.keyFile, sb.pki.keyFile}} {
		raw, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cl := franzClient(t, sb.client, &tls.Config{RootCAs: next.pool, ServerName: "127.0.0.1"},
		scram.Auth{User: "admin", Pass: adminPassword}.AsSha512Mechanism())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("client trusting the new CA: %v", err)
	}
}
