package security_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strom-broker/strom/internal/testkit"
)

// javaSASLProps writes the Java client's properties for mech over the
// SASL_SSL listener (the CA as a PEM trust store, KIP-651); OAUTHBEARER
// takes its signed token from a file through Kafka's own
// OAuthBearerLoginCallbackHandler (sasl.oauthbearer.token.endpoint.url
// file:, Kafka 4.1).
func javaSASLProps(t *testing.T, sb *secureBroker, mech, secret string) string {
	t.Helper()
	dir := t.TempDir()
	lines := []string{
		"bootstrap.servers=" + sb.client,
		"security.protocol=SASL_SSL",
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + sb.pki.caFile,
		"ssl.endpoint.identification.algorithm=https",
		"sasl.mechanism=" + mech,
		"request.timeout.ms=20000",
	}
	switch mech {
	case "SCRAM-SHA-512", "SCRAM-SHA-256":
		lines = append(lines, fmt.Sprintf(`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="%s";`, secret))
	case "PLAIN":
		lines = append(lines, fmt.Sprintf(`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="%s";`, secret))
	case "OAUTHBEARER":
		tokenFile := filepath.Join(dir, "token.jwt")
		if err := os.WriteFile(tokenFile, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		lines = append(lines,
			"sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;",
			"sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
			"sasl.oauthbearer.token.endpoint.url=file://"+tokenFile)
	}
	path := filepath.Join(dir, "client.properties")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runSaslCheck runs io.strom.test.SaslCheck with args and returns its
// output; it fails the test when the check does not print want.
func runSaslCheck(t *testing.T, want string, args ...string) string {
	t.Helper()
	jar := testkit.MavenJar(t, "test/java", "javacheck.buildDir", "strom-javacheck.jar")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", append([]string{"-cp", jar, "io.strom.test.SaslCheck"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil || !strings.Contains(out.String(), want) {
		t.Fatalf("SaslCheck %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// TestJavaSASLSSL: the Apache Kafka Java client over SASL_SSL with
// OAUTHBEARER (a signed JWT from a token file; SCRAM-SHA-512 and PLAIN in
// the full run) creates a topic, produces, consumes in a group and
// commits; with a token of the wrong issuer it gets
// SaslAuthenticationException carrying {"status":"invalid_token"}.
func TestJavaSASLSSL(t *testing.T) {
	testkit.NeedTool(t, "java")
	p := newIDP(t)
	sb := startSecureBroker(t, "none", withOAuth(p))
	cases := map[string]string{"OAUTHBEARER": p.token(t, "admin", time.Hour)}
	if full() {
		cases["SCRAM-SHA-512"] = adminPassword
		cases["PLAIN"] = adminPassword
	}
	for mech, secret := range cases {
		t.Run(mech, func(t *testing.T) {
			runSaslCheck(t, "saslcheck: ok", javaSASLProps(t, sb, mech, secret), testkit.TopicName(t, ""), testkit.TopicName(t, "group"), "20")
		})
	}
	t.Run("refused", func(t *testing.T) {
		if !full() {
			t.Skip("STROM_SECURITY=full (make security-test)")
		}
		wrongIssuer := p.token(t, "admin", time.Hour, func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })
		out := runSaslCheck(t, "saslcheck: authentication failed", javaSASLProps(t, sb, "OAUTHBEARER", wrongIssuer), "--expect-auth-failure")
		if !strings.Contains(out, `{"status":"invalid_token"}`) {
			t.Fatalf("refusal without Kafka's error JSON:\n%s", out)
		}
		out = runSaslCheck(t, "saslcheck: authentication failed", javaSASLProps(t, sb, "SCRAM-SHA-512", "wrong"), "--expect-auth-failure")
		if !strings.Contains(out, "invalid credentials with SASL mechanism SCRAM-SHA-512") {
			t.Fatalf("wrong password:\n%s", out)
		}
	})
}
