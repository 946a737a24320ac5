package handler

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/auth"
	"github.com/strom-broker/strom/internal/controller"
)

// DescribeUserScramCredentials v0 and AlterUserScramCredentials v0
// (KIP-554), the versions Kafka 4.1 serves.
//
// Credentials live in the metadata image (salt, stored key, server key,
// iterations; never a password). Errors and messages are Kafka's
// (ScramImage.describe, ScramControlManager.alterCredentials).
// Who may call them (ALTER and DESCRIBE on the cluster) is checked
// before the handler (internal/authz).

func init() {
	register(kmsg.DescribeUserSCRAMCredentials, 0, 0, serveDescribeUserScramCredentials)
	register(kmsg.AlterUserSCRAMCredentials, 0, 0, serveAlterUserScramCredentials)
}

// Kafka's ScramMechanism types on the wire.
var scramTypes = map[int8]string{1: auth.MechScramSHA256, 2: auth.MechScramSHA512}

func scramType(mech string) int8 {
	for t, m := range scramTypes {
		if m == mech {
			return t
		}
	}
	return 0
}

func serveDescribeUserScramCredentials(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	im := e.Ctrl.Image()
	dup := map[string]bool{}
	var users []string
	if len(req.Users) == 0 {
		for u := range im.ScramCredentials {
			users = append(users, u)
		}
		sort.Strings(users)
	} else {
		for _, u := range req.Users {
			if _, seen := dup[u.Name]; seen {
				dup[u.Name] = true
				continue
			}
			dup[u.Name] = false
			users = append(users, u.Name)
		}
	}
	for _, u := range users {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u
		creds := im.ScramCredentials[u]
		switch {
		case dup[u]:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = strPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u)
		case len(creds) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = strPtr("Attempt to describe a user credential that does not exist: " + u)
		default:
			for _, mech := range []string{auth.MechScramSHA256, auth.MechScramSHA512} {
				if c, ok := creds[mech]; ok {
					ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
					ci.Mechanism, ci.Iterations = scramType(mech), c.Iterations
					res.CredentialInfos = append(res.CredentialInfos, ci)
				}
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return Now(resp)
}

func strPtr(s string) *string { return &s }

type scramAlterError struct {
	code int16
	msg  string
}

func serveAlterUserScramCredentials(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	return Result{Deferred: func() kmsg.Response {
		im := e.Ctrl.Image()
		errs := map[string]scramAlterError{}
		deletions := map[string]controller.ScramDeletion{}
		upserts := map[string]controller.ScramUpsert{}
		dupErr := scramAlterError{kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request"}
		var order []string // users in the order they came, for stable answers
		seen := map[string]bool{}
		note := func(u string) {
			if !seen[u] {
				seen[u] = true
				order = append(order, u)
			}
		}
		for _, d := range req.Deletions {
			note(d.Name)
			if _, failed := errs[d.Name]; failed {
				continue
			}
			if _, dup := deletions[d.Name]; dup {
				delete(deletions, d.Name)
				errs[d.Name] = dupErr
				continue
			}
			mech, err := checkScramUser(d.Name, d.Mechanism)
			if err == nil {
				if _, ok := im.ScramCredential(d.Name, mech); !ok {
					err = &scramAlterError{kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist"}
				}
			}
			if err != nil {
				errs[d.Name] = *err
				continue
			}
			deletions[d.Name] = controller.ScramDeletion{User: d.Name, Mechanism: mech}
		}
		for _, u := range req.Upsertions {
			note(u.Name)
			if _, failed := errs[u.Name]; failed {
				continue
			}
			_, delDup := deletions[u.Name]
			_, upDup := upserts[u.Name]
			if delDup || upDup {
				delete(deletions, u.Name)
				delete(upserts, u.Name)
				errs[u.Name] = dupErr
				continue
			}
			mech, err := checkScramUser(u.Name, u.Mechanism)
			switch {
			case err != nil:
			case u.Iterations < auth.MinScramIterations:
				err = &scramAlterError{kerr.UnacceptableCredential.Code, "Too few iterations"}
			case u.Iterations > auth.MaxScramIterations:
				err = &scramAlterError{kerr.UnacceptableCredential.Code, "Too many iterations"}
			}
			if err != nil {
				errs[u.Name] = *err
				continue
			}
			upserts[u.Name] = controller.ScramUpsert{User: u.Name, Mechanism: mech,
				Credential: auth.ScramCredentialFromSalted(mech, u.Salt, u.SaltedPassword, int(u.Iterations))}
		}
		var cmd controller.AlterScramCredentials
		for _, u := range order {
			if d, ok := deletions[u]; ok {
				cmd.Deletions = append(cmd.Deletions, d)
			}
			if up, ok := upserts[u]; ok {
				cmd.Upserts = append(cmd.Upserts, up)
			}
		}
		var proposeErr error
		if len(cmd.Deletions)+len(cmd.Upserts) > 0 {
			proposeErr = e.Ctrl.AlterScramCredentials(r.Ctx, cmd)
		}
		for _, u := range order {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User = u
			if ae, failed := errs[u]; failed {
				res.ErrorCode, res.ErrorMessage = ae.code, strPtr(ae.msg)
			} else if proposeErr != nil {
				res.ErrorCode, res.ErrorMessage = e.errCode(proposeErr), errMsg(proposeErr)
			}
			resp.Results = append(resp.Results, res)
		}
		return resp
	}}
}

// checkScramUser is Kafka's validateScramUsernameAndMechanism.
func checkScramUser(name string, mechType int8) (string, *scramAlterError) {
	if name == "" {
		return "", &scramAlterError{kerr.UnacceptableCredential.Code, "Username must not be empty"}
	}
	mech, ok := scramTypes[mechType]
	if !ok {
		return "", &scramAlterError{kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism"}
	}
	return mech, nil
}
