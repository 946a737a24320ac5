package security_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/xdg-go/scram"

	"github.com/strom-broker/strom/internal/testkit"
)

// saramaSCRAM is sarama's SCRAMClient over xdg-go/scram.
type saramaSCRAM struct {
	gen scram.HashGeneratorFcn
	cv  *scram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, password, authzID string) error {
	c, err := s.gen.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.cv = c.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.cv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.cv.Done() }

// saramaToken is a fixed OAUTHBEARER token.
type saramaToken string

func (t saramaToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: string(t), Extensions: map[string]string{"traceId": "sarama"}}, nil
}

// saramaConfig is sarama over the SASL_SSL listener with mech; secret is
// the password or the token.
func saramaConfig(sb *secureBroker, mech, secret string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "strom-test-sarama"
	cfg.Version = sarama.V3_6_0_0
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = sb.clientTLS()
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Version = sarama.SASLHandshakeV1
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	cfg.Net.SASL.User, cfg.Net.SASL.Password = "admin", secret
	switch mech {
	case sarama.SASLTypeSCRAMSHA512:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{gen: sha512.New} }
	case sarama.SASLTypeSCRAMSHA256:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{gen: sha256.New} }
	case sarama.SASLTypeOAuth:
		cfg.Net.SASL.TokenProvider = saramaToken(secret)
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Return.Errors = true
	cfg.Metadata.Retry.Max = 2
	return cfg
}

// saramaGroup reads want records of a session and commits them when it
// ends.
// saramaRoundTrip produces n records to topic with sarama's sync producer
// and consumes them in group with its consumer group, which commits them;
// each client gets its own config from cfg.
func saramaRoundTrip(t *testing.T, brokers []string, cfg func() *sarama.Config, topic, group string, n int) {
	t.Helper()
	prod, err := sarama.NewSyncProducer(brokers, cfg())
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	for range n {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("v")}); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	prod.Close()

	cg, err := sarama.NewConsumerGroup(brokers, group, cfg())
	if err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	h := &saramaGroup{want: n, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		var err error
		for ctx.Err() == nil && err == nil {
			err = cg.Consume(ctx, []string{topic}, h)
		}
		errc <- err
	}()
	go func() {
		for err := range cg.Errors() {
			t.Logf("sarama group error: %v", err)
		}
	}()
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		t.Error("sarama group read too few records")
	}
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("consume: %v", err)
	}
	if err := cg.Close(); err != nil {
		t.Errorf("close group: %v", err)
	}
}

type saramaGroup struct {
	mu   sync.Mutex
	seen int
	want int
	done chan struct{}
	once sync.Once
}

func (h *saramaGroup) Setup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaGroup) Cleanup(sess sarama.ConsumerGroupSession) error {
	sess.Commit()
	return nil
}

func (h *saramaGroup) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		sess.MarkMessage(msg, "")
		h.mu.Lock()
		h.seen++
		if h.seen >= h.want {
			h.once.Do(func() { close(h.done) })
		}
		h.mu.Unlock()
	}
	return nil
}

// TestSaramaSASLSSL: sarama over SASL_SSL with PLAIN (SCRAM-SHA-512 and
// OAUTHBEARER in the full run) produces, consumes in a group and commits;
// a wrong password and an expired token are refused with
// SASL_AUTHENTICATION_FAILED.
func TestSaramaSASLSSL(t *testing.T) {
	p := newIDP(t)
	sb := startSecureBroker(t, "none", withOAuth(p))
	cases := map[string]string{sarama.SASLTypePlaintext: adminPassword}
	if full() {
		cases[sarama.SASLTypeSCRAMSHA512] = adminPassword
		cases[sarama.SASLTypeOAuth] = p.token(t, "admin", time.Hour)
	}
	for mech, secret := range cases {
		t.Run(mech, func(t *testing.T) {
			topic, group := testkit.TopicName(t, ""), testkit.TopicName(t, "group")
			testkit.CreateTopic(t, sb.internal, topic, 1, nil)
			const n = 5
			saramaRoundTrip(t, []string{sb.client}, func() *sarama.Config { return saramaConfig(sb, mech, secret) }, topic, group, n)
			actx, acancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer acancel()
			offs, err := kadm.NewClient(franzClient(t, sb.internal, nil, nil)).FetchOffsets(actx, group)
			if err != nil {
				t.Fatal(err)
			}
			if o, ok := offs.Lookup(topic, 0); !ok || o.At != n {
				t.Fatalf("committed %+v, want %d", o, n)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct{ mech, secret, want string }{
			{sarama.SASLTypePlaintext, "wrong", "Invalid username or password"},
			// sarama answers the RFC 7628 error challenge with the four
			// characters `\x01` rather than the byte 0x01; Kafka parses
			// that as a new initial response and refuses it with its
			// generic message, and so does Strom.
			{sarama.SASLTypeOAuth, p.token(t, "admin", -time.Hour), "invalid credentials with SASL mechanism OAUTHBEARER"},
		} {
			cfg := saramaConfig(sb, c.mech, c.secret)
			cfg.Metadata.Retry.Max = 0
			_, err := sarama.NewClient([]string{sb.client}, cfg)
			if err == nil {
				t.Fatalf("%s: client connected", c.mech)
			}
			if !strings.Contains(err.Error(), "SASL Authentication failed") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s: %v", c.mech, err)
			}
		}
	})
}
