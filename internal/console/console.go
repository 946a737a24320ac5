// Package console is Strom's web console, served at / of the admin
// listener: the cluster's nodes, topics (create, delete, configs,
// partitions), messages (browse, produce), consumer groups (lag, reset,
// delete) and live charts. Pages are rendered on the server from the
// templates in web/ (embedded in the binary; no build step, no Node.js).
//
// The console is a Kafka client of its own node: it reads and changes the
// cluster through the Kafka protocol (franz-go's kadm), as any admin tool
// does, so what it shows is what clients see and every change it makes
// goes through the same checks (internal topics, configs, ...).
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed web
var webFS embed.FS

// Config is what the console needs from its node.
type Config struct {
	// Bootstrap returns the node's own Kafka address (known once its
	// listener is bound).
	Bootstrap func() string
	// NodeID is shown as the node serving the console.
	NodeID int32
	// Registry is the node's metrics, read for the live charts.
	Registry prometheus.Gatherer
	Logger   *slog.Logger
	// Login, when set, requires a login for every page (see Login);
	// without it the console uses one unauthenticated client.
	Login *Login
	// NodeVersions returns the software version each broker registered
	// with (no Kafka API carries it); nil: not shown.
	NodeVersions func() map[int32]string
}

// Console serves the pages. Its Kafka client is made on first use, so a
// node that is not serving yet still renders an error page, not nothing.
type Console struct {
	cfg   Config
	rates topicRates
	tmpl  map[string]*template.Template
	mux   *http.ServeMux

	mu  sync.Mutex
	cl  *kgo.Client
	adm *kadm.Client

	sessions sessions
}

// pageSize is how many rows a list shows per page.
const pageSize = 50

// New parses the templates and routes the pages.
func New(cfg Config) (*Console, error) {
	c := &Console{cfg: cfg, tmpl: map[string]*template.Template{}, mux: http.NewServeMux()}
	funcs := template.FuncMap{
		"bytes":  humanBytes,
		"join":   func(v []int32) string { return joinInts(v) },
		"add":    func(a, b int) int { return a + b },
		"qs":     url.QueryEscape,
		"ptime":  func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000") },
		"inList": func(v int32, list []int32) bool { return containsInt(list, v) },
	}
	pages, err := fs.Glob(webFS, "web/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "web/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/layout.html", p)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", p, err)
		}
		c.tmpl[name] = t
	}
	static, _ := fs.Sub(webFS, "web/static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /{$}", c.overview)
	c.mux.HandleFunc("GET /topics", c.topics)
	c.mux.HandleFunc("POST /topics", c.createTopic)
	c.mux.HandleFunc("GET /topics/{topic}", c.topic)
	c.mux.HandleFunc("POST /topics/{topic}/delete", c.deleteTopic)
	c.mux.HandleFunc("POST /topics/{topic}/configs", c.alterConfigs)
	c.mux.HandleFunc("POST /topics/{topic}/partitions", c.addPartitions)
	c.mux.HandleFunc("GET /topics/{topic}/messages", c.messages)
	c.mux.HandleFunc("POST /topics/{topic}/produce", c.produce)
	c.mux.HandleFunc("GET /groups", c.groups)
	c.mux.HandleFunc("GET /groups/{group}", c.group)
	c.mux.HandleFunc("POST /groups/{group}/reset", c.resetGroup)
	c.mux.HandleFunc("POST /groups/{group}/delete", c.deleteGroup)
	c.mux.HandleFunc("GET /acls", c.acls)
	c.mux.HandleFunc("POST /acls", c.createACL)
	c.mux.HandleFunc("POST /acls/delete", c.deleteACL)
	c.mux.HandleFunc("GET /users", c.users)
	c.mux.HandleFunc("POST /users", c.setUser)
	c.mux.HandleFunc("POST /users/{user}/delete", c.deleteUser)
	c.mux.HandleFunc("GET /charts", c.charts)
	c.mux.HandleFunc("GET /api/series", c.series)
	if cfg.Login != nil {
		c.mux.HandleFunc("GET /login", c.loginPage)
		c.mux.HandleFunc("POST /login", c.login)
		c.mux.HandleFunc("POST /logout", c.logout)
	}
	return c, nil
}

// ServeHTTP serves the console. Changes (POST) must come from a page of
// the console itself: a form of another site posting here is refused.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && !sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'")
	if c.cfg.Login != nil {
		w.Header().Set("Cache-Control", "no-store")
		c.requireLogin(w, r)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		origin = r.Header.Get("Referer")
	}
	if origin == "" {
		return true // not a browser's cross-site form: curl and tests
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// Close releases the console's Kafka clients and ends every session.
func (c *Console) Close() {
	c.sessions.closeAll()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cl != nil {
		c.cl.Close()
		c.cl, c.adm = nil, nil
	}
}

// admin returns the clients of r: its session's (as the logged-in user)
// with a login, else the console's own.
func (c *Console) admin(r *http.Request) (*kadm.Client, *kgo.Client, error) {
	if c.cfg.Login != nil {
		s := sessionOf(r)
		if s == nil {
			return nil, nil, errors.New("login required")
		}
		return s.adm, s.cl, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.adm == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.Bootstrap()), kgo.ClientID("strom-console"),
			kgo.RequestTimeoutOverhead(5*time.Second), kgo.RetryTimeout(5*time.Second))
		if err != nil {
			return nil, nil, err
		}
		c.cl, c.adm = cl, kadm.NewClient(cl)
	}
	return c.adm, c.cl, nil
}

// newClient is a further client for r (a consumer, a producer to a chosen
// partition), as the session's user with a login; the caller closes it.
func (c *Console) newClient(r *http.Request, opts ...kgo.Opt) (*kgo.Client, error) {
	if c.cfg.Login != nil {
		s := sessionOf(r)
		if s == nil {
			return nil, errors.New("login required")
		}
		return c.newSessionClient(s.mech, opts...)
	}
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.cfg.Bootstrap()), kgo.ClientID("strom-console")}, opts...)...)
}

// requestTimeout bounds the Kafka requests of one page.
const requestTimeout = 10 * time.Second

func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), requestTimeout)
}

// withAdmin runs fn with the clients of r (see admin) and a context that
// bounds its Kafka requests by requestTimeout.
func (c *Console) withAdmin(r *http.Request, fn func(ctx context.Context, adm *kadm.Client, cl *kgo.Client) error) error {
	adm, cl, err := c.admin(r)
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	return fn(ctx, adm, cl)
}

// page is what every template gets.
type page struct {
	User   string // the logged-in user, with a login
	Title  string
	Nav    string
	NodeID int32
	Error  string
	Notice string
	Data   any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, name, title string, data any, err error) {
	p := page{Title: title, Nav: name, NodeID: c.cfg.NodeID, Data: data, Notice: r.URL.Query().Get("notice")}
	if s := sessionOf(r); s != nil {
		p.User = s.user
	}
	if err != nil {
		p.Error = err.Error()
	}
	if e := r.URL.Query().Get("error"); e != "" && p.Error == "" {
		p.Error = e
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.tmpl[name].Execute(w, p); err != nil {
		c.cfg.Logger.Warn("console page", "page", name, "err", err)
	}
}

// redirect answers a form with a redirect to target, carrying the outcome.
func redirect(w http.ResponseWriter, r *http.Request, target string, err error, notice string) {
	q := url.Values{}
	if err != nil {
		q.Set("error", err.Error())
	} else if notice != "" {
		q.Set("notice", notice)
	}
	if len(q) > 0 {
		if strings.Contains(target, "?") {
			target += "&" + q.Encode()
		} else {
			target += "?" + q.Encode()
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func formInt(r *http.Request, key string, def int64) (int64, error) {
	v := strings.TrimSpace(r.FormValue(key))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", key, v)
	}
	return n, nil
}

// firstErr returns the first error of a kadm per-item result.
func firstErr(errs ...error) error { return errors.Join(errs...) }

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func joinInts(v []int32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, ",")
}

func containsInt(list []int32, v int32) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
