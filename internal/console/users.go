package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The users page: the SCRAM credentials of the cluster (Kafka's
// DescribeUserScramCredentials), created, changed and deleted with
// AlterUserScramCredentials, as kafka-configs --entity-type users does.

type userRow struct {
	Name  string
	Creds []string // "SCRAM-SHA-512 (4096 iterations)"
}

func (c *Console) users(w http.ResponseWriter, r *http.Request) {
	var rows []userRow
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
		described, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			return err
		}
		for name, u := range described {
			if u.Err != nil {
				continue // RESOURCE_NOT_FOUND for a user without credentials
			}
			row := userRow{Name: name}
			for _, ci := range u.CredInfos {
				row.Creds = append(row.Creds, fmt.Sprintf("%s (%d iterations)", ci.Mechanism, ci.Iterations))
			}
			sort.Strings(row.Creds)
			rows = append(rows, row)
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
		return nil
	})
	c.render(w, r, "users", "Users", rows, err)
}

// scramMechanism parses SCRAM-SHA-256 or SCRAM-SHA-512.
func scramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512", "":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

func (c *Console) setUser(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.FormValue("name"))
	err := func() error {
		if name == "" {
			return errors.New("the user name is empty")
		}
		password := r.FormValue("password")
		if password == "" {
			return errors.New("the password is empty")
		}
		mech, err := scramMechanism(r.FormValue("mechanism"))
		if err != nil {
			return err
		}
		iterations := int64(4096)
		if v := strings.TrimSpace(r.FormValue("iterations")); v != "" {
			if iterations, err = strconv.ParseInt(v, 10, 32); err != nil {
				return fmt.Errorf("iterations %q is not a number", v)
			}
		}
		return c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
			res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: name, Mechanism: mech, Iterations: int32(iterations), Password: password}})
			if err != nil {
				return err
			}
			if err := alterErr(res); err != nil {
				return err
			}
			waitApplied(ctx, func(ctx context.Context) bool { return hasCredential(ctx, adm, name, mech) })
			return nil
		})
	}()
	redirect(w, r, "/users", err, "credential of "+name+" set")
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("user")
	err := func() error {
		mech, err := scramMechanism(r.FormValue("mechanism"))
		if err != nil {
			return err
		}
		return c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
			res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: name, Mechanism: mech}}, nil)
			if err != nil {
				return err
			}
			if err := alterErr(res); err != nil {
				return err
			}
			waitApplied(ctx, func(ctx context.Context) bool { return !hasCredential(ctx, adm, name, mech) })
			return nil
		})
	}()
	redirect(w, r, "/users", err, "credential of "+name+" deleted")
}

// hasCredential reports whether the node that answers lists user's
// credential for mech.
func hasCredential(ctx context.Context, adm *kadm.Client, user string, mech kadm.ScramMechanism) bool {
	described, err := adm.DescribeUserSCRAMs(ctx, user)
	if err != nil {
		return false
	}
	d, ok := described[user]
	if !ok || d.Err != nil {
		return false
	}
	for _, ci := range d.CredInfos {
		if ci.Mechanism == mech {
			return true
		}
	}
	return false
}

func alterErr(res kadm.AlteredUserSCRAMs) error {
	for _, u := range res {
		if u.Err != nil {
			if u.ErrMessage != "" {
				return fmt.Errorf("%w: %s", u.Err, u.ErrMessage)
			}
			return u.Err
		}
	}
	return nil
}
