package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/strom-broker/strom/internal/config"
)

// OAUTHBEARER (RFC 7628) as Kafka's broker serves it (KIP-255, KIP-768:
// OAuthBearerSaslServer with OAuthBearerValidatorCallbackHandler): the
// client's one message carries a JWT, verified against the issuer's JWKS;
// the principal is a configured claim and the session ends no later than
// the token's exp.

// MechOAuthBearer is the OAUTHBEARER mechanism name.
const MechOAuthBearer = "OAUTHBEARER"

// OAuthBearerInitial is a parsed client initial response:
// "n,[a=authzid],\x01auth=Bearer <token>\x01[key=value\x01]...\x01".
type OAuthBearerInitial struct {
	AuthzID    string
	Token      string
	Extensions map[string]string // without auth
}

// The grammar of Kafka's OAuthBearerClientInitialResponse (RFC 7628
// section 3.1 with RFC 5801's gs2 header).
var (
	oauthInitialRE = regexp.MustCompile("^n,(?:a=((?:[\x01-\x2b\x2d-\x3c\x3e-\x7f]|=2C|=3D)+))?,\x01((?:[A-Za-z]+=[\x21-\x7e \t\r\n]+\x01)*)\x01$")
	oauthAuthRE    = regexp.MustCompile(`^(\w+) +([-_~+/.a-zA-Z0-9]+=*)$`)
	oauthExtKeyRE  = regexp.MustCompile(`^[A-Za-z]+$`)
)

// ParseOAuthBearerInitial parses the client's initial response with the
// rules of Kafka's OAuthBearerClientInitialResponse; its errors are
// Kafka's messages.
func ParseOAuthBearerInitial(msg []byte) (OAuthBearerInitial, error) {
	m := oauthInitialRE.FindSubmatch(msg)
	if m == nil {
		return OAuthBearerInitial{}, errors.New("Invalid OAUTHBEARER client first message")
	}
	out := OAuthBearerInitial{AuthzID: string(m[1]), Extensions: map[string]string{}}
	auth, haveAuth := "", false
	for _, kv := range strings.Split(string(m[2]), "\x01") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "auth" {
			auth, haveAuth = v, true
			continue
		}
		if !oauthExtKeyRE.MatchString(k) {
			return OAuthBearerInitial{}, fmt.Errorf("Extension name %s is invalid", k)
		}
		out.Extensions[k] = v
	}
	if !haveAuth {
		return OAuthBearerInitial{}, errors.New("Invalid OAUTHBEARER client first message: 'auth' not specified")
	}
	am := oauthAuthRE.FindStringSubmatch(auth)
	if am == nil {
		return OAuthBearerInitial{}, errors.New("Invalid OAUTHBEARER client first message: invalid 'auth' format")
	}
	if !strings.EqualFold(am[1], "bearer") {
		return OAuthBearerInitial{}, fmt.Errorf("Invalid scheme in OAUTHBEARER client first message: %s", am[1])
	}
	out.Token = am[2]
	return out, nil
}

// OAuthToken is a validated token.
type OAuthToken struct {
	Principal string // the sub claim's value (sasl.oauthbearer.sub.claim.name)
	Expiry    time.Time
	Scopes    []string
}

// OAuthValidator verifies OAUTHBEARER JWTs against a JWKS file (re-read
// when it changes) or URL (fetched again every jwks_refresh and when a
// token names an unknown key id), with the issuer, audience, exp, nbf and
// iat checks of Kafka's broker validator. Safe for concurrent use; Close
// stops the URL's refresh.
type OAuthValidator struct {
	cfg       config.OAuthBearer
	audiences []string
	logger    *slog.Logger
	now       func() time.Time
	cancel    context.CancelFunc

	url keyfunc.Keyfunc // jwks_url; nil with a file

	mu struct {
		sync.Mutex
		stamp fileStamp       // of the JWKS file last loaded
		keys  keyfunc.Keyfunc // from the file
	}
}

// jwsAlgorithms are the signature algorithms accepted: every asymmetric
// one (a JWKS publishes public keys; "none" and HMAC are refused). The
// key named by the token must be of the algorithm's type, and of the
// key's "alg" when the JWK sets one.
var jwsAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// NewOAuthValidator loads the keys of cfg (a JWKS file must load; a URL
// is fetched in the background, and tokens fail until it answers).
func NewOAuthValidator(cfg config.OAuthBearer, logger *slog.Logger) (*OAuthValidator, error) {
	v := &OAuthValidator{cfg: cfg, logger: logger, now: time.Now}
	for _, a := range strings.Split(cfg.Audience, ",") {
		if a = strings.TrimSpace(a); a != "" {
			v.audiences = append(v.audiences, a)
		}
	}
	switch {
	case cfg.JWKSFile != "":
		if _, err := v.fileKeys(); err != nil {
			return nil, err
		}
	case cfg.JWKSURL != "":
		client := &http.Client{Timeout: 10 * time.Second}
		if cfg.JWKSCAFile != "" {
			pem, err := os.ReadFile(cfg.JWKSCAFile)
			if err != nil {
				return nil, fmt.Errorf("sasl.oauthbearer.jwks_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("sasl.oauthbearer.jwks_ca_file %s: no PEM certificate", cfg.JWKSCAFile)
			}
			client.Transport = &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}}
		}
		ctx, cancel := context.WithCancel(context.Background())
		noErr := true
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			Client:                    client,
			HTTPTimeout:               10 * time.Second,
			NoErrorReturnFirstHTTPReq: &noErr,
			RefreshInterval:           cfg.JWKSRefresh,
			// An unknown kid (the issuer rotated its keys) fetches the
			// set again, at most once a minute, never holding a client
			// waiting for the limiter.
			RefreshUnknownKID: rate.NewLimiter(rate.Every(time.Minute), 1),
			RateLimitWaitMax:  time.Second,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) {
					logger.Error("fetching the OAUTHBEARER JWKS failed", "url", u, "err", err)
				}
			},
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("sasl.oauthbearer.jwks_url %s: %w", cfg.JWKSURL, err)
		}
		v.url, v.cancel = k, cancel
	case cfg.Unsecured:
		logger.Warn("OAUTHBEARER accepts unsecured (unsigned) tokens: for development only; set sasl.oauthbearer.jwks_file or jwks_url in production")
	default:
		return nil, errors.New("sasl.oauthbearer: no jwks_file or jwks_url")
	}
	return v, nil
}

// Close stops refreshing the JWKS URL.
func (v *OAuthValidator) Close() {
	if v.cancel != nil {
		v.cancel()
	}
}

// fileKeys returns the keys of the JWKS file, re-read when its
// modification time or size changed; a file that no longer loads keeps
// the previous keys and logs why.
func (v *OAuthValidator) fileKeys() (keyfunc.Keyfunc, error) {
	var st fileStamp
	if fi, err := os.Stat(v.cfg.JWKSFile); err == nil {
		st = fileStamp{fi.ModTime(), fi.Size()}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.mu.keys != nil && st == v.mu.stamp {
		return v.mu.keys, nil
	}
	k, err := loadJWKSFile(v.cfg.JWKSFile)
	if err != nil {
		if v.mu.keys == nil {
			return nil, err
		}
		v.logger.Error("reloading the OAUTHBEARER JWKS file failed; keeping the previous keys", "err", err)
		v.mu.stamp = st
		return v.mu.keys, nil
	}
	if v.mu.keys != nil {
		v.logger.Info("OAUTHBEARER JWKS file changed; reloaded", "jwks_file", v.cfg.JWKSFile)
	}
	v.mu.keys, v.mu.stamp = k, st
	return k, nil
}

func loadJWKSFile(path string) (keyfunc.Keyfunc, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks_file: %w", err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks_file %s: not a JWK set: %w", path, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks_file %s: no keys", path)
	}
	k, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks_file %s: %w", path, err)
	}
	return k, nil
}

// Validate verifies a serialized JWT: its signature with the key it names
// (by kid, or any key of the set that fits when it names none), exp
// (required), nbf and iat (required) with the clock skew, the issuer and
// audience when configured, the scope claim's form and the principal
// claim. The error is the reason, for the log only.
func (v *OAuthValidator) Validate(ctx context.Context, token string) (OAuthToken, error) {
	if strings.Count(token, ".") != 2 {
		return OAuthToken{}, fmt.Errorf("malformed JWT: %d sections, want 3", strings.Count(token, ".")+1)
	}
	if v.cfg.Unsecured {
		return v.validateUnsecured(token)
	}
	var kf keyfunc.Keyfunc
	if v.url != nil {
		kf = v.url
	} else {
		var err error
		if kf, err = v.fileKeys(); err != nil {
			return OAuthToken{}, err
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(jwsAlgorithms),
		jwt.WithLeeway(v.cfg.ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.now),
	}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	if len(v.audiences) > 0 {
		opts = append(opts, jwt.WithAudience(v.audiences...))
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, kf.KeyfuncCtx(ctx)); err != nil {
		return OAuthToken{}, fmt.Errorf("could not validate the access token: %w", err)
	}
	if _, ok := claims["aud"]; ok && len(v.audiences) == 0 {
		// jose4j's default audience check, which Kafka keeps: an aud the
		// broker was told nothing about is refused.
		return OAuthToken{}, errors.New("the access token has an aud claim but no sasl.oauthbearer.audience is configured")
	}
	if _, ok := claims["iat"]; !ok {
		return OAuthToken{}, errors.New("the access token has no iat claim")
	}
	return v.principalAndScopes(claims)
}

// validateUnsecured is Kafka's OAuthBearerUnsecuredValidatorCallbackHandler:
// an unsigned token (alg "none", empty signature) with exp required, iat
// (when present) and exp checked with the clock skew, and the principal
// claim. No issuer or audience check.
func (v *OAuthValidator) validateUnsecured(token string) (OAuthToken, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodNone.Alg()}),
		jwt.WithLeeway(v.cfg.ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.now),
	).ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return jwt.UnsafeAllowNoneSignatureType, nil })
	if err != nil {
		return OAuthToken{}, fmt.Errorf("could not validate the unsecured token: %w", err)
	}
	return v.principalAndScopes(claims)
}

// principalAndScopes reads a validated token's expiry, principal claim and
// scope claim.
func (v *OAuthValidator) principalAndScopes(claims jwt.MapClaims) (OAuthToken, error) {
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return OAuthToken{}, errors.New("the access token has no valid exp claim")
	}
	out := OAuthToken{Expiry: exp.Time}
	switch sub := claims[v.cfg.SubClaim].(type) {
	case string:
		out.Principal = strings.TrimSpace(sub)
	case nil:
	default:
		return OAuthToken{}, fmt.Errorf("the %s claim is not a string", v.cfg.SubClaim)
	}
	if out.Principal == "" {
		return OAuthToken{}, fmt.Errorf("the access token has no %s claim (the principal)", v.cfg.SubClaim)
	}
	// Kafka's scope claim: a string (one scope) or a list of strings,
	// none empty.
	switch sc := claims[v.cfg.ScopeClaim].(type) {
	case nil:
	case string:
		out.Scopes = []string{sc}
	case []any:
		for _, s := range sc {
			str, ok := s.(string)
			if !ok {
				return OAuthToken{}, fmt.Errorf("the %s claim holds a %T", v.cfg.ScopeClaim, s)
			}
			out.Scopes = append(out.Scopes, str)
		}
	default:
		return OAuthToken{}, fmt.Errorf("the %s claim is a %T", v.cfg.ScopeClaim, sc)
	}
	for _, s := range out.Scopes {
		if strings.TrimSpace(s) == "" {
			return OAuthToken{}, fmt.Errorf("the %s claim holds an empty scope", v.cfg.ScopeClaim)
		}
	}
	return out, nil
}

// oauthInvalidToken is the server's error challenge (RFC 7628 section
// 3.2.2) for every token refused; Kafka's validator always answers
// invalid_token.
const oauthInvalidToken = `{"status":"invalid_token"}`

// oauthSession is one OAUTHBEARER exchange. A refused token is answered
// with the error challenge; the client's "\x01" reply then ends the
// exchange with SASL_AUTHENTICATION_FAILED carrying that JSON, as Kafka's
// OAuthBearerSaslServer does.
type oauthSession struct {
	v        *OAuthValidator
	reauth   bool
	errorMsg string // the challenge sent, awaiting "\x01"
	reason   string
	token    OAuthToken
}

// NewOAuthBearerSession starts an OAUTHBEARER exchange validated by v.
func NewOAuthBearerSession(v *OAuthValidator, reauth bool) Session {
	return &oauthSession{v: v, reauth: reauth}
}

func (s *oauthSession) Step(msg []byte) ([]byte, bool, error) {
	if len(msg) == 1 && msg[0] == 0x01 && s.errorMsg != "" {
		return nil, false, &Failure{Message: s.errorMsg, Reason: s.reason}
	}
	s.errorMsg = ""
	in, err := ParseOAuthBearerInitial(msg)
	if err != nil {
		return nil, false, invalidCredentials(MechOAuthBearer, s.reauth, err.Error())
	}
	tok, err := s.v.Validate(context.Background(), in.Token)
	if err != nil {
		s.errorMsg, s.reason = oauthInvalidToken, err.Error()
		return []byte(oauthInvalidToken), false, nil
	}
	if in.AuthzID != "" && in.AuthzID != tok.Principal {
		msg := fmt.Sprintf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", in.AuthzID, tok.Principal)
		return nil, false, &Failure{Message: msg, Reason: "authzid " + in.AuthzID + " for principal " + tok.Principal}
	}
	s.token = tok
	return []byte{}, true, nil
}

func (s *oauthSession) User() string { return s.token.Principal }

// Expiry is when the token expires: the session ends then (Kafka's
// credential lifetime), whatever connections_max_reauth says.
func (s *oauthSession) Expiry() time.Time { return s.token.Expiry }

// ExpiringSession is a Session whose credential expires (OAUTHBEARER):
// the connection's session lifetime is bounded by Expiry.
type ExpiringSession interface {
	Session
	Expiry() time.Time
}
