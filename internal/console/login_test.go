package console

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func testSession(t *testing.T, user string, expires time.Time) *session {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	return &session{user: user, expires: expires, cl: cl}
}

// closed reports whether s's client was closed (a request then fails
// with ErrClientClosed at once).
func closed(s *session) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Is(s.cl.Ping(ctx), kgo.ErrClientClosed)
}

func TestSessionsExpireAndAreBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var ss sessions
	short := testSession(t, "short", now.Add(time.Minute))
	tok := ss.add(short, now)
	if len(tok) < 40 {
		t.Fatalf("token %q is short", tok)
	}
	if ss.get(tok, now) != short {
		t.Fatal("a live session is not found")
	}
	if ss.get("forged", now) != nil {
		t.Fatal("an unknown token has a session")
	}
	if ss.get(tok, now.Add(time.Minute)) != nil || !closed(short) {
		t.Fatal("an expired session is still served, or its client open")
	}

	first := testSession(t, "first", now.Add(time.Hour))
	firstTok := ss.add(first, now)
	for i := 1; i < maxSessions; i++ {
		ss.add(testSession(t, "u", now.Add(2*time.Hour)), now)
	}
	if ss.get(firstTok, now) != first {
		t.Fatal("a session was ended before the bound")
	}
	ss.add(testSession(t, "one-more", now.Add(2*time.Hour)), now)
	if ss.get(firstTok, now) != nil || !closed(first) {
		t.Fatal("the session closest to expiry was not ended at the bound")
	}
	ss.closeAll()
	if len(ss.m) != 0 {
		t.Fatalf("%d sessions after closeAll", len(ss.m))
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/topics?q=a":          "/topics?q=a",
		"":                     "/",
		"//evil.example/":      "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
