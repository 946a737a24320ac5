package console

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// RequireOperator guards h (the node's profiles, /debug/pprof/) with the
// console's login when it has one: the request carries a console session
// (a browser signed in) or HTTP basic credentials of a SASL user (go tool
// pprof, curl -u), checked as a login is, and the user must be allowed
// DESCRIBE_CONFIGS on the cluster — what kafka-configs --describe
// --entity-type brokers needs — which the broker decides through its
// authorizer (super users always; everyone when authorization is off).
// Without credentials it answers 401 asking for basic authentication, a
// user the authorizer refuses 403. Without a login (no SASL configured)
// h is served as is, as the console is.
func (c *Console) RequireOperator(h http.Handler) http.Handler {
	if c.cfg.Login == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := c.ctx(r)
		defer cancel()
		var s *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			s = c.sessions.get(ck.Value, time.Now())
		}
		if s == nil {
			if user, pass, ok := r.BasicAuth(); ok && user != "" && pass != "" {
				ns, err := c.authenticate(ctx, user, pass)
				if err != nil && !errors.Is(err, errBadLogin) {
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
				if ns != nil {
					defer ns.cl.Close()
					s = ns
				} else {
					c.cfg.Logger.Info("profile access refused: bad credentials", "user", user, "remote", r.RemoteAddr)
				}
			}
		}
		if s == nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="strom", charset="UTF-8"`)
			http.Error(w, "login required", http.StatusUnauthorized)
			return
		}
		req := kmsg.NewPtrDescribeConfigsRequest()
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType = kmsg.ConfigResourceTypeBroker
		res.ResourceName = strconv.Itoa(int(c.cfg.NodeID))
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, s.cl)
		if err != nil {
			http.Error(w, "checking the user's access: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, rr := range resp.Resources {
			if err := kerr.ErrorForCode(rr.ErrorCode); err != nil {
				if errors.Is(err, kerr.ClusterAuthorizationFailed) {
					c.cfg.Logger.Info("profile access refused: not allowed DESCRIBE_CONFIGS on the cluster", "user", s.user, "remote", r.RemoteAddr)
					http.Error(w, "user "+s.user+" is not allowed DESCRIBE_CONFIGS on the cluster", http.StatusForbidden)
					return
				}
				http.Error(w, "checking the user's access: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
