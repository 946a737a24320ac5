package cli

import (
	"context"
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
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and returns
// its PEM file and the certificate with its key.
func selfSigned(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strom test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestProfileTLSHandshake: a profile with tls and a CA file makes the
// client complete a verified TLS handshake with a listener using a
// certificate of that CA.
func TestProfileTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	ca, cert := selfSigned(t, dir)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	handshake := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			handshake <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		handshake <- c.(*tls.Conn).Handshake()
	}()
	body := "bootstrap = \"" + ln.Addr().String() + "\"\n[tls]\nenabled = true\nca_file = \"" + ca + "\"\n"
	f := &clientFlags{profile: writeFile(t, dir, "p.toml", body), lookupEnv: func(string) (string, bool) { return "", false }}
	cl, err := f.newClient(kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = cl.Ping(ctx) // the listener speaks no Kafka
	if err := <-handshake; err != nil {
		t.Fatalf("TLS handshake from the profile's client: %v", err)
	}
}

func TestProfileResolution(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".config", "strom"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, ".config", "strom"), "config.toml", `bootstrap = "home:1"`)
	other := writeFile(t, dir, "other.toml", `bootstrap = "other:2,other:3"`)
	for _, tc := range []struct {
		name string
		flag string
		env  map[string]string
		want string
	}{
		{"default file", "", map[string]string{"HOME": home}, "home:1"},
		{"no file", "", map[string]string{"HOME": dir}, defaultBootstrap},
		{"STROM_PROFILE", "", map[string]string{"HOME": home, envProfile: other}, "other:2,other:3"},
		{"STROM_BOOTSTRAP over the file", "", map[string]string{"HOME": home, envBootstrap: "env:4"}, "env:4"},
		{"flag over env", "flag:5", map[string]string{"HOME": home, envBootstrap: "env:4"}, "flag:5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &clientFlags{bootstrap: tc.flag, lookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
			if got := f.seedList(); got != tc.want {
				t.Fatalf("bootstrap %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProfileSecurity(t *testing.T) {
	dir := t.TempDir()
	ca, _ := selfSigned(t, dir)
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		name, body, wantErr string
		wantOpts            int
	}{
		{"plaintext", `bootstrap = "a:1"`, "", 3},
		{"tls with CA", "[tls]\nenabled = true\nca_file = \"" + ca + "\"\n", "", 4},
		{"tls and scram", "[tls]\nenabled = true\n[sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"u\"\npassword = \"p\"\n", "", 5},
		{"plain", "[sasl]\nmechanism = \"plain\"\nusername = \"u\"\npassword = \"p\"\n", "", 4},
		{"scram-256", "[sasl]\nmechanism = \"SCRAM-SHA-256\"\n", "", 4},
		{"bad mechanism", "[sasl]\nmechanism = \"GSSAPI\"\n", "sasl.mechanism", 0},
		{"CA not PEM", "[tls]\nca_file = \"" + writeFile(t, dir, "bad.pem", "x") + "\"\n", "no PEM certificate", 0},
		{"cert without key", "[tls]\ncert_file = \"" + ca + "\"\n", "go together", 0},
		{"unknown key", "bootstrap = \"a:1\"\n[tls]\nenable = true\n", "tls.enable", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &clientFlags{profile: writeFile(t, dir, "p.toml", tc.body), lookupEnv: noEnv}
			opts, err := f.opts()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(opts) != tc.wantOpts {
				t.Fatalf("%d options, err %v; want %d options", len(opts), err, tc.wantOpts)
			}
		})
	}
}
