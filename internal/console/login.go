package console

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Login makes the console require a login: a user signs in with the
// broker's own SASL credentials, checked by authenticating to one of the
// node's SASL listeners, and every page is then served through a Kafka
// client authenticated as that user.
type Login struct {
	// Listener returns the address of the SASL listener the console
	// authenticates on, the mechanisms it enables, and whether it is
	// SASL_SSL.
	Listener func() (addr string, mechanisms []string, useTLS bool)
	// TLS is the client TLS config for a SASL_SSL listener.
	TLS *tls.Config
	// SessionTTL is how long a login lasts; default 8 hours.
	SessionTTL time.Duration
}

// sessionCookie names the console's session cookie.
const sessionCookie = "strom_session"

// maxSessions bounds the sessions held at once (each holds a Kafka
// client); the oldest is ended to make room.
const maxSessions = 256

// session is one logged-in user: a Kafka client authenticated as them.
type session struct {
	user    string
	mech    sasl.Mechanism
	expires time.Time
	cl      *kgo.Client
	adm     *kadm.Client
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

type sessionKey struct{}

// sessionOf is the request's session (nil without login).
func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

// mechanismOrder is the preference among a listener's mechanisms: SCRAM
// first, so the password does not cross the wire.
var mechanismOrder = []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}

func mechanism(name, user, pass string) sasl.Mechanism {
	switch name {
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	}
	return nil
}

// errBadLogin is the one answer to any failed login: no hint which of the
// user or the password was wrong.
var errBadLogin = errors.New("invalid user name or password")

// authenticate signs user in on the login listener with each mechanism it
// enables, in preference order (a user may hold credentials for only
// some), and returns a client authenticated as them.
func (c *Console) authenticate(ctx context.Context, user, pass string) (*session, error) {
	addr, enabled, _ := c.cfg.Login.Listener()
	if addr == "" {
		return nil, errors.New("this node has no SASL listener to sign in on")
	}
	var lastErr error = errBadLogin
	for _, name := range mechanismOrder {
		if !contains(enabled, name) {
			continue
		}
		m := mechanism(name, user, pass)
		cl, err := c.newSessionClient(m)
		if err != nil {
			return nil, err
		}
		// Any request authenticates the connection first.
		_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err == nil {
			return &session{user: user, mech: m, cl: cl, adm: kadm.NewClient(cl)}, nil
		}
		cl.Close()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) && !errors.Is(err, kerr.UnsupportedSaslMechanism) &&
			!errors.Is(err, kerr.IllegalSaslState) {
			c.cfg.Logger.Warn("console login: the broker could not be reached", "addr", addr, "err", err)
			lastErr = fmt.Errorf("signing in on %s: %w", addr, err)
			break
		}
	}
	return nil, lastErr
}

// newSessionClient is a client of the login listener authenticating with m.
func (c *Console) newSessionClient(m sasl.Mechanism, extra ...kgo.Opt) (*kgo.Client, error) {
	addr, _, useTLS := c.cfg.Login.Listener()
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("strom-console"), kgo.SASL(m),
		kgo.RequestTimeoutOverhead(5 * time.Second), kgo.RetryTimeout(5 * time.Second)}
	if useTLS {
		if c.cfg.Login.TLS == nil {
			return nil, errors.New("the login listener is SASL_SSL but the console has no TLS config")
		}
		opts = append(opts, kgo.DialTLSConfig(c.cfg.Login.TLS.Clone()))
	}
	return kgo.NewClient(append(opts, extra...)...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) sessionTTL() time.Duration {
	if c.cfg.Login.SessionTTL > 0 {
		return c.cfg.Login.SessionTTL
	}
	return 8 * time.Hour
}

// add stores s under a new token, ending expired sessions and, when full,
// the one closest to expiry.
func (ss *sessions) add(s *session, now time.Time) string {
	tok := newToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[string]*session{}
	}
	var oldest string
	for k, o := range ss.m {
		if !now.Before(o.expires) {
			o.cl.Close()
			delete(ss.m, k)
			continue
		}
		if oldest == "" || o.expires.Before(ss.m[oldest].expires) {
			oldest = k
		}
	}
	if len(ss.m) >= maxSessions && oldest != "" {
		ss.m[oldest].cl.Close()
		delete(ss.m, oldest)
	}
	ss.m[tok] = s
	return tok
}

// get returns the live session of tok, ending it when expired.
func (ss *sessions) get(tok string, now time.Time) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[tok]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) {
		s.cl.Close()
		delete(ss.m, tok)
		return nil
	}
	return s
}

func (ss *sessions) remove(tok string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s := ss.m[tok]; s != nil {
		s.cl.Close()
		delete(ss.m, tok)
	}
}

func (ss *sessions) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, s := range ss.m {
		s.cl.Close()
		delete(ss.m, k)
	}
}

// requireLogin serves r when it carries a live session; otherwise a page
// (GET) redirects to /login, the JSON API answers 401 and any change is
// refused with 403.
func (c *Console) requireLogin(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/login" || strings.HasPrefix(p, "/static/") {
		c.mux.ServeHTTP(w, r)
		return
	}
	var s *session
	if ck, err := r.Cookie(sessionCookie); err == nil {
		s = c.sessions.get(ck.Value, time.Now())
	}
	if s == nil {
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			http.Error(w, "login required", http.StatusForbidden)
		case strings.HasPrefix(p, "/api/"):
			http.Error(w, "login required", http.StatusUnauthorized)
		default:
			target := "/login"
			if p != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
		}
		return
	}
	c.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
}

// loginData is the login page's form.
type loginData struct {
	User string
	Next string
}

// safeNext keeps a post-login target on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "login", "Sign in", loginData{Next: safeNext(r.URL.Query().Get("next"))}, nil)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	user, pass := strings.TrimSpace(r.FormValue("user")), r.FormValue("password")
	next := safeNext(r.FormValue("next"))
	d := loginData{User: user, Next: next}
	if user == "" || pass == "" {
		w.WriteHeader(http.StatusUnauthorized)
		c.render(w, r, "login", "Sign in", d, errBadLogin)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	s, err := c.authenticate(ctx, user, pass)
	if err != nil {
		c.cfg.Logger.Info("console login refused", "user", user, "remote", r.RemoteAddr, "err", err)
		if errors.Is(err, errBadLogin) {
			w.WriteHeader(http.StatusUnauthorized)
		} else {
			w.WriteHeader(http.StatusServiceUnavailable) // the broker could not say
		}
		c.render(w, r, "login", "Sign in", d, err)
		return
	}
	now := time.Now()
	s.expires = now.Add(c.sessionTTL())
	tok := c.sessions.add(s, now)
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    tok,
		Path:     "/",
		Expires:  s.expires,
		MaxAge:   int(c.sessionTTL() / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	c.cfg.Logger.Info("console login", "user", user, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.remove(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login?notice=signed+out", http.StatusSeeOther)
}
