package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/strom-broker/strom/internal/metadata"
)

// TestScramClientExchange runs the RFC 7677 exchange with a client
// written from the RFC, so the server's arithmetic is checked apart from
// any client library; a wrong proof gets Kafka's message. The final
// nonce may repeat the client's nonce in front (older librdkafka), which
// Kafka accepts (it checks endsWith).
func TestScramClientExchange(t *testing.T) {
	cred, err := NewScramCredential(MechScramSHA256, "pencil", []byte("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
	if err != nil {
		t.Fatal(err)
	}
	creds := func(user, mech string) (metadata.ScramCredential, bool) {
		return cred, user == "user" && mech == MechScramSHA256
	}
	for _, pw := range []string{"pencil", "wrong", "pencil-repeated-nonce"} {
		repeat := strings.HasSuffix(pw, "-repeated-nonce")
		pw = strings.TrimSuffix(pw, "-repeated-nonce")
		s, _ := NewSession(MechScramSHA256, creds, false)
		first := "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
		sf, done, err := s.Step([]byte(first))
		if err != nil || done {
			t.Fatalf("first: %v", err)
		}
		var nonce, salt string
		for _, f := range strings.Split(string(sf), ",") {
			switch f[:2] {
			case "r=":
				nonce = f[2:]
			case "s=":
				salt = f[2:]
			}
		}
		rawSalt, _ := base64.StdEncoding.DecodeString(salt)
		salted, _ := pbkdf2.Key(sha256.New, pw, rawSalt, 4096, 32)
		mac := func(k []byte, m string) []byte { h := hmac.New(sha256.New, k); h.Write([]byte(m)); return h.Sum(nil) }
		clientKey := mac(salted, "Client Key")
		stored := sha256.Sum256(clientKey)
		without := "c=biws,r=" + nonce
		if repeat {
			without = "c=biws,r=rOprNGfwEbeRWgbNEkqO" + nonce
		}
		authMsg := "n=user,r=rOprNGfwEbeRWgbNEkqO," + string(sf) + "," + without
		sig := mac(stored[:], authMsg)
		proof := make([]byte, len(sig))
		for i := range sig {
			proof[i] = clientKey[i] ^ sig[i]
		}
		final, done, err := s.Step([]byte(without + ",p=" + base64.StdEncoding.EncodeToString(proof)))
		if pw == "wrong" {
			f, ok := err.(*Failure)
			if !ok || done || f.Message != "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256" {
				t.Fatalf("wrong password: %v", err)
			}
			continue
		}
		if err != nil || !done || s.User() != "user" {
			t.Fatalf("final: %v", err)
		}
		want := "v=" + base64.StdEncoding.EncodeToString(mac(mac(salted, "Server Key"), authMsg))
		if string(final) != want {
			t.Fatalf("server-final %q, want %q", final, want)
		}
	}
}
