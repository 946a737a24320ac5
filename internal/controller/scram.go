package controller

import (
	"context"
	"fmt"

	"github.com/strom-broker/strom/internal/metadata"
)

const opAlterScramCredentials = "alter_scram_credentials"

// ScramUpsert sets one user's credential for one mechanism; the salted
// keys are computed by the proposer, so apply never sees a password.
type ScramUpsert struct {
	User       string                   `json:"user"`
	Mechanism  string                   `json:"mechanism"`
	Credential metadata.ScramCredential `json:"credential"`
}

// ScramDeletion removes one user's credential for one mechanism.
type ScramDeletion struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
}

// AlterScramCredentials changes SASL/SCRAM users (KIP-554). With
// IfAbsent an upsert of a user that already has any credential changes
// nothing: the bootstrap users of the config file never overwrite a
// credential changed through the API (kafka-storage format --add-scram).
type AlterScramCredentials struct {
	Upserts   []ScramUpsert   `json:"upserts,omitempty"`
	Deletions []ScramDeletion `json:"deletions,omitempty"`
	IfAbsent  bool            `json:"if_absent,omitempty"`
}

func (*AlterScramCredentials) op() string { return opAlterScramCredentials }

func (c *AlterScramCredentials) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	for _, u := range c.Upserts {
		if u.User == "" || u.Mechanism == "" {
			return nil, 0, fmt.Errorf("alter scram credentials: empty user or mechanism")
		}
	}
	next := im.Clone()
	if next.ScramCredentials == nil {
		next.ScramCredentials = map[string]map[string]metadata.ScramCredential{}
	}
	for _, d := range c.Deletions {
		m := next.ScramCredentials[d.User]
		delete(m, d.Mechanism)
		if len(m) == 0 {
			delete(next.ScramCredentials, d.User)
		}
	}
	existed := map[string]bool{}
	for u := range im.ScramCredentials {
		existed[u] = true
	}
	for _, u := range c.Upserts {
		if c.IfAbsent && existed[u.User] {
			continue
		}
		m := next.ScramCredentials[u.User]
		if m == nil {
			m = map[string]metadata.ScramCredential{}
			next.ScramCredentials[u.User] = m
		}
		m[u.Mechanism] = u.Credential
	}
	if len(next.ScramCredentials) == 0 {
		next.ScramCredentials = nil
	}
	return next, 0, nil
}

// AlterScramCredentials implements Controller.
func (c *Local) AlterScramCredentials(_ context.Context, cmd AlterScramCredentials) error {
	_, err := c.apply(&cmd)
	return err
}

// AlterScramCredentials implements Controller.
func (c *Raft) AlterScramCredentials(ctx context.Context, cmd AlterScramCredentials) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	_, err := c.propose(ctx, &cmd)
	return err
}
