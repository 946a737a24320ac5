// Package security_test runs real clients against a broker with named
// listeners, TLS and SASL: franz-go (sasl/plain, sasl/scram, sasl/oauth),
// confluent-kafka-go (librdkafka), sarama and the Java client over
// SASL_SSL with PLAIN, SCRAM and OAUTHBEARER (JWTs signed by a test
// issuer), mTLS with principal mapping rules, the negative cases (wrong
// password, refused tokens, unknown mechanism, requests before
// authentication) and the KIP-554 credential APIs. The default run keeps a quick subset;
// STROM_SECURITY=full (make security-test) runs the whole matrix.
package security_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// full reports whether the whole matrix runs (make security-test).
func full() bool { return os.Getenv("STROM_SECURITY") == "full" }

const adminPassword = "admin-secret"

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, all as files.
type pki struct {
	dir               string
	caFile            string
	certFile, keyFile string
	clientCert        tls.Certificate
	clientCertFile    string
	clientKeyFile     string
	pool              *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strom test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{dir: dir, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name, Organization: []string{"strom"}},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p.certFile, p.keyFile = issue("broker", 2, x509.ExtKeyUsageServerAuth)
	p.clientCertFile, p.clientKeyFile = issue("alice", 3, x509.ExtKeyUsageClientAuth)
	p.clientCert, err = tls.LoadX509KeyPair(p.clientCertFile, p.clientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// secureBroker is a standalone broker with a SASL_SSL listener CLIENT, a
// PLAINTEXT listener INTERNAL, a SASL_PLAINTEXT listener SASLPLAIN, each
// advertising its own address, and the bootstrap user admin.
type secureBroker struct {
	*testkit.Broker
	pki                         *pki
	client, internal, saslPlain string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func startSecureBroker(t *testing.T, clientAuth string, opts ...func(*config.Config)) *secureBroker {
	t.Helper()
	p := newPKI(t)
	sb := &secureBroker{pki: p, client: freeAddr(t), internal: freeAddr(t), saslPlain: freeAddr(t)}
	pwFile := filepath.Join(p.dir, "admin.password")
	if err := os.WriteFile(pwFile, []byte(adminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sb.Broker = testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.Listeners = []config.Listener{
			{Name: "CLIENT", Address: sb.client, Protocol: "SASL_SSL", SASLMechanisms: []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}},
			{Name: "INTERNAL", Address: sb.internal, Protocol: "PLAINTEXT"},
			{Name: "SASLPLAIN", Address: sb.saslPlain, Protocol: "SASL_PLAINTEXT", SASLMechanisms: []string{"PLAIN"}},
		}
		c.Listen = sb.client
		c.TLS = config.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile, ClientAuth: clientAuth}
		c.SASL.Users = []config.SASLUser{
			{Name: "admin", PasswordFile: pwFile, Mechanisms: []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}},
			{Name: "bea", PasswordFile: pwFile, Mechanisms: []string{"PLAIN"}},
		}
		for _, o := range opts {
			o(c)
		}
	}))
	return sb
}

func (sb *secureBroker) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: sb.pki.pool, ServerName: "127.0.0.1"}
}
