package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/auth"
	"github.com/strom-broker/strom/internal/handler"
)

// saslMaxReceive bounds a frame read before authentication, Kafka's
// sasl.server.max.receive.size: an unauthenticated peer cannot make the
// broker allocate socket.request.max.bytes.
const saslMaxReceive = 512 * 1024

// tlsHandshakeTimeout bounds the TLS handshake of a new connection.
const tlsHandshakeTimeout = 10 * time.Second

// secure runs the listener's security before the first request: the TLS
// handshake (SSL, SASL_SSL), then SASL authentication (SASL_*). On
// success c.principal is set; an error closes the connection.
func (c *conn) secure(br *io.Reader) error {
	spec := c.ln.spec
	if spec.TLS != nil {
		tc := tls.Server(&batchConn{Conn: c.nc}, spec.TLS)
		ctx, cancel := context.WithTimeout(c.ctx, tlsHandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		c.nc = tc
		*br = newLazyReader(tc)
		if spec.Protocol == auth.SSL {
			if c.principal, err = spec.CertPrincipal(tc.ConnectionState()); err != nil {
				c.s.logger.Info("authentication failed", "listener", spec.Name, "remote", c.remote, "reason", err.Error())
				return errAuthFailed
			}
		}
	}
	if !spec.Protocol.SASL() {
		return nil
	}
	return c.authenticate(*br)
}

// saslState is where a connection is in Kafka's SaslServerAuthenticator.
type saslState int

const (
	saslHandshakeOrVersions saslState = iota // first request
	saslHandshake                            // ApiVersions answered
	saslAuthenticate                         // SaslHandshake v1: SaslAuthenticate requests
	saslRawTokens                            // SaslHandshake v0: tokens without Kafka headers
)

// authenticate runs the SASL exchange, reading and answering one frame at
// a time (no pipelining before authentication, as in Kafka).
func (c *conn) authenticate(br io.Reader) error {
	w := newRespWriter(c.nc)
	state := saslHandshakeOrVersions
	var sess auth.Session
	var mech string
	for {
		if err := c.armIdle(); err != nil {
			return err
		}
		frame, err := readAuthFrame(br)
		if err != nil {
			return err
		}
		if state == saslRawTokens {
			resp, done, err := sess.Step(frame)
			if err != nil {
				return c.authFailedAfterDelay(mech, err, nil)
			}
			var size [4]byte
			binary.BigEndian.PutUint32(size[:], uint32(len(resp)))
			if _, err := c.nc.Write(append(size[:], resp...)); err != nil {
				return err
			}
			if done {
				c.startSession(mech, sess)
				return c.authenticated(mech, sess)
			}
			continue
		}
		key, version, corr, req, err := c.decodeAuthRequest(frame)
		if err != nil {
			return err
		}
		switch {
		case key == kmsg.ApiVersions && state == saslHandshakeOrVersions:
			var resp kmsg.Response
			if vr, _ := handler.Lookup(key); version > vr.Max {
				resp = handler.UnsupportedApiVersions()
			} else {
				r := handler.Request{Ctx: c.ctx, Key: key, Version: version, CorrelationID: corr, ClientAddr: c.remote, Body: req, Listener: c.ln.spec.Name, Principal: c.principal}
				resp = c.s.env.Serve(&r).Resp
			}
			if err := writeNow(w, corr, false, resp); err != nil {
				return err
			}
			state = saslHandshake
		case key == kmsg.SASLHandshake && state <= saslHandshake:
			hreq := req.(*kmsg.SASLHandshakeRequest)
			resp := hreq.ResponseKind().(*kmsg.SASLHandshakeResponse)
			resp.SupportedMechanisms = c.ln.spec.Mechanisms
			if !slices.Contains(c.ln.spec.Mechanisms, hreq.Mechanism) {
				resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
				return c.authFailedAfterDelay(hreq.Mechanism, fmt.Errorf("unsupported SASL mechanism %q (enabled: %v)", hreq.Mechanism, c.ln.spec.Mechanisms),
					func() error { return writeNow(w, corr, false, resp) })
			}
			mech = hreq.Mechanism
			if sess, err = c.ln.spec.NewSession(mech, c.s.creds, false); err != nil {
				return err
			}
			if err := writeNow(w, corr, false, resp); err != nil {
				return err
			}
			state = saslAuthenticate
			if version == 0 {
				state = saslRawTokens
			}
		case key == kmsg.SASLAuthenticate && state == saslAuthenticate:
			areq := req.(*kmsg.SASLAuthenticateRequest)
			resp := areq.ResponseKind().(*kmsg.SASLAuthenticateResponse)
			token, done, serr := sess.Step(areq.SASLAuthBytes)
			if serr != nil {
				var f *auth.Failure
				resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
				if errors.As(serr, &f) {
					resp.ErrorMessage = &f.Message
				}
				return c.authFailedAfterDelay(mech, serr, func() error { return writeNow(w, corr, areq.IsFlexible(), resp) })
			}
			resp.SASLAuthBytes = token
			if done {
				resp.SessionLifetimeMillis = c.startSession(mech, sess)
			}
			if err := writeNow(w, corr, areq.IsFlexible(), resp); err != nil {
				return err
			}
			if done {
				return c.authenticated(mech, sess)
			}
		case state <= saslHandshake:
			return fmt.Errorf("unexpected Kafka request of type %s during SASL handshake", key.Name())
		default:
			return fmt.Errorf("unexpected Kafka request of type %s during SASL authentication", key.Name())
		}
	}
}

// startSession records a successful authentication with mech and returns
// the session lifetime to announce (SaslAuthenticate v1+): the
// connections_max_reauth setting in milliseconds, bounded by the
// credential's expiry (an OAUTHBEARER token's exp), 0 when sessions never
// expire — Kafka's SaslServerAuthenticator.
func (c *conn) startSession(mech string, sess auth.Session) int64 {
	c.mech = mech
	now := time.Now()
	max := c.s.cfg.ConnMaxReauth
	var expiry time.Time
	if max > 0 {
		expiry = now.Add(max)
	}
	if es, ok := sess.(auth.ExpiringSession); ok {
		if exp := es.Expiry(); expiry.IsZero() || exp.Before(expiry) {
			expiry = exp
		}
	}
	if expiry.IsZero() {
		c.sessionExpiry = time.Time{}
		return 0
	}
	if expiry.Before(now) {
		expiry = now
	}
	c.sessionExpiry = expiry
	return expiry.Sub(now).Milliseconds()
}

// sessionCheck runs on every request of a connection authenticated with
// SASL: re-authentication (KIP-368) when the session expires
// (connections_max_reauth, or the credential's expiry: a SaslHandshake,
// then SaslAuthenticate requests, answered here in order with the
// others), and the end of an expired session, which closes the
// connection as Kafka does. A nil response and error let the request
// through to its handler; an error closes the connection once resp (if
// any) is written.
func (c *conn) sessionCheck(key kmsg.Key, req kmsg.Request) (kmsg.Response, error) {
	if c.reauth != nil {
		areq, ok := req.(*kmsg.SASLAuthenticateRequest)
		if !ok {
			return nil, fmt.Errorf("unexpected Kafka request of type %s during SASL re-authentication", key.Name())
		}
		resp := areq.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		token, done, err := c.reauth.Step(areq.SASLAuthBytes)
		if err == nil && done {
			if p := auth.UserPrincipal(c.reauth.User()); p != c.principal {
				err = &auth.Failure{Message: "Cannot change principals during re-authentication from " + c.principal + ": " + p, Reason: "re-authenticated as " + p}
			}
		}
		if err != nil {
			var f *auth.Failure
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			if errors.As(err, &f) {
				resp.ErrorMessage = &f.Message
			}
			c.reauth = nil
			return resp, c.authFailed(c.mech, err)
		}
		resp.SASLAuthBytes = token
		if done {
			resp.SessionLifetimeMillis = c.startSession(c.mech, c.reauth)
			c.reauth = nil
			c.s.logger.Debug("re-authenticated", "listener", c.ln.spec.Name, "remote", c.remote, "principal", c.principal)
		}
		return resp, nil
	}
	if hreq, ok := req.(*kmsg.SASLHandshakeRequest); ok && !c.sessionExpiry.IsZero() && hreq.Version >= 1 {
		resp := hreq.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = c.ln.spec.Mechanisms
		if hreq.Mechanism != c.mech {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
			return resp, fmt.Errorf("re-authentication with mechanism %q, authenticated with %q", hreq.Mechanism, c.mech)
		}
		sess, err := c.ln.spec.NewSession(c.mech, c.s.creds, true)
		if err != nil {
			return nil, err
		}
		c.reauth = sess
		return resp, nil
	}
	if !c.sessionExpiry.IsZero() && time.Now().After(c.sessionExpiry) {
		return nil, errSessionExpired
	}
	return nil, nil
}

// errSessionExpired closes a connection whose SASL session ended without
// re-authentication.
var errSessionExpired = errors.New("SASL session expired without re-authentication")

func (c *conn) authenticated(mech string, sess auth.Session) error {
	c.principal = auth.UserPrincipal(sess.User())
	c.s.logger.Debug("authenticated", "listener", c.ln.spec.Name, "remote", c.remote, "mechanism", mech, "principal", c.principal)
	return nil
}

// authFailed logs a refused authentication (the client got Kafka's
// message; the log has the reason) and closes the connection.
func (c *conn) authFailed(mech string, err error) error {
	reason := err.Error()
	var f *auth.Failure
	if errors.As(err, &f) {
		reason = f.Reason
	}
	c.s.logger.Info("authentication failed", "listener", c.ln.spec.Name, "remote", c.remote, "mechanism", mech, "reason", reason)
	return errAuthFailed
}

// authFailedAfterDelay ends a failed authentication as Kafka does: the
// answer (written by answer, if any) and the close wait for
// connection_failed_authentication_delay, so a client retrying a wrong
// password, or guessing one, gets one attempt per delay per connection.
// The wait holds only this connection's goroutine: nothing it waits on is
// shared, and the connection reads nothing meanwhile. Shutdown ends it.
func (c *conn) authFailedAfterDelay(mech string, err error, answer func() error) error {
	err = c.authFailed(mech, err)
	if d := c.s.cfg.ConnFailedAuthDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
		}
	}
	if answer != nil {
		answer()
	}
	return err
}

// delayAnswer holds a failed re-authentication's answer (sl's) back for
// connection_failed_authentication_delay; the writer waits for it, then
// the connection closes. A timer, not a goroutine, waits.
func (c *conn) delayAnswer(sl *slot) {
	d := c.s.cfg.ConnFailedAuthDelay
	if d <= 0 || sl == nil {
		return
	}
	ready := make(chan struct{})
	sl.ready = ready
	time.AfterFunc(d, func() {
		sl.readyAt = time.Now()
		close(ready)
	})
}

// errAuthFailed ends a connection whose authentication failed; it was
// already logged.
var errAuthFailed = errors.New("authentication failed")

func readAuthFrame(br io.Reader) ([]byte, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 0 || size > saslMaxReceive {
		return nil, fmt.Errorf("%w: frame of %d bytes before authentication (limit %d)", errProtocol, size, saslMaxReceive)
	}
	fp, err := readFrame(br, int(size))
	if err != nil {
		return nil, err
	}
	return *fp, nil
}

// decodeAuthRequest decodes a request read before authentication; only
// ApiVersions, SaslHandshake and SaslAuthenticate bodies are parsed.
func (c *conn) decodeAuthRequest(frame []byte) (kmsg.Key, int16, int32, kmsg.Request, error) {
	rd := kbin.Reader{Src: frame}
	key := kmsg.Key(rd.Int16())
	version := rd.Int16()
	corr := rd.Int32()
	if n := rd.Int16(); n > 0 {
		rd.Span(int(n))
	}
	if err := rd.Complete(); err != nil {
		return 0, 0, 0, nil, fmt.Errorf("%w: short request header", errProtocol)
	}
	switch key {
	case kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate:
	default:
		return key, version, corr, nil, nil
	}
	vr, ok := handler.Lookup(key)
	if key == kmsg.ApiVersions && version > vr.Max {
		return key, version, corr, nil, nil // answered with v0 (KIP-511)
	}
	if !ok || version < vr.Min || version > vr.Max {
		return 0, 0, 0, nil, fmt.Errorf("%w: unsupported version %d of %s", errProtocol, version, key.Name())
	}
	req := key.Request()
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&rd)
		if err := rd.Complete(); err != nil {
			return 0, 0, 0, nil, fmt.Errorf("%w: bad request header tags", errProtocol)
		}
	}
	if err := req.ReadFrom(rd.Src); err != nil {
		return 0, 0, 0, nil, fmt.Errorf("%w: malformed %s v%d request: %v", errProtocol, key.Name(), version, err)
	}
	return key, version, corr, req, nil
}

func writeNow(w *respWriter, corr int32, flexible bool, resp kmsg.Response) error {
	if err := w.write(corr, flexible, resp); err != nil {
		return err
	}
	return w.flush()
}
