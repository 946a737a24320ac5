package security_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// clientCert is a client certificate for CN=name signed by ca, valid
// from notBefore to notAfter.
func (ca *nodeCA) clientCert(t *testing.T, name string, serial int64, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMTLSRefused: on an SSL listener with client_auth = "required", a
// client certificate that has expired, one from a CA the broker does not
// trust, and Kafka bytes in clear are each refused at the TLS handshake:
// the producer gets a TLS error and the topic it wrote to stays empty,
// the clear ApiVersions gets no Kafka answer. A valid certificate from
// the client CA is served.
func TestMTLSRefused(t *testing.T) {
	p := newPKI(t)
	clientCA := newNodeCA(t, "client CA")
	sslAddr, internal := freeAddr(t), freeAddr(t)
	testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.Listeners = []config.Listener{
			{Name: "SSL", Address: sslAddr, Protocol: "SSL"},
			{Name: "INTERNAL", Address: internal, Protocol: "PLAINTEXT"},
		}
		c.Listen = sslAddr
		c.TLS = config.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: clientCA.caFile, ClientAuth: "required"}
	}))
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, internal, topic, 1, nil)
	now := time.Now()
	rogue := newNodeCA(t, "rogue CA")
	// clientTLS presents cert whatever CAs the broker names, as a
	// client configured with it does.
	clientTLS := func(cert tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1",
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
	}
	produce := func(cert tls.Certificate) error {
		cl := franzClient(t, sslAddr, clientTLS(cert), nil,
			kgo.RequiredAcks(kgo.AllISRAcks()))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("must not land")}).FirstErr()
	}
	for _, c := range []struct {
		name string
		cert tls.Certificate
	}{
		{"expired", clientCA.clientCert(t, "late", 20, now.Add(-48*time.Hour), now.Add(-24*time.Hour))},
		{"untrusted CA", rogue.clientCert(t, "mallory", 21, now.Add(-time.Hour), now.Add(24*time.Hour))},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The handshake, then an ApiVersions: with TLS 1.3 the
			// broker's refusal arrives as an alert on the first read.
			d := &net.Dialer{Timeout: 5 * time.Second}
			tc, err := tls.DialWithDialer(d, "tcp", sslAddr, clientTLS(c.cert))
			if err == nil {
				defer tc.Close()
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err = tc.Write(apiVersionsFrame()); err == nil {
					var buf [4]byte
					_, err = io.ReadFull(tc, buf[:])
				}
			}
			if err == nil || !strings.Contains(err.Error(), "remote error: tls:") {
				t.Fatalf("certificate %s: %v, want the broker's TLS alert", c.name, err)
			}
			t.Logf("refused: %v", err)
			if err := produce(c.cert); err == nil {
				t.Fatalf("produce with a certificate %s succeeded", c.name)
			}
		})
	}
	t.Run("plaintext", func(t *testing.T) {
		if got := rawExchange(t, sslAddr, apiVersionsFrame()); len(got) > 0 && got[0] != 0x15 {
			t.Fatalf("SSL listener answered plaintext ApiVersions: % x", got[:min(len(got), 16)])
		}
	})
	// Nothing reached the log.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(franzClient(t, internal, nil, nil)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := ends.Lookup(topic, 0); !ok || o.Err != nil || o.Offset != 0 {
		t.Fatalf("end offset after refused clients: %+v", o)
	}
	// The client CA's valid certificate is served.
	if err := produce(clientCA.clientCert(t, "alice", 22, now.Add(-time.Hour), now.Add(24*time.Hour))); err != nil {
		t.Fatalf("produce with a valid client certificate: %v", err)
	}
}
