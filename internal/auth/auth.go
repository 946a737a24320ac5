// Package auth owns the security of the Kafka listeners: their protocols
// (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), TLS with certificates
// reloaded when their files change, the SASL mechanisms (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER with JWTs checked against a
// JWKS) and the principal each connection authenticates as ("User:alice",
// a client certificate's name mapped by Kafka's principal mapping rules).
//
// The server drives a mechanism's Session one client token at a time and
// hands the principal to every handler (handler.Request.Principal); an
// authorizer added later reads it there, in one place. Credentials are
// read from the metadata image (salted SCRAM keys, never a password).
//
// Concurrency: a Session belongs to one connection's reader goroutine; a
// Listener's TLS config and the credential source are safe for
// concurrent use.
package auth

import (
	"errors"
	"fmt"
	"slices"

	"github.com/strom-broker/strom/internal/metadata"
)

// Protocol is a listener's security protocol (Kafka's
// listener.security.protocol.map values).
type Protocol string

// The protocols a listener may speak.
const (
	Plaintext     Protocol = "PLAINTEXT"
	SSL           Protocol = "SSL"
	SASLPlaintext Protocol = "SASL_PLAINTEXT"
	SASLSSL       Protocol = "SASL_SSL"
)

// ParseProtocol accepts the four protocol names.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(s); p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", s)
}

// TLS reports whether the protocol runs over TLS.
func (p Protocol) TLS() bool { return p == SSL || p == SASLSSL }

// SASL reports whether clients authenticate with SASL first.
func (p Protocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }

// SASL mechanism names, as clients send them in SaslHandshake.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists the supported mechanisms, the default of a SASL
// listener that names none.
func Mechanisms() []string { return []string{MechScramSHA512, MechScramSHA256, MechPlain} }

// SupportedMechanism reports whether name is a mechanism this package serves.
func SupportedMechanism(name string) bool { return slices.Contains(Mechanisms(), name) }

// Anonymous is the principal of a connection that did not authenticate
// (PLAINTEXT, or SSL without a client certificate), as Kafka names it.
const Anonymous = "User:ANONYMOUS"

// UserPrincipal is the principal of an authenticated user name.
func UserPrincipal(name string) string { return "User:" + name }

// CredentialSource looks up a user's SCRAM credential for a mechanism.
type CredentialSource func(user, mechanism string) (metadata.ScramCredential, bool)

// ImageCredentials reads credentials from the current metadata image.
func ImageCredentials(image func() *metadata.Image) CredentialSource {
	return func(user, mech string) (metadata.ScramCredential, bool) { return image().ScramCredential(user, mech) }
}

// Failure is a refused authentication: Message goes to the client in the
// SaslAuthenticate answer (Kafka's wording), Reason only to the log.
type Failure struct {
	Message string
	Reason  string
}

func (f *Failure) Error() string { return f.Message + ": " + f.Reason }

// invalidCredentials is Kafka's answer for every failure whose details
// must not reach the client (unknown user, bad proof, malformed token):
// SaslServerAuthenticator words it so that it does not reveal whether the
// user exists.
func invalidCredentials(mech string, reauth bool, reason string) *Failure {
	what := "authentication"
	if reauth {
		what = "re-authentication"
	}
	return &Failure{Message: "Authentication failed during " + what + " due to invalid credentials with SASL mechanism " + mech, Reason: reason}
}

// Session is one SASL exchange on one connection.
type Session interface {
	// Step consumes one client token and returns the server's token;
	// done is true once the client is authenticated. An error is a
	// *Failure: the connection is refused.
	Step(token []byte) (resp []byte, done bool, err error)
	// User is the authenticated user name, once done.
	User() string
}

// NewSession starts mechanism mech; creds gives the SCRAM credentials.
// reauth marks a re-authentication (KIP-368), which Kafka's messages name.
func NewSession(mech string, creds CredentialSource, reauth bool) (Session, error) {
	switch mech {
	case MechPlain:
		return &plainSession{creds: creds, reauth: reauth}, nil
	case MechScramSHA256, MechScramSHA512:
		return &scramSession{mech: mech, hash: scramHashes[mech], creds: creds, reauth: reauth}, nil
	}
	return nil, fmt.Errorf("%w %q", errUnsupportedMechanism, mech)
}

var errUnsupportedMechanism = errors.New("unsupported SASL mechanism")
