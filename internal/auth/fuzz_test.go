package auth

import (
	"bytes"
	"testing"

	"github.com/strom-broker/strom/internal/metadata"
)

// The SASL token parsers read bytes from unauthenticated peers: they must
// never panic, and a session fed any tokens must end in a Failure or
// success, never anything else.

func fuzzCreds(t testing.TB) CredentialSource {
	c256, err := NewScramCredential(MechScramSHA256, "pencil", []byte("salt"), MinScramIterations)
	if err != nil {
		t.Fatal(err)
	}
	c512, err := NewScramCredential(MechScramSHA512, "pencil", []byte("salt"), MinScramIterations)
	if err != nil {
		t.Fatal(err)
	}
	return func(user, mech string) (metadata.ScramCredential, bool) {
		if user != "user" {
			return metadata.ScramCredential{}, false
		}
		if mech == MechScramSHA256 {
			return c256, true
		}
		return c512, true
	}
}

func FuzzParsePlain(f *testing.F) {
	for _, s := range []string{"\x00user\x00pencil", "user\x00user\x00pencil", "", "\x00", "\x00\x00", "a\x00b\x00c\x00d", "\x00user\x00"} {
		f.Add([]byte(s))
	}
	creds := fuzzCreds(f)
	f.Fuzz(func(t *testing.T, token []byte) {
		_, user, pw, err := ParsePlain(token)
		if err == nil && bytes.Count(token, []byte{0}) != 2 {
			t.Fatalf("accepted %q", token)
		}
		s, _ := NewSession(MechPlain, creds, false)
		_, done, err := s.Step(token)
		if done != (err == nil) {
			t.Fatalf("done %v with err %v", done, err)
		}
		if done && (user != "user" || pw != "pencil") {
			t.Fatalf("authenticated %q/%q", user, pw)
		}
	})
}

func FuzzScramClientFirst(f *testing.F) {
	for _, s := range []string{
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"y,,n=user,r=abc",
		"n,a=user,n=user,r=abc",
		"n,a=other,n=user,r=abc",
		"p=tls-unique,,n=user,r=abc",
		"n,,n=us=2Cer=3D,r=abc,tokenauth=true",
		"n,,n=,r=",
		"n,,n=user",
		",,,",
		"",
	} {
		f.Add(s)
	}
	creds := fuzzCreds(f)
	f.Fuzz(func(t *testing.T, msg string) {
		ParseClientFirst(msg)
		for _, mech := range []string{MechScramSHA256, MechScramSHA512} {
			s, _ := NewSession(mech, creds, false)
			resp, done, err := s.Step([]byte(msg))
			if done {
				t.Fatal("authenticated by a first message")
			}
			if err == nil && !bytes.HasPrefix(resp, []byte("r=")) {
				t.Fatalf("server-first %q", resp)
			}
		}
	})
}

func FuzzScramClientFinal(f *testing.F) {
	for _, s := range []string{
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"c=biws,r=x,p=",
		"c=biws,p=AAAA",
		"r=x,c=biws,p=AAAA",
		",p=AAAA",
		"",
	} {
		f.Add(s)
	}
	creds := fuzzCreds(f)
	f.Fuzz(func(t *testing.T, msg string) {
		ParseClientFinal(msg)
		s, _ := NewSession(MechScramSHA512, creds, false)
		if _, _, err := s.Step([]byte("n,,n=user,r=abc")); err != nil {
			t.Fatal(err)
		}
		if _, done, err := s.Step([]byte(msg)); done || err == nil {
			t.Fatalf("client-final %q: done %v err %v", msg, done, err)
		}
	})
}

// FuzzOAuthBearerInitial: the OAUTHBEARER initial response parser and a
// session fed any message never panic; a message is accepted only with
// a token signed by the JWKS key, and a refused token is answered with
// the RFC 7628 error challenge, never a success.
func FuzzOAuthBearerInitial(f *testing.F) {
	key := newECKey(f, "k1")
	v, err := NewOAuthValidator(oauthConfig(writeJWKS(f, f.TempDir(), key)), quietLogger)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"n,,\x01auth=Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\x01\x01",
		"n,a=alice,\x01auth=Bearer t\x01traceId=1\x01\x01",
		"n,a=a=2Cb=3D,\x01auth=bearer x==\x01k=v v\x01\x01",
		"n,,\x01auth=Basic x\x01\x01",
		"n,,\x01auth=Bearer\x01\x01",
		"n,,\x01foo=bar\x01\x01",
		"n,,\x01\x01",
		"\x01",
		"y,,\x01auth=Bearer t\x01\x01",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		in, err := ParseOAuthBearerInitial(msg)
		if err == nil && (in.Token == "" || !bytes.HasPrefix(msg, []byte("n,")) || !bytes.HasSuffix(msg, []byte{1, 1})) {
			t.Fatalf("accepted %q as %+v", msg, in)
		}
		s := NewOAuthBearerSession(v, false)
		resp, done, err := s.Step(msg)
		if done {
			t.Fatalf("authenticated by %q", msg)
		}
		if err == nil && string(resp) != oauthInvalidToken {
			t.Fatalf("answer %q to %q", resp, msg)
		}
		if err == nil {
			if _, done, err := s.Step([]byte{1}); done || err == nil {
				t.Fatalf("%%x01 after the challenge: done %v err %v", done, err)
			}
		}
	})
}
