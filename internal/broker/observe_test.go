package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strom-broker/strom/internal/config"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newCA(t *testing.T, name string) testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{c, key, der}
}

// issue returns a server certificate for host signed by ca.
func (ca testCA) issue(t *testing.T, host string, serial int64) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{host}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEMs(t *testing.T, path string, ders ...[]byte) string {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// handshake dials a TLS server presenting cert through a real loopback
// connection with the client config cfg and name serverName.
func handshake(t *testing.T, cfg *tls.Config, serverName string, cert tls.Certificate) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		_ = s.Handshake()
		s.Close()
	}()
	c := cfg.Clone()
	c.ServerName = serverName
	conn, err := tls.Dial("tcp", ln.Addr().String(), c)
	if err == nil {
		conn.Close()
	}
	return err
}

// TestSelfTLS: the console's client trusts its own node's certificate
// under any name, another node's when it chains to a configured CA for
// the name dialed, and nothing else.
func TestSelfTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := newCA(t, "cluster CA"), newCA(t, "someone else")
	own := ca.issue(t, "node1.example", 2)
	peer := ca.issue(t, "node2.example", 3)
	stranger := other.issue(t, "node2.example", 4)
	certFile := writePEMs(t, filepath.Join(dir, "node1.pem"), own.Certificate[0])
	caFile := writePEMs(t, filepath.Join(dir, "ca.pem"), ca.der)

	bare := selfTLS(config.TLS{CertFile: certFile})
	if err := handshake(t, bare, "127.0.0.1", own); err != nil {
		t.Fatalf("own certificate under another name: %v", err)
	}
	if err := handshake(t, bare, "node2.example", peer); err == nil {
		t.Fatal("a peer's certificate was trusted with no CA configured")
	}
	withCA := selfTLS(config.TLS{CertFile: certFile, ClientCAFile: caFile})
	if err := handshake(t, withCA, "node2.example", peer); err != nil {
		t.Fatalf("a peer's certificate from the client CA: %v", err)
	}
	if err := handshake(t, withCA, "node3.example", peer); err == nil {
		t.Fatal("a peer's certificate was trusted for a name it does not carry")
	}
	if err := handshake(t, withCA, "node2.example", stranger); err == nil {
		t.Fatal("a certificate of another CA was trusted")
	}
	chained := selfTLS(config.TLS{CertFile: writePEMs(t, filepath.Join(dir, "chain.pem"), own.Certificate[0], ca.der)})
	if err := handshake(t, chained, "node2.example", peer); err != nil {
		t.Fatalf("a peer's certificate from the CA in the cert file's chain: %v", err)
	}
}
