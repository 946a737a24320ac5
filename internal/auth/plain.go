package auth

import (
	"bytes"
	"crypto/hmac"
	"fmt"
)

// plainSession is SASL/PLAIN (RFC 4616): one token "authzid NUL authcid
// NUL password", checked against the user's SCRAM credential, so no
// password is stored for PLAIN either.
type plainSession struct {
	creds  CredentialSource
	reauth bool
	user   string
}

// ParsePlain splits a PLAIN token into its three parts, as Kafka's
// PlainSaslServer does (exactly three NUL-separated tokens).
func ParsePlain(token []byte) (authzid, user, password string, err error) {
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(parts))
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

func (s *plainSession) Step(token []byte) ([]byte, bool, error) {
	authzid, user, password, err := ParsePlain(token)
	if err != nil {
		return nil, false, invalidCredentials(MechPlain, s.reauth, err.Error())
	}
	if user == "" {
		return nil, false, &Failure{Message: "Authentication failed: username not specified", Reason: "empty user name"}
	}
	if password == "" {
		return nil, false, &Failure{Message: "Authentication failed: password not specified", Reason: "empty password, user " + user}
	}
	if !s.verify(user, password) {
		return nil, false, &Failure{Message: "Authentication failed: Invalid username or password", Reason: "bad PLAIN credentials for user " + user}
	}
	if authzid != "" && authzid != user {
		return nil, false, &Failure{Message: "Authentication failed: Client requested an authorization id that is different from username", Reason: "authzid " + authzid + " for user " + user}
	}
	s.user = user
	return []byte{}, true, nil
}

// verify checks password against the strongest SCRAM credential user has.
func (s *plainSession) verify(user, password string) bool {
	for _, mech := range []string{MechScramSHA512, MechScramSHA256} {
		c, ok := s.creds(user, mech)
		if !ok {
			continue
		}
		want, err := NewScramCredential(mech, password, c.Salt, int(c.Iterations))
		if err != nil {
			return false
		}
		return hmac.Equal(want.StoredKey, c.StoredKey)
	}
	return false
}

func (s *plainSession) User() string { return s.user }
