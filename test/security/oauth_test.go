package security_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

const (
	tokenIssuer   = "https://idp.strom.test"
	tokenAudience = "strom"
)

// idp is a token issuer: an ES256 key published in a JWKS file.
type idp struct {
	key      *ecdsa.PrivateKey
	kid      string
	jwksFile string
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "strom-test-1", ALG: jwkset.AlgES256}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{j.Marshal()}})
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key, kid: "strom-test-1", jwksFile: filepath.Join(t.TempDir(), "jwks.json")}
	if err := os.WriteFile(p.jwksFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// token is a signed JWT for sub valid for life; edit changes its claims.
func (p *idp) token(t testing.TB, sub string, life time.Duration, edit ...func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"sub": sub, "iss": tokenIssuer, "aud": tokenAudience, "iat": now.Unix(), "exp": now.Add(life).Unix(), "scope": "kafka"}
	for _, e := range edit {
		e(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = p.kid
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// withOAuth enables OAUTHBEARER on the CLIENT (SASL_SSL) and SASLPLAIN
// (SASL_PLAINTEXT) listeners, tokens checked against p's keys.
func withOAuth(p *idp) func(*config.Config) {
	return func(c *config.Config) {
		for i := range c.Listeners {
			if c.Listeners[i].Protocol == "SASL_SSL" || c.Listeners[i].Protocol == "SASL_PLAINTEXT" {
				c.Listeners[i].SASLMechanisms = append(c.Listeners[i].SASLMechanisms, "OAUTHBEARER")
			}
		}
		c.SASL.OAuthBearer.JWKSFile = p.jwksFile
		c.SASL.OAuthBearer.Issuer = tokenIssuer
		c.SASL.OAuthBearer.Audience = tokenAudience
		c.GroupInitialRebalanceDelay = 0
	}
}

// groupRoundTrip produces records to a new topic through cl, consumes
// them in a group with a client from newClient, commits, and reads the
// committed offset back.
func groupRoundTrip(t *testing.T, cl *kgo.Client, newClient func(...kgo.Opt) *kgo.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic, group := testkit.TopicName(t, ""), testkit.TopicName(t, "group")
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	const n = 5
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v" + itoa(int32(i)))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cons := newClient(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := 0
	for seen < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("group fetch: %v", err)
		}
		seen += len(fs.Records())
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.At != n {
		t.Fatalf("committed %+v, want %d", o, n)
	}
}

// TestOAuthBearer: franz-go's OAUTHBEARER over SASL_SSL with a signed JWT
// produces, consumes in a group and commits; the principal is the token's
// sub (an authorizer with User:alice as super user lets alice create
// topics and refuses mallory).
func TestOAuthBearer(t *testing.T) {
	p := newIDP(t)
	sb := startSecureBroker(t, "none", withOAuth(p), func(c *config.Config) {
		withAuthorizer(c)
		c.Authorization.SuperUsers = append(c.Authorization.SuperUsers, "User:alice")
	})
	alice := oauth.Auth{Token: p.token(t, "alice", time.Hour)}.AsMechanism()
	cl := franzClient(t, sb.client, sb.clientTLS(), alice)
	groupRoundTrip(t, cl, func(opts ...kgo.Opt) *kgo.Client { return franzClient(t, sb.client, sb.clientTLS(), alice, opts...) })

	mallory := franzClient(t, sb.client, sb.clientTLS(), oauth.Auth{Token: p.token(t, "mallory", time.Hour)}.AsMechanism())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(mallory).CreateTopic(ctx, 1, 1, nil, testkit.TopicName(t, "mallory"))
	if err == nil {
		err = resp.Err
	}
	if err != kerr.TopicAuthorizationFailed {
		t.Fatalf("mallory creates a topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// oauthAuthenticate runs SaslHandshake v1 and SaslAuthenticate v2 with
// OAUTHBEARER and token on c and returns the answer.
func oauthAuthenticate(c *rawConn, token string, corr int32, handshake bool) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	if handshake {
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "OAUTHBEARER"
		c.send(hs, corr)
		hr := kmsg.NewPtrSASLHandshakeResponse()
		c.response(hr, 1)
		if hr.ErrorCode != 0 {
			c.t.Fatalf("handshake: error %d", hr.ErrorCode)
		}
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 2, []byte("n,,\x01auth=Bearer "+token+"\x01\x01")
	c.send(au, corr+1)
	ar := kmsg.NewPtrSASLAuthenticateResponse()
	c.response(ar, 2)
	return ar
}

// TestOAuthBearerRefused: an expired token, a wrong issuer, a wrong
// audience and a bad signature are each answered as Kafka does — the
// RFC 7628 error challenge {"status":"invalid_token"}, then, on the
// client's %x01, SASL_AUTHENTICATION_FAILED with that JSON — and the
// connection is closed without serving the produce request queued behind.
func TestOAuthBearerRefused(t *testing.T) {
	p := newIDP(t)
	sb := startSecureBroker(t, "none", withOAuth(p))
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, sb.internal, topic, 1, nil)
	other := newIDP(t)
	for name, token := range map[string]string{
		"expired":         p.token(t, "alice", -time.Hour),
		"wrong issuer":    p.token(t, "alice", time.Hour, func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }),
		"wrong audience":  p.token(t, "alice", time.Hour, func(c jwt.MapClaims) { c["aud"] = "spark" }),
		"bad signature":   other.token(t, "alice", time.Hour),
		"not yet valid":   p.token(t, "alice", time.Hour, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }),
		"no sub":          p.token(t, "", time.Hour),
		"unsigned (none)": unsignedToken(t),
	} {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, sb.saslPlain)
			ar := oauthAuthenticate(c, token, 1, true)
			if ar.ErrorCode != 0 || string(ar.SASLAuthBytes) != `{"status":"invalid_token"}` {
				t.Fatalf("answer to the token: error %d bytes %q", ar.ErrorCode, ar.SASLAuthBytes)
			}
			au := kmsg.NewPtrSASLAuthenticateRequest()
			au.Version, au.SASLAuthBytes = 2, []byte{1}
			c.send(au, 3)
			pr := kmsg.NewPtrProduceRequest()
			pr.Version = 7
			c.send(pr, 4) // queued behind: must never be served
			ar = kmsg.NewPtrSASLAuthenticateResponse()
			c.response(ar, 2)
			if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil || *ar.ErrorMessage != `{"status":"invalid_token"}` {
				t.Fatalf("after %%x01: error %d message %v", ar.ErrorCode, ar.ErrorMessage)
			}
			c.expectClosed()
		})
	}
	t.Run("malformed message", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "OAUTHBEARER"
		c.send(hs, 1)
		c.response(kmsg.NewPtrSASLHandshakeResponse(), 1)
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 2, []byte("n,,auth=Bearer x")
		c.send(au, 2)
		ar := kmsg.NewPtrSASLAuthenticateResponse()
		c.response(ar, 2)
		if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil || *ar.ErrorMessage != "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER" {
			t.Fatalf("malformed: error %d message %v", ar.ErrorCode, ar.ErrorMessage)
		}
		c.expectClosed()
	})
	t.Run("franz-go with an expired token", func(t *testing.T) {
		// franz-go reads the error challenge as a failure of its own
		// and does not send %x01; the JSON reaches it all the same.
		cl := franzClient(t, sb.client, sb.clientTLS(), oauth.Auth{Token: p.token(t, "alice", -time.Hour)}.AsMechanism())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := cl.Ping(ctx)
		if err == nil || !strings.Contains(err.Error(), `{"status":"invalid_token"}`) {
			t.Fatalf("franz-go with an expired token: %v", err)
		}
	})
	// No data touched: the topic is still empty.
	adm := kadm.NewClient(franzClient(t, sb.internal, nil, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := ends.Lookup(topic, 0); !ok || o.Offset != 0 {
		t.Fatalf("end offset after refused clients: %+v", o)
	}
}

func unsignedToken(t *testing.T) string {
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "iss": tokenIssuer, "aud": tokenAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOAuthBearerSessionLifetime (KIP-368 with KIP-255): the session
// lasts until the token expires, without connections_max_reauth; the
// client re-authenticates on the same connection with a new token for
// the same principal (another principal is refused), and a session left
// to expire is closed at its next request.
func TestOAuthBearerSessionLifetime(t *testing.T) {
	p := newIDP(t)
	sb := startSecureBroker(t, "none", withOAuth(p), func(c *config.Config) { c.SASL.OAuthBearer.ClockSkew = 0 })
	t.Run("re-authenticate", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		ar := oauthAuthenticate(c, p.token(t, "alice", 10*time.Minute), 1, true)
		if ar.ErrorCode != 0 || ar.SessionLifetimeMillis <= 8*60*1000 || ar.SessionLifetimeMillis > 10*60*1000 {
			t.Fatalf("authenticate: error %d lifetime %d", ar.ErrorCode, ar.SessionLifetimeMillis)
		}
		ar = oauthAuthenticate(c, p.token(t, "alice", time.Hour), 3, true)
		if ar.ErrorCode != 0 || ar.SessionLifetimeMillis <= 50*60*1000 || ar.SessionLifetimeMillis > 60*60*1000 {
			t.Fatalf("re-authenticate: error %d lifetime %d", ar.ErrorCode, ar.SessionLifetimeMillis)
		}
		if err := metadataOK(c, 5); err != nil {
			t.Fatalf("metadata after re-authentication: %v", err)
		}
		ar = oauthAuthenticate(c, p.token(t, "bob", time.Hour), 6, true)
		if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil || *ar.ErrorMessage != "Cannot change principals during re-authentication from User:alice: User:bob" {
			t.Fatalf("re-authenticate as bob: %d %v", ar.ErrorCode, ar.ErrorMessage)
		}
		c.expectClosed()
	})
	t.Run("expired session", func(t *testing.T) {
		c := dialRaw(t, sb.saslPlain)
		ar := oauthAuthenticate(c, p.token(t, "alice", 2*time.Second), 1, true)
		if ar.ErrorCode != 0 || ar.SessionLifetimeMillis <= 0 || ar.SessionLifetimeMillis > 2000 {
			t.Fatalf("authenticate: error %d lifetime %d", ar.ErrorCode, ar.SessionLifetimeMillis)
		}
		deadline := time.Now().Add(15 * time.Second)
		for corr := int32(3); ; corr++ {
			if err := metadataOK(c, corr); err != nil {
				break // closed once the token expired
			}
			if time.Now().After(deadline) {
				t.Fatal("connection still served after its token expired")
			}
			time.Sleep(100 * time.Millisecond) // pacing the polls, not waiting for a condition
		}
	})
	t.Run("franz-go re-authenticates", func(t *testing.T) {
		if !full() {
			t.Skip("STROM_SECURITY=full (make security-test)")
		}
		mech := oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			return oauth.Auth{Token: p.token(t, "alice", 3*time.Second)}, nil
		})
		cl := franzClient(t, sb.client, sb.clientTLS(), mech)
		topic := testkit.TopicName(t, "")
		testkit.CreateTopic(t, sb.internal, topic, 1, nil)
		for end := time.Now().Add(7 * time.Second); time.Now().Before(end); {
			if err := produce(cl, topic, "x"); err != nil {
				t.Fatalf("produce across token lifetimes: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // pacing, not waiting for a condition
		}
	})
}

// TestMTLSPrincipalMapping: on an SSL listener with client_auth required,
// tls.principal_mapping_rules turns the client certificate's subject
// (CN=alice,O=strom) into User:alice — the super user here, so it may
// create topics — and a certificate no rule maps is refused.
func TestMTLSPrincipalMapping(t *testing.T) {
	for _, c := range []struct {
		name, rules string
		ok          bool
	}{
		{"mapped", "RULE:^CN=(.*?),O=strom$/$1/L,DEFAULT", true},
		{"no rule applies", "RULE:^CN=(.*?),O=other$/$1/", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPKI(t)
			sslAddr := freeAddr(t)
			testkit.StartBroker(t, testkit.WithConfig(func(cfg *config.Config) {
				cfg.Listeners = []config.Listener{{Name: "SSL", Address: sslAddr, Protocol: "SSL"}}
				cfg.Listen = sslAddr
				cfg.TLS = config.TLS{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.caFile, ClientAuth: "required", PrincipalMappingRules: c.rules}
				cfg.Authorization = config.Authorization{Enabled: true, SuperUsers: []string{"User:alice"}}
			}))
			cl := franzClient(t, sslAddr, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{p.clientCert}}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, testkit.TopicName(t, ""))
			if err == nil {
				err = resp.Err
			}
			if c.ok && err != nil {
				t.Fatalf("User:alice creates a topic: %v", err)
			}
			if !c.ok && err == nil {
				t.Fatal("a certificate no rule maps was served")
			}
		})
	}
}

// TestOAuthBearerUnsecured: with sasl.oauthbearer.unsecured, Kafka's
// default validator for development, an unsigned token (alg "none") is
// accepted with its sub as the principal, and an expired one is refused
// with SASL_AUTHENTICATION_FAILED and the invalid_token challenge — what
// franz-go's own TestOAuthAuth checks against Kafka. A signed token is
// not an unsecured one and is refused too.
func TestOAuthBearerUnsecured(t *testing.T) {
	p := newIDP(t)
	sb := startSecureBroker(t, "none", func(c *config.Config) {
		for i := range c.Listeners {
			if c.Listeners[i].Protocol == "SASL_SSL" || c.Listeners[i].Protocol == "SASL_PLAINTEXT" {
				c.Listeners[i].SASLMechanisms = append(c.Listeners[i].SASLMechanisms, "OAUTHBEARER")
			}
		}
		c.SASL.OAuthBearer.Unsecured = true
	})
	unsecured := func(exp time.Time) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(fmt.Sprintf(`{"sub":"admin","exp":%d}`, exp.Unix()))) + "."
	}
	ping := func(token string) error {
		cl := franzClient(t, sb.client, sb.clientTLS(), oauth.Auth{Token: token}.AsMechanism(), kgo.RetryTimeout(time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return cl.Ping(ctx)
	}
	if err := ping(unsecured(time.Now().Add(time.Hour))); err != nil {
		t.Fatalf("unsecured token: %v", err)
	}
	err := ping(unsecured(time.Now().Add(-time.Minute)))
	if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "invalid_token") {
		t.Fatalf("expired unsecured token: %v, want SASL_AUTHENTICATION_FAILED with invalid_token", err)
	}
	if err := ping(p.token(t, "alice", time.Hour)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("signed token to the unsecured validator: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}
