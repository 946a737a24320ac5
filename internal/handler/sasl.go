package handler

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake v0-1 and SaslAuthenticate v0-2.
//
// On a SASL listener the server answers both before authentication
// (internal/server/auth.go). A handler sees them only afterwards, or on a
// listener without SASL, and answers ILLEGAL_SASL_STATE as Kafka's
// KafkaApis does. Re-authentication (KIP-368) is not served:
// SessionLifetimeMs is always 0.

func init() {
	register(kmsg.SASLHandshake, 0, 1, serveSaslHandshake)
	register(kmsg.SASLAuthenticate, 0, 2, serveSaslAuthenticate)
}

func serveSaslHandshake(_ *Env, r *Request) Result {
	resp := r.Body.(*kmsg.SASLHandshakeRequest).ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	return Now(resp)
}

func serveSaslAuthenticate(_ *Env, r *Request) Result {
	resp := r.Body.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	msg := "SaslAuthenticate request received after successful authentication"
	resp.ErrorMessage = &msg
	return Now(resp)
}
