package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/strom-broker/strom/internal/metadata"
)

// SCRAM (RFC 5802, RFC 7677) as Kafka's ScramSaslServer serves it.

// DefaultScramIterations is Kafka's default iteration count (4096, also
// its minimum); MaxScramIterations its maximum.
const (
	DefaultScramIterations = 4096
	MinScramIterations     = 4096
	MaxScramIterations     = 16384
)

var scramHashes = map[string]func() hash.Hash{
	MechScramSHA256: sha256.New,
	MechScramSHA512: sha512.New,
}

// ScramMechanism reports whether mech is a SCRAM mechanism.
func ScramMechanism(mech string) bool { _, ok := scramHashes[mech]; return ok }

// NewScramCredential salts and iterates password into a credential.
// salt nil draws a random one.
func NewScramCredential(mech, password string, salt []byte, iterations int) (metadata.ScramCredential, error) {
	h, ok := scramHashes[mech]
	if !ok {
		return metadata.ScramCredential{}, fmt.Errorf("%w %q", errUnsupportedMechanism, mech)
	}
	if salt == nil {
		salt = make([]byte, 32)
		rand.Read(salt)
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return metadata.ScramCredential{}, fmt.Errorf("derive %s credential: %w", mech, err)
	}
	return ScramCredentialFromSalted(mech, salt, salted, iterations), nil
}

// ScramCredentialFromSalted derives the stored and server keys from an
// already salted password (AlterUserScramCredentials sends one).
func ScramCredentialFromSalted(mech string, salt, salted []byte, iterations int) metadata.ScramCredential {
	h := scramHashes[mech]
	clientKey := hmacOf(h, salted, []byte("Client Key"))
	stored := h()
	stored.Write(clientKey)
	return metadata.ScramCredential{
		Salt:       append([]byte(nil), salt...),
		StoredKey:  stored.Sum(nil),
		ServerKey:  hmacOf(h, salted, []byte("Server Key")),
		Iterations: int32(iterations),
	}
}

func hmacOf(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// ClientFirst is a parsed client-first-message.
type ClientFirst struct {
	GS2Header  string // "n,," or "n,a=user,"
	AuthzID    string // the gs2 header's authorization id, decoded
	User       string
	Nonce      string
	Bare       string // client-first-message-bare, for the auth message
	Extensions map[string]string
}

// ParseClientFirst parses a client-first-message. Channel binding is not
// supported (gs2 flag "p"), as in Kafka.
func ParseClientFirst(msg string) (ClientFirst, error) {
	var cf ClientFirst
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return cf, fmt.Errorf("invalid SCRAM client first message")
	}
	if flag != "n" && flag != "y" {
		return cf, fmt.Errorf("unsupported gs2 channel binding flag %q", flag)
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return cf, fmt.Errorf("invalid SCRAM client first message")
	}
	if authzid != "" && !strings.HasPrefix(authzid, "a=") {
		return cf, fmt.Errorf("invalid authorization id %q", authzid)
	}
	cf.GS2Header = flag + "," + authzid + ","
	cf.Bare = bare
	fields := strings.Split(bare, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") {
		return cf, fmt.Errorf("invalid SCRAM client first message bare %q", bare)
	}
	user, err := saslName(fields[0][2:])
	if err != nil {
		return cf, err
	}
	cf.User = user
	cf.Nonce = fields[1][2:]
	if cf.Nonce == "" || !printable(cf.Nonce) {
		return cf, fmt.Errorf("invalid SCRAM nonce")
	}
	for _, f := range fields[2:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return cf, fmt.Errorf("invalid SCRAM extension %q", f)
		}
		if cf.Extensions == nil {
			cf.Extensions = map[string]string{}
		}
		cf.Extensions[k] = v
	}
	if authzid != "" {
		az, err := saslName(authzid[2:])
		if err != nil {
			return cf, err
		}
		cf.AuthzID = az
	}
	return cf, nil
}

// saslName decodes RFC 5802's escaping of "," and "=" in names.
func saslName(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty SCRAM user name")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '=' && strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
			i += 2
		case s[i] == '=' && strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
			i += 2
		case s[i] == '=' || s[i] == ',':
			return "", fmt.Errorf("invalid SCRAM user name %q", s)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// ClientFinal is a parsed client-final-message.
type ClientFinal struct {
	ChannelBinding string // base64 of the gs2 header
	Nonce          string
	Proof          []byte
	WithoutProof   string // for the auth message
}

// ParseClientFinal parses a client-final-message.
func ParseClientFinal(msg string) (ClientFinal, error) {
	var cf ClientFinal
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return cf, fmt.Errorf("invalid SCRAM client final message: no proof")
	}
	cf.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) == 0 {
		return cf, fmt.Errorf("invalid SCRAM client proof")
	}
	cf.Proof = proof
	fields := strings.Split(cf.WithoutProof, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return cf, fmt.Errorf("invalid SCRAM client final message")
	}
	cf.ChannelBinding = fields[0][2:]
	cf.Nonce = fields[1][2:]
	return cf, nil
}

// scramSession is the server side of one SCRAM exchange: client-first,
// server-first, client-final, server-final.
type scramSession struct {
	mech   string
	hash   func() hash.Hash
	creds  CredentialSource
	reauth bool

	step        int
	first       ClientFirst
	serverFirst string
	nonce       string
	cred        metadata.ScramCredential
	user        string
}

func (s *scramSession) Step(token []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		cf, err := ParseClientFirst(string(token))
		if err != nil {
			return nil, false, invalidCredentials(s.mech, s.reauth, err.Error())
		}
		if len(cf.Extensions) > 0 {
			// Kafka accepts only tokenauth (delegation tokens), which
			// are not supported.
			return nil, false, invalidCredentials(s.mech, s.reauth, "unsupported SCRAM extensions")
		}
		cred, ok := s.creds(cf.User, s.mech)
		if !ok {
			return nil, false, invalidCredentials(s.mech, s.reauth, "unknown user "+strconv.Quote(cf.User))
		}
		if cf.AuthzID != "" && cf.AuthzID != cf.User {
			return nil, false, &Failure{Message: "Authentication failed: Client requested an authorization id that is different from username", Reason: "authzid " + strconv.Quote(cf.AuthzID) + " for user " + strconv.Quote(cf.User)}
		}
		var nb [24]byte
		rand.Read(nb[:])
		s.first, s.cred = cf, cred
		s.nonce = cf.Nonce + base64.RawURLEncoding.EncodeToString(nb[:])
		s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(int(cred.Iterations))
		s.step = 1
		return []byte(s.serverFirst), false, nil
	case 1:
		s.step = 2
		cf, err := ParseClientFinal(string(token))
		if err != nil {
			return nil, false, invalidCredentials(s.mech, s.reauth, err.Error())
		}
		// Kafka checks only that the nonce ends with the server's:
		// older librdkafka (2.0.2, in kcat 1.7.1) sends its own nonce in
		// front of it again.
		if !strings.HasSuffix(cf.Nonce, s.nonce) {
			return nil, false, invalidCredentials(s.mech, s.reauth, "nonce mismatch: got "+strconv.Quote(cf.Nonce)+", want "+strconv.Quote(s.nonce))
		}
		if cf.ChannelBinding != base64.StdEncoding.EncodeToString([]byte(s.first.GS2Header)) {
			return nil, false, invalidCredentials(s.mech, s.reauth, "channel binding mismatch")
		}
		authMsg := []byte(s.first.Bare + "," + s.serverFirst + "," + cf.WithoutProof)
		sig := hmacOf(s.hash, s.cred.StoredKey, authMsg)
		if len(cf.Proof) != len(sig) {
			return nil, false, invalidCredentials(s.mech, s.reauth, "bad proof length for user "+strconv.Quote(s.first.User))
		}
		clientKey := make([]byte, len(sig))
		for i := range sig {
			clientKey[i] = cf.Proof[i] ^ sig[i]
		}
		h := s.hash()
		h.Write(clientKey)
		if !hmac.Equal(h.Sum(nil), s.cred.StoredKey) {
			return nil, false, invalidCredentials(s.mech, s.reauth, "invalid client credentials for user "+strconv.Quote(s.first.User))
		}
		s.user = s.first.User
		return []byte("v=" + base64.StdEncoding.EncodeToString(hmacOf(s.hash, s.cred.ServerKey, authMsg))), true, nil
	}
	return nil, false, invalidCredentials(s.mech, s.reauth, "token after the exchange ended")
}

func (s *scramSession) User() string { return s.user }
