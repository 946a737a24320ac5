package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/strom-broker/strom/internal/config"
)

// testKey is a signing key with its kid.
type testKey struct {
	kid  string
	priv any
	alg  jwt.SigningMethod
}

func newECKey(t testing.TB, kid string) testKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, priv: k, alg: jwt.SigningMethodES256}
}

func newRSAKey(t testing.TB, kid string) testKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, priv: k, alg: jwt.SigningMethodRS256}
}

// jwksJSON is the public JWK set of keys.
func jwksJSON(t testing.TB, keys ...testKey) []byte {
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		var pub any
		switch p := k.priv.(type) {
		case *ecdsa.PrivateKey:
			pub = &p.PublicKey
		case *rsa.PrivateKey:
			pub = &p.PublicKey
		}
		j, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (k testKey) sign(t testing.TB, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(k.alg, claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goodClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": "alice", "iss": "https://idp.test", "aud": "kafka", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "produce"}
}

func oauthConfig(jwksFile string) config.OAuthBearer {
	o := config.Default().SASL.OAuthBearer
	o.JWKSFile = jwksFile
	o.Issuer = "https://idp.test"
	o.Audience = "other, kafka"
	return o
}

func writeJWKS(t testing.TB, dir string, keys ...testKey) string {
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, jwksJSON(t, keys...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestOAuthValidator: the checks of Kafka's broker validator, each
// refusal for its own reason.
func TestOAuthValidator(t *testing.T) {
	ec, rs, stranger := newECKey(t, "ec1"), newRSAKey(t, "rs1"), newECKey(t, "ec1")
	v, err := NewOAuthValidator(oauthConfig(writeJWKS(t, t.TempDir(), ec, rs)), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	with := func(f func(c jwt.MapClaims)) jwt.MapClaims {
		c := goodClaims(now)
		f(c)
		return c
	}
	noKid := ec
	noKid.kid = ""
	for _, c := range []struct {
		name  string
		token string
		want  string // "" accepted, else a piece of the reason
	}{
		{"ES256", ec.sign(t, goodClaims(now)), ""},
		{"RS256", rs.sign(t, goodClaims(now)), ""},
		{"no kid, one key fits", noKid.sign(t, goodClaims(now)), ""},
		{"audience list", ec.sign(t, with(func(c jwt.MapClaims) { c["aud"] = []string{"x", "kafka"} })), ""},
		{"expired within skew", ec.sign(t, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() })), ""},
		{"expired", ec.sign(t, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), "expired"},
		{"no exp", ec.sign(t, with(func(c jwt.MapClaims) { delete(c, "exp") })), "exp"},
		{"no iat", ec.sign(t, with(func(c jwt.MapClaims) { delete(c, "iat") })), "iat"},
		{"nbf ahead", ec.sign(t, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), "not valid yet"},
		{"nbf within skew", ec.sign(t, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Second).Unix() })), ""},
		{"iat ahead", ec.sign(t, with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), "before issued"},
		{"wrong issuer", ec.sign(t, with(func(c jwt.MapClaims) { c["iss"] = "https://evil" })), "issuer"},
		{"wrong audience", ec.sign(t, with(func(c jwt.MapClaims) { c["aud"] = "spark" })), "audience"},
		{"no audience", ec.sign(t, with(func(c jwt.MapClaims) { delete(c, "aud") })), "aud"},
		{"no sub", ec.sign(t, with(func(c jwt.MapClaims) { delete(c, "sub") })), "sub claim"},
		{"blank sub", ec.sign(t, with(func(c jwt.MapClaims) { c["sub"] = "  " })), "sub claim"},
		{"empty scope", ec.sign(t, with(func(c jwt.MapClaims) { c["scope"] = []string{"a", " "} })), "empty scope"},
		{"bad signature", stranger.sign(t, goodClaims(now)), "signature"},
		{"unknown kid", newECKey(t, "nope").sign(t, goodClaims(now)), "validate"},
		{"alg none", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims(now)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), "signing method"},
		{"HS256 with the public key", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims(now))
			tok.Header["kid"] = "ec1"
			s, _ := tok.SignedString([]byte("secret"))
			return s
		}(), "signing method"},
		{"ES256 header on an RSA key", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, goodClaims(now))
			tok.Header["kid"] = "rs1"
			s, _ := tok.SignedString(ec.priv)
			return s
		}(), "validate"},
		{"not a JWT", "abc.def", "sections"},
	} {
		got, err := v.Validate(context.Background(), c.token)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want == "" && got.Principal != "alice":
			t.Errorf("%s: principal %q", c.name, got.Principal)
		case c.want != "" && err == nil:
			t.Errorf("%s: accepted", c.name)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: reason %q, want it to say %q", c.name, err, c.want)
		}
	}

	// Without a configured audience a token naming one is refused
	// (jose4j's default, kept by Kafka); one without aud is accepted.
	cfg := oauthConfig(v.cfg.JWKSFile)
	cfg.Audience = ""
	anyAud, err := NewOAuthValidator(cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anyAud.Validate(context.Background(), ec.sign(t, goodClaims(now))); err == nil || !strings.Contains(err.Error(), "aud claim") {
		t.Fatalf("aud without a configured audience: %v", err)
	}
	if _, err := anyAud.Validate(context.Background(), ec.sign(t, with(func(c jwt.MapClaims) { delete(c, "aud") }))); err != nil {
		t.Fatalf("no aud, no configured audience: %v", err)
	}

	// The principal from another claim (sasl.oauthbearer.sub.claim.name).
	cfg = oauthConfig(v.cfg.JWKSFile)
	cfg.SubClaim = "client_id"
	v2, err := NewOAuthValidator(cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v2.Validate(context.Background(), ec.sign(t, with(func(c jwt.MapClaims) { c["client_id"] = "svc-orders" })))
	if err != nil || got.Principal != "svc-orders" || !got.Expiry.Equal(time.Unix(now.Add(time.Hour).Unix(), 0)) {
		t.Fatalf("client_id principal: %+v %v", got, err)
	}
}

// TestOAuthJWKSFileReload: a JWKS file replaced while running (a rotated
// key) is read at the next validation; one that no longer parses keeps
// the previous keys.
func TestOAuthJWKSFileReload(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	v, err := NewOAuthValidator(oauthConfig(writeJWKS(t, dir, k1)), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := v.Validate(context.Background(), k2.sign(t, goodClaims(now))); err == nil {
		t.Fatal("k2 accepted before rotation")
	}
	writeJWKS(t, dir, k1, k2)
	bump(t, filepath.Join(dir, "jwks.json"))
	if _, err := v.Validate(context.Background(), k2.sign(t, goodClaims(now))); err != nil {
		t.Fatalf("k2 after rotation: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "jwks.json"), []byte("{not json"), 0o600)
	bump(t, filepath.Join(dir, "jwks.json"))
	if _, err := v.Validate(context.Background(), k2.sign(t, goodClaims(now))); err != nil {
		t.Fatalf("k2 after a broken file: %v", err)
	}
	if _, err := NewOAuthValidator(oauthConfig(filepath.Join(dir, "missing.json")), quietLogger); err == nil {
		t.Fatal("missing JWKS file accepted at start")
	}
}

// bump moves a file's modification time forward, so a rewrite within the
// file system's time granularity is seen as a change.
func bump(t *testing.T, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	next := fi.ModTime().Add(2 * time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

// TestOAuthJWKSURL: keys from a JWKS URL, fetched again when a token
// names a key id the set does not have.
func TestOAuthJWKSURL(t *testing.T) {
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	var body atomic.Value
	body.Store(jwksJSON(t, k1))
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body.Load().([]byte))
	}))
	defer srv.Close()
	cfg := oauthConfig("")
	cfg.JWKSURL = srv.URL + "/jwks"
	v, err := NewOAuthValidator(cfg, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	now := time.Now()
	if _, err := v.Validate(context.Background(), k1.sign(t, goodClaims(now))); err != nil {
		t.Fatalf("k1: %v", err)
	}
	body.Store(jwksJSON(t, k1, k2))
	if _, err := v.Validate(context.Background(), k2.sign(t, goodClaims(now))); err != nil {
		t.Fatalf("k2 after the issuer added it: %v (fetches %d)", err, fetches.Load())
	}
}

// TestOAuthJWKSURLPrivateCA: an https JWKS URL whose certificate is
// issued by a private CA is verified against jwks_ca_file; without it
// (the system's CAs) no key is fetched and tokens are refused.
func TestOAuthJWKSURLPrivateCA(t *testing.T) {
	k1 := newECKey(t, "k1")
	set := jwksJSON(t, k1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(set) }))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	token := k1.sign(t, goodClaims(time.Now()))
	for _, c := range []struct {
		ca string
		ok bool
	}{{caFile, true}, {"", false}} {
		cfg := oauthConfig("")
		cfg.JWKSURL, cfg.JWKSCAFile = srv.URL+"/jwks", c.ca
		v, err := NewOAuthValidator(cfg, quietLogger)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Validate(context.Background(), token)
		v.Close()
		if (err == nil) != c.ok {
			t.Errorf("jwks_ca_file %q: %v", c.ca, err)
		}
	}
}

// TestOAuthBearerSession: the RFC 7628 exchange as Kafka's server runs
// it — success with an empty answer, a refused token answered with the
// error JSON and then, on the client's %x01, SASL_AUTHENTICATION_FAILED
// carrying that JSON; malformed messages get Kafka's generic failure.
func TestOAuthBearerSession(t *testing.T) {
	ec := newECKey(t, "ec1")
	v, err := NewOAuthValidator(oauthConfig(writeJWKS(t, t.TempDir(), ec)), quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := ec.sign(t, goodClaims(now))
	s := NewOAuthBearerSession(v, false)
	resp, done, err := s.Step([]byte("n,,\x01auth=Bearer " + good + "\x01traceId=abc 1\x01\x01"))
	if err != nil || !done || len(resp) != 0 || s.User() != "alice" {
		t.Fatalf("good token: %q %v %v %q", resp, done, err, s.User())
	}
	if exp := s.(ExpiringSession).Expiry(); !exp.Equal(time.Unix(now.Add(time.Hour).Unix(), 0)) {
		t.Fatalf("expiry %v", exp)
	}

	expired := goodClaims(now)
	expired["exp"] = now.Add(-time.Hour).Unix()
	s = NewOAuthBearerSession(v, false)
	resp, done, err = s.Step([]byte("n,,\x01auth=Bearer " + ec.sign(t, expired) + "\x01\x01"))
	if err != nil || done || string(resp) != `{"status":"invalid_token"}` {
		t.Fatalf("expired token: %q %v %v", resp, done, err)
	}
	_, done, err = s.Step([]byte{1})
	if f, ok := err.(*Failure); done || !ok || f.Message != `{"status":"invalid_token"}` || !strings.Contains(f.Reason, "expired") {
		t.Fatalf("after %%x01: %v %v", done, err)
	}

	s = NewOAuthBearerSession(v, false)
	_, _, err = s.Step([]byte("n,a=bob,\x01auth=Bearer " + good + "\x01\x01"))
	if f, ok := err.(*Failure); !ok || !strings.Contains(f.Message, "authorization id (bob)") {
		t.Fatalf("authzid bob: %v", err)
	}
	s = NewOAuthBearerSession(v, true)
	_, _, err = s.Step([]byte("n,,auth=Bearer x\x01\x01"))
	if f, ok := err.(*Failure); !ok || f.Message != "Authentication failed during re-authentication due to invalid credentials with SASL mechanism OAUTHBEARER" {
		t.Fatalf("malformed: %v", err)
	}
}

func TestParseOAuthBearerInitial(t *testing.T) {
	for _, c := range []struct {
		msg     string
		token   string
		authzid string
		ext     map[string]string
		err     string
	}{
		{msg: "n,,\x01auth=Bearer abc.def.ghi\x01\x01", token: "abc.def.ghi"},
		{msg: "n,a=user@x=2Cy,\x01auth=bearer a-b_c~d+e/f.g==\x01\x01", token: "a-b_c~d+e/f.g==", authzid: "user@x=2Cy"},
		{msg: "n,,\x01auth=Bearer t\x01traceId=1 2\x01logicalCluster=lkc\x01\x01", token: "t", ext: map[string]string{"traceId": "1 2", "logicalCluster": "lkc"}},
		{msg: "n,,\x01auth=Basic dXNlcg==\x01\x01", err: "Invalid scheme"},
		{msg: "n,,\x01auth=Bearer\x01\x01", err: "invalid 'auth' format"},
		{msg: "n,,\x01foo=bar\x01\x01", err: "'auth' not specified"},
		{msg: "n,,\x01\x01", err: "'auth' not specified"},
		{msg: "y,,\x01auth=Bearer t\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,,\x01auth=Bearer t\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,a=,\x01auth=Bearer t\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,,\x01auth=Bearer t\x01k1=v\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "", err: "Invalid OAUTHBEARER client first message"},
	} {
		got, err := ParseOAuthBearerInitial([]byte(c.msg))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want %q", c.msg, err, c.err)
			}
			continue
		}
		if err != nil || got.Token != c.token || got.AuthzID != c.authzid || len(got.Extensions) != len(c.ext) {
			t.Errorf("%q: %+v %v", c.msg, got, err)
		}
		for k, v := range c.ext {
			if got.Extensions[k] != v {
				t.Errorf("%q: extension %s = %q", c.msg, k, got.Extensions[k])
			}
		}
	}
}
