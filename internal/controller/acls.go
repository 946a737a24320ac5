package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/strom-broker/strom/internal/metadata"
)

const opAlterACLs = "alter_acls"

// AlterACLs removes and adds access control entries (CreateAcls,
// DeleteAcls). Deletions name exact entries — the proposer resolved the
// request's filters against the image it read — so replaying the log
// never depends on how a filter matched; an entry already gone is
// skipped, as is a creation already present (Kafka keeps each binding
// once).
type AlterACLs struct {
	Creations []metadata.ACL `json:"creations,omitempty"`
	Deletions []metadata.ACL `json:"deletions,omitempty"`
}

func (*AlterACLs) op() string { return opAlterACLs }

func (c *AlterACLs) apply(im *metadata.Image) (*metadata.Image, int64, error) {
	for _, a := range c.Creations {
		if a.ResourceName == "" || a.Principal == "" || a.Host == "" {
			return nil, 0, fmt.Errorf("alter acls: empty resource name, principal or host in %+v", a)
		}
	}
	next := im.Clone()
	if len(c.Deletions) > 0 {
		next.ACLs = slices.DeleteFunc(next.ACLs, func(a metadata.ACL) bool {
			return slices.Contains(c.Deletions, a)
		})
	}
	for _, a := range c.Creations {
		if !slices.Contains(next.ACLs, a) {
			next.ACLs = append(next.ACLs, a)
		}
	}
	if len(next.ACLs) == 0 {
		next.ACLs = nil
	}
	return next, 0, nil
}

// AlterACLs implements Controller.
func (c *Local) AlterACLs(_ context.Context, cmd AlterACLs) error {
	_, err := c.apply(&cmd)
	return err
}

// AlterACLs implements Controller.
func (c *Raft) AlterACLs(ctx context.Context, cmd AlterACLs) error {
	if err := c.awaitReady(ctx); err != nil {
		return err
	}
	_, err := c.propose(ctx, &cmd)
	return err
}
