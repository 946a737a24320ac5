package console_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strom-broker/strom/internal/config"
	"github.com/strom-broker/strom/internal/testkit"
)

// testCA issues certificates for 127.0.0.1; pool trusts it.
type testCA struct {
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	caFile string
	serial int64
}

// testCert is a broker certificate issued by a testCA, as files.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
	spki              string // base64 SHA-256 of the broker key, for Chromium's pin
}

func newTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strom console test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{dir: dir, key: caKey, pool: x509.NewCertPool(), serial: 1}
	ca.cert, _ = x509.ParseCertificate(caDER)
	ca.pool.AddCert(ca.cert)
	ca.caFile = writePEMFile(t, dir, "ca.pem", "CERTIFICATE", caDER)
	return ca
}

func writePEMFile(t *testing.T, dir, name, typ string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue writes a new server certificate for 127.0.0.1 named name.
func (ca *testCA) issue(t *testing.T, name string) testCert {
	t.Helper()
	ca.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	tc := testCert{certFile: writePEMFile(t, ca.dir, name+".pem", "CERTIFICATE", der),
		keyFile: writePEMFile(t, ca.dir, name+"-key.pem", "EC PRIVATE KEY", kder), pool: ca.pool}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	tc.spki = base64.StdEncoding.EncodeToString(sum[:])
	return tc
}

func writeSecret(t *testing.T, dir, name, secret string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConsoleLogin: with a SASL_SSL listener and SASL users, the admin
// listener serves HTTPS, probes need no login, /metrics has its own basic
// authentication, and the console asks for a login checked against the
// broker's own SASL users, in a real Chromium.
func TestConsoleLogin(t *testing.T) {
	dir := t.TempDir()
	tc := newTestCA(t, dir).issue(t, "broker")
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	kafka := fmt.Sprintf("127.0.0.1:%d", port)
	adminPW := writeSecret(t, dir, "admin.password", "admin-secret")
	beaPW := writeSecret(t, dir, "bea.password", "bea-secret")
	promPW := writeSecret(t, dir, "prom.password", "scrape-secret")
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.Listeners = []config.Listener{{Name: "CLIENT", Address: kafka, Protocol: "SASL_SSL",
			SASLMechanisms: []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}}}
		c.Listen = kafka
		c.TLS = config.TLS{CertFile: tc.certFile, KeyFile: tc.keyFile}
		c.SASL.Users = []config.SASLUser{
			{Name: "admin", PasswordFile: adminPW, Mechanisms: []string{"SCRAM-SHA-512"}},
			{Name: "bea", PasswordFile: beaPW, Mechanisms: []string{"PLAIN"}},
		}
		c.Admin.MetricsUsername, c.Admin.MetricsPasswordFile = "prom", promPW
		// Authorization on, open by default: the walk denies carol a
		// write with an ACL made in the console.
		c.Authorization = config.Authorization{Enabled: true, SuperUsers: []string{"User:admin"}, AllowEveryoneIfNoACLFound: true}
	}))
	base := "https://" + b.AdminAddr()
	hc := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tc.pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	get := func(path string, mod func(*http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if mod != nil {
			mod(req)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	// Probes over HTTPS, no login.
	if r := get("/healthz", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", r.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for r := get("/readyz", nil); r.StatusCode != http.StatusOK; r = get("/readyz", nil) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d", r.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Plain HTTP gets no page.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + b.AdminAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the admin listener answered plain HTTP with security configured")
		}
	}
	// /metrics: its own basic authentication, not the console's login.
	if r := get("/metrics", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without credentials = %d, want 401", r.StatusCode)
	}
	if r := get("/metrics", func(q *http.Request) { q.SetBasicAuth("prom", "wrong") }); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics with a wrong password = %d, want 401", r.StatusCode)
	}
	if r := get("/metrics", func(q *http.Request) { q.SetBasicAuth("prom", "scrape-secret") }); r.StatusCode != http.StatusOK {
		t.Fatalf("/metrics with the password = %d, want 200", r.StatusCode)
	}

	// Profiles: the console's login or the metrics credentials.
	if r := get("/debug/pprof/cmdline", nil); r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("/debug/pprof/ without credentials = %d (%q), want 401 asking for basic auth", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	for _, who := range [][2]string{{"admin", "wrong"}, {"nobody", "admin-secret"}, {"prom", "wrong"}} {
		if r := get("/debug/pprof/cmdline", func(q *http.Request) { q.SetBasicAuth(who[0], who[1]) }); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/debug/pprof/ as %s:%s = %d, want 401", who[0], who[1], r.StatusCode)
		}
	}
	for _, who := range [][2]string{{"prom", "scrape-secret"}, {"admin", "admin-secret"}, {"bea", "bea-secret"}} {
		if r := get("/debug/pprof/goroutine?debug=1", func(q *http.Request) { q.SetBasicAuth(who[0], who[1]) }); r.StatusCode != http.StatusOK {
			t.Fatalf("/debug/pprof/goroutine as %s = %d, want 200", who[0], r.StatusCode)
		}
	}

	// Without a session: pages redirect, the API answers 401, changes 403.
	if r := get("/topics", nil); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("/topics without login = %d to %q, want 303 to /login", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get("/api/series", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/api/series without login = %d, want 401", r.StatusCode)
	}
	if resp, err := hc.PostForm(base+"/topics", url.Values{"name": {"sneaky"}, "partitions": {"1"}}); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /topics without login = %d, want 403", resp.StatusCode)
	}
	if r := get("/", func(q *http.Request) { q.AddCookie(&http.Cookie{Name: "strom_session", Value: "forged"}) }); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("/ with a forged session = %d, want 303", r.StatusCode)
	}

	// bea holds a PLAIN credential only: the login falls back to PLAIN,
	// and the cookie is HttpOnly, Secure and SameSite=Strict.
	resp, err := hc.PostForm(base+"/login", url.Values{"user": {"bea"}, "password": {"bea-secret"}, "next": {"/groups"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/groups" {
		t.Fatalf("login as bea = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "strom_session" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge <= 0 {
		t.Fatalf("session cookie = %+v", ck)
	}
	if r := get("/groups", func(q *http.Request) { q.AddCookie(ck) }); r.StatusCode != http.StatusOK {
		t.Fatalf("/groups as bea = %d", r.StatusCode)
	}
	if r := get("/debug/pprof/cmdline", func(q *http.Request) { q.AddCookie(ck) }); r.StatusCode != http.StatusOK {
		t.Fatalf("/debug/pprof/ with bea's session = %d, want 200", r.StatusCode)
	}

	loginWalk(t, base, tc.spki, 2, 1, true)

	// The profiles need DESCRIBE_CONFIGS on the cluster: denied to bea by
	// an ACL, her credentials and her session are refused with 403.
	adm := kadm.NewClient(testkit.NewClient(t, kafka,
		kgo.DialTLSConfig(&tls.Config{RootCAs: tc.pool}),
		kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism())))
	acl := kadm.NewACLs().Deny("User:bea").DenyHosts("*").Clusters().Operations(kadm.OpDescribeConfigs)
	if res, err := adm.CreateACLs(t.Context(), acl); err != nil || res[0].Err != nil {
		t.Fatalf("deny bea DESCRIBE_CONFIGS on the cluster: %v %v", err, res)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		r := get("/debug/pprof/cmdline", func(q *http.Request) { q.SetBasicAuth("bea", "bea-secret") })
		if r.StatusCode == http.StatusForbidden {
			break
		}
		if r.StatusCode != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("/debug/pprof/ as bea denied DESCRIBE_CONFIGS = %d, want 403", r.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := get("/debug/pprof/cmdline", func(q *http.Request) { q.AddCookie(ck) }); r.StatusCode != http.StatusForbidden {
		t.Fatalf("/debug/pprof/ with bea's session, denied = %d, want 403", r.StatusCode)
	}
	if r := get("/debug/pprof/cmdline", func(q *http.Request) { q.SetBasicAuth("admin", "admin-secret") }); r.StatusCode != http.StatusOK {
		t.Fatalf("/debug/pprof/ as the super user = %d, want 200", r.StatusCode)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := get(p, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("%s = %d", p, r.StatusCode)
		}
	}
}

// loginWalk signs in to the console at base in Chromium (trusting the key
// spki): a wrong password is refused, the right one opens the page asked
// for; a topic is created (partitions, rf), produced to and browsed
// through the console; signing out returns to the login page.
func loginWalk(t *testing.T, base, spki string, partitions, rf int, authz bool) {
	t.Helper()
	ctx := browser(t, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	location := func() string {
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/topics"), chromedp.WaitVisible(chromedp.CSS("#login"))); err != nil {
		t.Fatalf("open the console: %v", err)
	}
	if loc := location(); !strings.HasPrefix(loc, base+"/login") {
		t.Fatalf("the console opened at %s, want its login page", loc)
	}
	signIn := func(user, pass string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SetValue(chromedp.CSS(`#login input[name="user"]`), user),
			chromedp.SetValue(chromedp.CSS(`#login input[name="password"]`), pass),
			chromedp.Submit(chromedp.CSS("#login")),
		); err != nil {
			t.Fatalf("sign in as %s: %v", user, err)
		}
	}
	signIn("admin", "not-the-password")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".error"))); err != nil {
		t.Fatal(err)
	}
	if msg := text(".error"); !strings.Contains(msg, "invalid user name or password") {
		t.Fatalf("wrong password message = %q", msg)
	}
	signIn("admin", "admin-secret")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#topics"))); err != nil {
		t.Fatalf("after login: %v (at %s)", err, location())
	}
	if u := text("#user"); u != "admin" {
		t.Fatalf("signed-in user shown = %q", u)
	}

	// A topic through the console, as admin: create, produce, browse.
	const topic = "login-walk"
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#create-topic input[name="name"]`), topic),
		chromedp.SetValue(chromedp.CSS(`#create-topic input[name="partitions"]`), strconv.Itoa(partitions)),
		chromedp.SetValue(chromedp.CSS(`#create-topic input[name="replication_factor"]`), strconv.Itoa(rf)),
		chromedp.Submit(chromedp.CSS(`#create-topic`)),
		chromedp.WaitVisible(chromedp.CSS("#partitions")),
	); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if n := text(".notice"); !strings.Contains(n, "created topic "+topic) {
		t.Fatalf("notice after create = %q", n)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/topics/"+topic+"/messages"),
		chromedp.WaitReady(chromedp.CSS("#produce")),
		chromedp.SetValue(chromedp.CSS(`#produce input[name="partition"]`), strconv.Itoa(partitions-1)),
		chromedp.SetValue(chromedp.CSS(`#produce textarea[name="value"]`), "signed in"),
		chromedp.Submit(chromedp.CSS(`#produce`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	); err != nil {
		t.Fatalf("produce through the console: %v", err)
	}
	if s := text("#messages"); !strings.Contains(s, "signed in") {
		t.Fatalf("the produced message is not shown:\n%s", s)
	}

	// A new user through the users page, who can then sign in.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/users"),
		chromedp.WaitVisible(chromedp.CSS("#set-user")),
		chromedp.SetValue(chromedp.CSS(`#set-user input[name="name"]`), "carol"),
		chromedp.SetValue(chromedp.CSS(`#set-user input[name="password"]`), "carol-secret"),
		chromedp.Submit(chromedp.CSS(`#set-user`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	); err != nil {
		t.Fatalf("create a user through the console: %v", err)
	}
	if s := text("#users"); !strings.Contains(s, "carol") || !strings.Contains(s, "SCRAM-SHA-512 (4096 iterations)") || !strings.Contains(s, "admin") {
		t.Fatalf("users page after adding carol:\n%s", s)
	}

	if authz {
		// An ACL through the console: carol may not write the topic.
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/acls"),
			chromedp.WaitVisible(chromedp.CSS("#add-acl")),
			chromedp.SetValue(chromedp.CSS(`#add-acl input[name="resource"]`), topic),
			chromedp.SetValue(chromedp.CSS(`#add-acl input[name="principal"]`), "User:carol"),
			chromedp.SetValue(chromedp.CSS(`#add-acl select[name="operation"]`), "WRITE"),
			chromedp.SetValue(chromedp.CSS(`#add-acl select[name="permission"]`), "DENY"),
			chromedp.Submit(chromedp.CSS(`#add-acl`)),
			chromedp.WaitVisible(chromedp.CSS(".notice")),
		); err != nil {
			t.Fatalf("add an ACL through the console: %v", err)
		}
		if s := text("#acls"); !strings.Contains(s, "User:carol") || !strings.Contains(s, "DENY") || !strings.Contains(s, topic) {
			t.Fatalf("ACLs page after adding carol's:\n%s", s)
		}
	}

	// Sign out: back to the login page, and the pages ask again.
	if err := chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login"))); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	signIn("carol", "carol-secret")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#user"))); err != nil {
		t.Fatalf("carol's login: %v (at %s)", err, location())
	}
	if u := text("#user"); u != "carol" {
		t.Fatalf("signed-in user shown = %q, want carol", u)
	}
	if authz {
		// The console acts as carol: the broker refuses her write.
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/topics/"+topic+"/messages"),
			chromedp.WaitReady(chromedp.CSS("#produce")),
			chromedp.SetValue(chromedp.CSS(`#produce textarea[name="value"]`), "carol was here"),
			chromedp.Submit(chromedp.CSS(`#produce`)),
			chromedp.WaitVisible(chromedp.CSS(".error")),
		); err != nil {
			t.Fatalf("carol's produce: %v", err)
		}
		if msg := text(".error"); !strings.Contains(msg, "TOPIC_AUTHORIZATION_FAILED") && !strings.Contains(strings.ToLower(msg), "not authorized") {
			t.Fatalf("carol's refused produce says %q", msg)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Submit(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login"))); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/topics/"+topic), chromedp.WaitVisible(chromedp.CSS("#login"))); err != nil {
		t.Fatalf("a page after sign-out: %v", err)
	}
	if loc := location(); !strings.HasPrefix(loc, base+"/login") {
		t.Fatalf("after sign-out the topic page opened at %s", loc)
	}
}

// TestConsoleLoginCluster: three nodes, each its own process with its own
// certificate from one CA (tls.client_ca_file) and a SASL_SSL listener
// beside the PLAINTEXT one the cluster shape names. The console of node 2
// signs in over its own SASL_SSL listener and reaches the partitions led
// by the other nodes through theirs, trusting their certificates through
// the CA. Full run only (STROM_CONSOLE=full).
func TestConsoleLoginCluster(t *testing.T) {
	if os.Getenv("STROM_CONSOLE") != "full" {
		t.Skip("the 3-node console login walk runs with STROM_CONSOLE=full (make console-test)")
	}
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	pw := writeSecret(t, dir, "admin.password", "admin-secret")
	certs := map[int32]testCert{}
	client := map[int32]string{}
	for id := int32(1); id <= 3; id++ {
		certs[id] = ca.issue(t, fmt.Sprintf("node%d", id))
		port, err := testkit.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		client[id] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	c := testkit.StartCluster(t, 3, testkit.WithPerNodeTOML(func(id int32, kafka string) string {
		return fmt.Sprintf(`[[listeners]]
name = "INTERNAL"
address = %q
protocol = "PLAINTEXT"

[[listeners]]
name = "CLIENT"
address = %q
protocol = "SASL_SSL"

[tls]
cert_file = %q
key_file = %q
client_ca_file = %q

[[sasl.users]]
name = "admin"
password_file = %q
`, kafka, client[id], certs[id].certFile, certs[id].keyFile, ca.caFile, pw)
	}))
	loginWalk(t, "https://"+c.Node(2).AdminAddr(), certs[2].spki, 3, 3, false)
}

// TestConsoleLoginSkipsMTLSListener: with tls.client_auth = "required" the
// console, which has no client certificate, signs in over the
// SASL_PLAINTEXT listener instead of the SASL_SSL one listed first; the
// admin listener still serves HTTPS and asks for no client certificate.
func TestConsoleLoginSkipsMTLSListener(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	tc := ca.issue(t, "broker")
	addrs := make([]string, 2)
	for i := range addrs {
		port, err := testkit.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	pw := writeSecret(t, dir, "admin.password", "admin-secret")
	b := testkit.StartBroker(t, testkit.WithConfig(func(c *config.Config) {
		c.Listeners = []config.Listener{
			{Name: "MTLS", Address: addrs[0], Protocol: "SASL_SSL"},
			{Name: "LOCAL", Address: addrs[1], Protocol: "SASL_PLAINTEXT", SASLMechanisms: []string{"SCRAM-SHA-256"}},
		}
		c.Listen = addrs[0]
		c.TLS = config.TLS{CertFile: tc.certFile, KeyFile: tc.keyFile, ClientCAFile: ca.caFile, ClientAuth: "required"}
		c.SASL.Users = []config.SASLUser{{Name: "admin", PasswordFile: pw, Mechanisms: []string{"SCRAM-SHA-256"}}}
	}))
	hc := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tc.pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	base := "https://" + b.AdminAddr()
	login := func(pass string) *http.Response {
		t.Helper()
		resp, err := hc.PostForm(base+"/login", url.Values{"user": {"admin"}, "password": {pass}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := login("wrong"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password = %d, want 401 (the console reached the broker)", r.StatusCode)
	}
	r := login("admin-secret")
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) == 0 {
		t.Fatalf("login = %d, cookies %v", r.StatusCode, r.Cookies())
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.AddCookie(r.Cookies()[0])
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `id="brokers">1<`) {
		t.Fatalf("cluster page after login = %d:\n%s", resp.StatusCode, page)
	}
}
