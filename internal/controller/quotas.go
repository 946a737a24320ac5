package controller

import (
	"context"
	"fmt"

	"github.com/strom-broker/strom/internal/metadata"
)

const opAlterClientQuotas = "alter_client_quotas"

// ClientQuotaChange sets one quota key of one entity, or removes it when
// Value is nil (Kafka's ClientQuotaRecord).
type ClientQuotaChange struct {
	Entity []metadata.QuotaComponent `json:"entity"`
	Key    string                    `json:"key"`
	Value  *float64                  `json:"value,omitempty"`
}

// AlterClientQuotas changes client quotas (KIP-546). The changes are
// validated by the proposer (the AlterClientQuotas handler) and applied
// together.
type AlterClientQuotas struct {
	Changes []ClientQuotaChange `json:"changes,omitempty"`
}

func (*AlterClientQuotas) op() string { return opAlterClientQuotas }

func (c *AlterClientQuotas) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	for _, ch := range c.Changes {
		if _, ok := metadata.QuotaEntityOf(ch.Entity); !ok || len(ch.Entity) == 0 || ch.Key == "" {
			return nil, 0, fmt.Errorf("alter client quotas: bad entity %v or key %q", ch.Entity, ch.Key)
		}
	}
	next := im.Clone()
	if next.ClientQuotas == nil {
		next.ClientQuotas = map[metadata.QuotaEntity]map[string]float64{}
	}
	for _, ch := range c.Changes {
		e, _ := metadata.QuotaEntityOf(ch.Entity)
		vs := next.ClientQuotas[e]
		if ch.Value == nil {
			delete(vs, ch.Key)
			if len(vs) == 0 {
				delete(next.ClientQuotas, e)
			}
			continue
		}
		if vs == nil {
			vs = map[string]float64{}
			next.ClientQuotas[e] = vs
		}
		vs[ch.Key] = *ch.Value
	}
	if len(next.ClientQuotas) == 0 {
		next.ClientQuotas = nil
	}
	return next, 0, nil
}

// AlterClientQuotas implements Controller.
func (c *Local) AlterClientQuotas(_ context.Context, cmd AlterClientQuotas) error {
	_, err := c.apply(&cmd)
	return err
}

// AlterClientQuotas implements Controller.
func (c *Raft) AlterClientQuotas(ctx context.Context, cmd AlterClientQuotas) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	_, err := c.propose(ctx, &cmd)
	return err
}
