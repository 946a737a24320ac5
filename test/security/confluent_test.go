//go:build cgo

package security_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// TestConfluentSASLSSL: librdkafka (confluent-kafka-go) with
// security.protocol SASL_SSL, ssl.ca.location and SCRAM-SHA-512 (PLAIN
// and SCRAM-SHA-256 in the full run) produces and consumes; a wrong
// password is refused.
func TestConfluentSASLSSL(t *testing.T) {
	sb := startSecureBroker(t, "none")
	mechs := []string{"SCRAM-SHA-512"}
	if full() {
		mechs = append(mechs, "PLAIN", "SCRAM-SHA-256")
	}
	for _, mech := range mechs {
		t.Run(mech, func(t *testing.T) {
			topic := testkit.TopicName(t, "")
			testkit.CreateTopic(t, sb.internal, topic, 1, nil)
			conf := rdkafkaConf(sb, mech, adminPassword)
			p, err := kafka.NewProducer(&conf)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("over tls")}, nil); err != nil {
				t.Fatal(err)
			}
			ev := <-p.Events()
			if m, ok := ev.(*kafka.Message); !ok || m.TopicPartition.Error != nil {
				t.Fatalf("delivery: %v", ev)
			}
			cconf := rdkafkaConf(sb, mech, adminPassword)
			cconf["group.id"] = "unused"
			c, err := kafka.NewConsumer(&cconf)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
				t.Fatal(err)
			}
			m, err := c.ReadMessage(20 * time.Second)
			if err != nil || string(m.Value) != "over tls" {
				t.Fatalf("consume: %v %v", m, err)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		conf := rdkafkaConf(sb, "SCRAM-SHA-512", "wrong")
		p, err := kafka.NewProducer(&conf)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev := <-p.Events():
				if e, ok := ev.(kafka.Error); ok {
					if e.Code() != kafka.ErrAuthentication || !strings.Contains(e.String(), "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512") {
						t.Fatalf("wrong password: %v (code %v)", e, e.Code())
					}
					return
				}
			case <-deadline:
				t.Fatal("no authentication error reported")
			}
		}
	})
}

func rdkafkaConf(sb *secureBroker, mech, password string) kafka.ConfigMap {
	return kafka.ConfigMap{
		"bootstrap.servers":                     sb.client,
		"security.protocol":                     "SASL_SSL",
		"sasl.mechanism":                        mech,
		"sasl.username":                         "admin",
		"sasl.password":                         password,
		"ssl.ca.location":                       sb.pki.caFile,
		"ssl.endpoint.identification.algorithm": "https",
		"message.timeout.ms":                    20000,
	}
}

// TestConfluentOAuthBearer: librdkafka (confluent-kafka-go) with
// OAUTHBEARER over SASL_SSL, the signed token given with
// SetOAuthBearerToken (librdkafka's own unsecured JWTs are not signed),
// produces, consumes in a group and commits; an expired token is refused
// with an authentication error carrying Kafka's error JSON. Full run only.
func TestConfluentOAuthBearer(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	p := newIDP(t)
	sb := startSecureBroker(t, "none", withOAuth(p))
	conf := func() kafka.ConfigMap {
		c := rdkafkaConf(sb, "OAUTHBEARER", "")
		delete(c, "sasl.username")
		delete(c, "sasl.password")
		return c
	}
	token := func(life time.Duration) kafka.OAuthBearerToken {
		return kafka.OAuthBearerToken{TokenValue: p.token(t, "admin", life), Expiration: time.Now().Add(life), Principal: "admin"}
	}
	topic, group := testkit.TopicName(t, ""), testkit.TopicName(t, "group")
	testkit.CreateTopic(t, sb.internal, topic, 1, nil)
	pconf := conf()
	prod, err := kafka.NewProducer(&pconf)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.SetOAuthBearerToken(token(time.Hour)); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := 0; i < n; i++ {
		if err := prod.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("oauth")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for delivered := 0; delivered < n; {
		select {
		case ev := <-prod.Events():
			switch e := ev.(type) {
			case *kafka.Message:
				if e.TopicPartition.Error != nil {
					t.Fatalf("delivery: %v", e.TopicPartition.Error)
				}
				delivered++
			case kafka.OAuthBearerTokenRefresh:
				prod.SetOAuthBearerToken(token(time.Hour))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d delivered", delivered, n)
		}
	}
	cconf := conf()
	cconf["group.id"] = group
	cconf["auto.offset.reset"] = "earliest"
	cconf["enable.auto.commit"] = false
	cons, err := kafka.NewConsumer(&cconf)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.SetOAuthBearerToken(token(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := cons.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	for seen := 0; seen < n; {
		m, err := cons.ReadMessage(30 * time.Second)
		if err != nil {
			t.Fatalf("group consume after %d records: %v", seen, err)
		}
		if string(m.Value) != "oauth" {
			t.Fatalf("read %q", m.Value)
		}
		seen++
	}
	offs, err := cons.Commit()
	if err != nil || len(offs) != 1 || offs[0].Offset != n {
		t.Fatalf("commit: %v %v", offs, err)
	}

	t.Run("expired token", func(t *testing.T) {
		bad := conf()
		prod, err := kafka.NewProducer(&bad)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		expired := token(-time.Hour)
		expired.Expiration = time.Now().Add(time.Hour) // librdkafka refuses to set a past expiry
		if err := prod.SetOAuthBearerToken(expired); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev := <-prod.Events():
				if e, ok := ev.(kafka.Error); ok {
					if e.Code() != kafka.ErrAuthentication || !strings.Contains(e.String(), `{"status":"invalid_token"}`) {
						t.Fatalf("expired token: %v (code %v)", e, e.Code())
					}
					return
				}
			case <-deadline:
				t.Fatal("no authentication error reported")
			}
		}
	})
}

// TestConfluentOAuthBearerOIDC: librdkafka's OIDC login
// (confluent-kafka-go, sasl.oauthbearer.method=oidc; the packaged kcat's
// librdkafka is built without it) fetches a signed JWT from a token endpoint
// with the client credentials grant, and the broker checks it against the
// same issuer's JWKS URL (jwks_url); the client produces and reads back. A client
// the endpoint issues a token of another audience is refused. Full run
// only.
func TestConfluentOAuthBearerOIDC(t *testing.T) {
	if !full() {
		t.Skip("STROM_SECURITY=full (make security-test)")
	}
	p := newIDP(t)
	jwks, err := os.ReadFile(p.jwksFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			w.Header().Set("Content-Type", "application/json")
			w.Write(jwks)
		case "/token":
			id, secret, ok := r.BasicAuth()
			if !ok || secret != "client-secret" || r.FormValue("grant_type") != "client_credentials" {
				http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
				return
			}
			var edit []func(jwt.MapClaims)
			if id == "elsewhere" {
				edit = append(edit, func(c jwt.MapClaims) { c["aud"] = "another-service" })
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"access_token": p.token(t, id, time.Hour, edit...), "token_type": "bearer", "expires_in": 3600})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	sb := startSecureBroker(t, "none", withOAuth(p), func(c *config.Config) {
		c.SASL.OAuthBearer.JWKSFile = ""
		c.SASL.OAuthBearer.JWKSURL = srv.URL + "/jwks"
	})
	conf := func(client string) kafka.ConfigMap {
		c := rdkafkaConf(sb, "OAUTHBEARER", "")
		delete(c, "sasl.username")
		delete(c, "sasl.password")
		c["sasl.oauthbearer.method"] = "oidc"
		c["sasl.oauthbearer.client.id"] = client
		c["sasl.oauthbearer.client.secret"] = "client-secret"
		c["sasl.oauthbearer.token.endpoint.url"] = srv.URL + "/token"
		return c
	}
	topic := testkit.TopicName(t, "")
	testkit.CreateTopic(t, sb.internal, topic, 1, nil)
	pconf := conf("svc-orders")
	prod, err := kafka.NewProducer(&pconf)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0}, Value: []byte("oidc")}, nil); err != nil {
		t.Fatal(err)
	}
	if m, ok := (<-prod.Events()).(*kafka.Message); !ok || m.TopicPartition.Error != nil {
		t.Fatalf("delivery: %v", m)
	}
	cconf := conf("svc-orders")
	cconf["group.id"] = "unused"
	cons, err := kafka.NewConsumer(&cconf)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
		t.Fatal(err)
	}
	if m, err := cons.ReadMessage(20 * time.Second); err != nil || string(m.Value) != "oidc" {
		t.Fatalf("consume: %v %v", m, err)
	}

	bad := conf("elsewhere")
	other, err := kafka.NewProducer(&bad)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-other.Events():
			if e, ok := ev.(kafka.Error); ok {
				if e.Code() != kafka.ErrAuthentication || !strings.Contains(e.String(), `{"status":"invalid_token"}`) {
					t.Fatalf("token for another audience: %v (code %v)", e, e.Code())
				}
				return
			}
		case <-deadline:
			t.Fatal("no authentication error reported")
		}
	}
}
