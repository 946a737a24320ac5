package security_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestKcatSASLSSL: kcat (librdkafka's CLI) produces and consumes over
// SASL_SSL with SCRAM-SHA-512 and PLAIN. Full run only.
func TestKcatSASLSSL(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	kcat := testkit.NeedTool(t, "kcat", "kafkacat")
	sb := startSecureBroker(t, "none")
	for _, mech := range []string{"SCRAM-SHA-512", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, sb.internal, topic, 1, nil)
			args := []string{"-b", sb.client, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=" + mech,
				"-X", "sasl.username=admin", "-X", "sasl.password=" + adminPassword, "-X", "ssl.ca.location=" + sb.pki.caFile, "-t", topic}
			prod := exec.Command(kcat, append(args, "-P")...)
			prod.Stdin = strings.NewReader("one\ntwo\n")
			if out, err := prod.CombinedOutput(); err != nil {
				t.Fatalf("kcat -P: %v\n%s", err, out)
			}
			out, err := exec.Command(kcat, append(args, "-C", "-o", "beginning", "-c", "2", "-e")...).Output()
			if err != nil || string(out) != "one\ntwo\n" {
				t.Fatalf("kcat -C: %v %q", err, out)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		out, err := exec.Command(kcat, "-b", sb.client, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-512",
			"-X", "sasl.username=admin", "-X", "sasl.password=wrong", "-X", "ssl.ca.location="+sb.pki.caFile, "-L", "-m", "5").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Authentication failed") {
			t.Fatalf("kcat with a wrong password: %v\n%s", err, out)
		}
	})
}
