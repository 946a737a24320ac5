package broker

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/strom-broker/strom/internal/auth"
	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/metadata"
	"github.com/strom-broker/strom/internal/server"
)

// advertisedListeners is what this broker registers in the metadata for
// each listener: its advertised address, or (bound non-nil, a single
// node) the bound address when none is set, so port 0 advertises the
// real port.
func advertisedListeners(specs []auth.Listener, bound []server.BoundListener) ([]metadata.Endpoint, error) {
	out := make([]metadata.Endpoint, 0, len(specs))
	for i, spec := range specs {
		adv := spec.Advertise
		if adv == "" {
			adv = spec.Address
			if bound != nil {
				_, port, _ := net.SplitHostPort(bound[i].Addr.String())
				host, _, _ := net.SplitHostPort(spec.Address)
				adv = net.JoinHostPort(host, port)
			}
		}
		host, port, err := net.SplitHostPort(adv)
		if err != nil {
			return nil, fmt.Errorf("listener %s: advertise %q: %w", spec.Name, adv, err)
		}
		p, err := strconv.ParseInt(port, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("listener %s: advertise %q: bad port", spec.Name, adv)
		}
		out = append(out, metadata.Endpoint{Name: spec.Name, Host: host, Port: int32(p), Protocol: string(spec.Protocol)})
	}
	return out, nil
}

// bootstrapUsers creates the [[sasl.users]] of the config file that do
// not exist yet, salted and iterated (Kafka's 4096 iterations); a user
// changed through AlterUserScramCredentials is never overwritten. A user
// listed for PLAIN only gets a SCRAM-SHA-512 credential, which PLAIN is
// checked against.
func (b *Broker) bootstrapUsers(ctx context.Context, ctrl controller.Controller) error {
	var cmd controller.AlterScramCredentials
	cmd.IfAbsent = true
	for _, u := range b.cfg.SASL.Users {
		raw, err := os.ReadFile(u.PasswordFile)
		if err != nil {
			return fmt.Errorf("sasl.users %s: password_file: %w", u.Name, err)
		}
		password := strings.TrimRight(string(raw), "\r\n")
		if password == "" {
			return fmt.Errorf("sasl.users %s: password_file %s is empty", u.Name, u.PasswordFile)
		}
		mechs := slices.DeleteFunc(slices.Clone(u.Mechanisms), func(m string) bool { return !auth.ScramMechanism(m) })
		if len(mechs) == 0 {
			mechs = []string{auth.MechScramSHA512}
		}
		if _, exists := ctrl.Image().ScramCredentials[u.Name]; exists {
			continue
		}
		for _, m := range mechs {
			cred, err := auth.NewScramCredential(m, password, nil, auth.DefaultScramIterations)
			if err != nil {
				return fmt.Errorf("sasl.users %s: %w", u.Name, err)
			}
			cmd.Upserts = append(cmd.Upserts, controller.ScramUpsert{User: u.Name, Mechanism: m, Credential: cred})
		}
	}
	if len(cmd.Upserts) == 0 {
		return nil
	}
	if err := ctrl.AlterScramCredentials(ctx, cmd); err != nil {
		return fmt.Errorf("create the sasl.users: %w", err)
	}
	return nil
}
