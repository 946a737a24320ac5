package security_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestClusterOAuthBearer: three nodes, each its own process, each
// validating OAUTHBEARER tokens against the same JWKS file on its
// SASL_SSL listener; a franz-go client with one signed token creates a
// topic with three replicas, produces and consumes in a group (the
// coordinator and the partition leaders on different nodes, each
// connection authenticated with the token) and commits. Full run only.
func TestClusterOAuthBearer(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	p := newPKI(t)
	issuer := newIDP(t)
	client := map[int32]string{}
	for id := int32(1); id <= 3; id++ {
		client[id] = freeAddr(t)
	}
	testkit.StartCluster(t, 3,
		testkit.WithNodeTOML(fmt.Sprintf("group_initial_rebalance_delay = \"0s\"\n\n[tls]\ncert_file = %q\nkey_file = %q\n\n[sasl.oauthbearer]\njwks_file = %q\nissuer = %q\naudience = %q\n",
			p.certFile, p.keyFile, issuer.jwksFile, tokenIssuer, tokenAudience)),
		testkit.WithPerNodeTOML(func(id int32, kafka string) string {
			return fmt.Sprintf("[[listeners]]\nname = \"INTERNAL\"\naddress = %q\nprotocol = \"PLAINTEXT\"\n\n[[listeners]]\nname = \"CLIENT\"\naddress = %q\nprotocol = \"SASL_SSL\"\nsasl_mechanisms = [\"OAUTHBEARER\"]\n", kafka, client[id])
		}))
	mech := oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		return oauth.Auth{Token: issuer.token(t, "svc-orders", time.Hour)}, nil
	})
	tlsCfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}
	newClient := func(opts ...kgo.Opt) *kgo.Client {
		return franzClient(t, client[2], tlsCfg, mech, opts...)
	}
	groupRoundTrip(t, newClient(), newClient)
}
