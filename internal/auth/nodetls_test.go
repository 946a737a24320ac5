package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
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
	file string
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, file: writeTestPEM(t, dir, name+".pem", "CERTIFICATE", der)}
}

// node writes a node certificate for CN=name and returns a [tls] using
// it with trusted as the node CA.
func (ca *testCA) node(t *testing.T, dir, name string, trusted *testCA) config.TLS {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return config.TLS{
		NodeCertFile: writeTestPEM(t, dir, name+".pem", "CERTIFICATE", der),
		NodeKeyFile:  writeTestPEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kder),
		CAFile:       trusted.file,
	}
}

func writeTestPEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// handshake runs one mutual-TLS exchange over loopback TCP between a
// server with srv and a client with cli; it returns each side's error
// (after one byte each way, so TLS 1.3's late client-certificate check
// reaches the client) and the principal the server sees.
func handshake(t *testing.T, srv, cli config.TLS) (serverErr, clientErr error, principal string) {
	t.Helper()
	return handshakeWith(t, newNodeTLS(t, srv), newNodeTLS(t, cli))
}

func newNodeTLS(t *testing.T, cfg config.TLS) *NodeTLS {
	t.Helper()
	n, err := NewNodeTLS(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func handshakeWith(t *testing.T, s, c *NodeTLS) (serverErr, clientErr error, principal string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		err       error
		principal string
	}
	done := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer nc.Close()
		tc := tls.Server(nc, s.Server())
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		var b [1]byte
		if _, err := tc.Read(b[:]); err != nil {
			done <- result{err: err}
			return
		}
		_, err = tc.Write(b[:])
		done <- result{err: err, principal: CertPrincipal(tc.ConnectionState())}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tc := tls.Client(nc, c.Client())
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	clientErr = tc.Handshake()
	if clientErr == nil {
		if _, clientErr = tc.Write([]byte{1}); clientErr == nil {
			var b [1]byte
			_, clientErr = tc.Read(b[:])
		}
	}
	tc.Close()
	r := <-done
	return r.err, clientErr, r.principal
}

// TestNodeTLS: two nodes with certificates from the node CA trust each
// other, and the server sees the client node's principal; a node whose
// certificate another CA signed is refused, as client and as server.
func TestNodeTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "nodes")
	rogue := newTestCA(t, dir, "rogue")
	n1 := ca.node(t, dir, "node1", ca)
	n2 := ca.node(t, dir, "node2", ca)
	bad := rogue.node(t, dir, "node3", ca)

	se, ce, principal := handshake(t, n1, n2)
	if se != nil || ce != nil {
		t.Fatalf("trusted nodes: server %v, client %v", se, ce)
	}
	if principal != "User:CN=node2" {
		t.Fatalf("principal %q, want User:CN=node2", principal)
	}
	if se, ce, _ := handshake(t, n1, bad); se == nil || ce == nil {
		t.Fatalf("untrusted client accepted: server %v, client %v", se, ce)
	}
	if se, ce, _ := handshake(t, bad, n1); se == nil || ce == nil {
		t.Fatalf("untrusted server accepted: server %v, client %v", se, ce)
	}
}

// TestNodeTLSReload: a node certificate replaced in place is presented
// at the next handshake, without a restart — here one from another CA,
// which the peer then refuses.
func TestNodeTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "nodes")
	rogue := newTestCA(t, dir, "rogue")
	n1 := newNodeTLS(t, ca.node(t, dir, "node1", ca))
	cfg2 := ca.node(t, dir, "node2", ca)
	n2 := newNodeTLS(t, cfg2)
	if se, ce, _ := handshakeWith(t, n1, n2); se != nil || ce != nil {
		t.Fatalf("before the swap: server %v, client %v", se, ce)
	}
	bad := rogue.node(t, t.TempDir(), "node2", ca)
	for _, f := range [][2]string{{bad.NodeCertFile, cfg2.NodeCertFile}, {bad.NodeKeyFile, cfg2.NodeKeyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
		// Another modification time whatever the file system's clock
		// resolution: the reload is keyed on it and the size.
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(f[1], later, later); err != nil {
			t.Fatal(err)
		}
	}
	if se, ce, _ := handshakeWith(t, n1, n2); se == nil || ce == nil {
		t.Fatalf("after the swap to another CA's certificate: server %v, client %v", se, ce)
	}
}
