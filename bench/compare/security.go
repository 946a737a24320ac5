package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The security modes --security measures, each a listener of its own on
// the same broker: PLAINTEXT, SSL (TLS, no client certificate) and
// SASL_SSL with SCRAM-SHA-512 over the same TLS.
const (
	modePlaintext = "plaintext"
	modeSSL       = "ssl"
	modeSASLSSL   = "sasl_ssl"
)

const (
	benchUser     = "bench"
	benchPassword = "bench-secret"
	keystorePass  = "bench-keystore"
)

// listenerName is the listener of mode (Kafka's and Strom's names agree).
func listenerName(mode string) string { return strings.ToUpper(mode) }

// suffix is what mode adds to a result's label: none for plaintext, so the
// plaintext labels stay "kafka" and "strom".
func suffix(mode string) string {
	if mode == modePlaintext {
		return ""
	}
	return "/" + mode
}

func parseModes(s string) ([]string, error) {
	var modes []string
	for _, m := range strings.Split(s, ",") {
		m = strings.ToLower(strings.TrimSpace(m))
		switch m {
		case modePlaintext, modeSSL, modeSASLSSL:
			modes = append(modes, m)
		default:
			return nil, fmt.Errorf("--security %q: want plaintext, ssl or sasl_ssl (comma separated)", m)
		}
	}
	return modes, nil
}

// tlsFiles are one certificate and key both brokers serve, in the forms
// each reads: PEM for Strom, a PKCS#12 keystore for Kafka; the CA for the
// client.
type tlsFiles struct {
	caFile, certFile, keyFile, p12File, passwordFile string
}

// newTLSFiles issues a CA and a server certificate for 127.0.0.1 (ECDSA
// P-256) into dir.
func newTLSFiles(dir string) (*tlsFiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strom bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	f := &tlsFiles{
		caFile:       filepath.Join(dir, "ca.pem"),
		certFile:     filepath.Join(dir, "broker.pem"),
		keyFile:      filepath.Join(dir, "broker-key.pem"),
		p12File:      filepath.Join(dir, "broker.p12"),
		passwordFile: filepath.Join(dir, "bench.password"),
	}
	for _, w := range []struct {
		path string
		data []byte
	}{
		{f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{f.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
		{f.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})},
		{f.passwordFile, []byte(benchPassword + "\n")},
	} {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return nil, err
		}
	}
	out, err := exec.Command("openssl", "pkcs12", "-export", "-in", f.certFile, "-inkey", f.keyFile,
		"-certfile", f.caFile, "-name", "broker", "-out", f.p12File, "-passout", "pass:"+keystorePass).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("openssl pkcs12 (Kafka's keystore): %v: %s", err, out)
	}
	return f, nil
}

// clientArgs are bench/rdkafka's --config flags for mode.
func (f *tlsFiles) clientArgs(mode string) []string {
	switch mode {
	case modeSSL:
		return []string{"--config", "security.protocol=SSL", "--config", "ssl.ca.location=" + f.caFile}
	case modeSASLSSL:
		return []string{"--config", "security.protocol=SASL_SSL", "--config", "ssl.ca.location=" + f.caFile,
			"--config", "sasl.mechanism=SCRAM-SHA-512",
			"--config", "sasl.username=" + benchUser, "--config", "sasl.password=" + benchPassword}
	}
	return nil
}

// kafkaSecurity is the reference broker's server.properties for the
// modes' listeners and the format arguments that create the SCRAM user.
func (f *tlsFiles) kafkaSecurity(modes []string) (listeners map[string]string, conf map[string]string, format []string) {
	listeners, conf = map[string]string{}, map[string]string{}
	for _, m := range modes {
		switch m {
		case modeSSL:
			listeners["SSL"] = "SSL"
		case modeSASLSSL:
			listeners["SASL_SSL"] = "SASL_SSL"
			conf["sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
			conf["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
			format = append(format, "--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", benchUser, benchPassword))
		}
	}
	if len(listeners) > 0 {
		conf["ssl.keystore.type"] = "PKCS12"
		conf["ssl.keystore.location"] = f.p12File
		conf["ssl.keystore.password"] = keystorePass
		conf["ssl.key.password"] = keystorePass
	}
	return listeners, conf, format
}

// stromConfig is a strom.toml with a listener for each mode on the ports
// given (plaintext's first), the certificate and the SCRAM user.
func (f *tlsFiles) stromConfig(modes []string, addrs map[string]string) string {
	var sb strings.Builder
	for _, m := range modes {
		fmt.Fprintf(&sb, "[[listeners]]\nname = %q\naddress = %q\nprotocol = %q\n", listenerName(m), addrs[m], listenerName(m))
		if m == modeSASLSSL {
			sb.WriteString("sasl_mechanisms = [\"SCRAM-SHA-512\"]\n")
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "[tls]\ncert_file = %q\nkey_file = %q\n\n", f.certFile, f.keyFile)
	for _, m := range modes {
		if m == modeSASLSSL {
			fmt.Fprintf(&sb, "[[sasl.users]]\nname = %q\npassword_file = %q\nmechanisms = [\"SCRAM-SHA-512\"]\n", benchUser, f.passwordFile)
		}
	}
	return sb.String()
}
