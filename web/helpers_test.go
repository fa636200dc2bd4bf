package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/account"
	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/clocktest"
	"keyplane/internal/config"
	"keyplane/internal/org"
	"keyplane/internal/product"
	"keyplane/internal/store"
	"keyplane/internal/verify"
	"keyplane/views/layout"
)

const (
	testSecret     = "test-session-secret-0123456789abcdef"
	testSetupToken = "test-setup-token-0123456789"
	testPassword   = "correct horse battery"
	// testReturnOrigin is the platform's dashboard in portal tests.
	testReturnOrigin = "https://app.example.com"
)

// env is a running server over a real database.
type env struct {
	t        *testing.T
	db       *store.DB
	cfg      config.Config
	clock    *clocktest.Clock // shared by the services, the throttle and the server
	accounts *account.Service
	orgs     *org.Service
	keys     *apikey.Service
	products *product.Service
	srv      *Server
	ts       *httptest.Server
}

// newEnv starts a server over db. vars are environment variables on top of
// the test defaults; an https KEYPLANE_BASE_URL gets a TLS test server.
// tweaks may change the server's dependencies.
func newEnv(t *testing.T, db *store.DB, vars map[string]string, tweaks ...func(*Deps)) *env {
	t.Helper()
	all := map[string]string{
		"KEYPLANE_SESSION_SECRET": testSecret,
		"KEYPLANE_SETUP_TOKEN":    testSetupToken,
		// Where portal sessions may return to.
		"KEYPLANE_PORTAL_RETURN_ORIGINS": testReturnOrigin + ",http://localhost:3000",
	}
	for k, v := range vars {
		all[k] = v
	}
	cfg, err := config.Load(func(k string) string { return all[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
	logger := slog.New(slog.DiscardHandler)
	e := &env{t: t, db: db, cfg: cfg, clock: clock}
	e.accounts = account.NewService(db, clock.Now, account.WithHashParams(account.TestHashParams))
	e.orgs = org.NewService(db, clock.Now, org.WithAccounts(e.accounts))
	// The key service tells the server's verifier of every change, as in
	// production.
	products, err := product.NewService(context.Background(), db, cfg, clock.Now)
	if err != nil {
		t.Fatalf("products: %v", err)
	}
	e.products = products
	verifier := verify.New(verify.Options{Store: verify.DBStore{DB: db}, Products: products, Now: clock.Now, Logger: logger})
	keyOpts := apikey.ConfigOptions(cfg)
	keyOpts.Now, keyOpts.Changed, keyOpts.Products = clock.Now, verifier.Invalidate, products.Rules
	e.keys = apikey.NewService(db, keyOpts)
	deps := Deps{
		Config: cfg, DB: db, Accounts: e.accounts, Orgs: e.orgs, Keys: e.keys, Verifier: verifier, Products: products,
		Throttle: account.NewThrottle(clock.Now), Logger: logger,
		SessionSecret: cfg.SessionSecret, Now: clock.Now, Version: "test",
	}
	withServices(&deps, db)
	for _, tweak := range tweaks {
		tweak(&deps)
	}
	e.srv = NewServer(deps)
	if cfg.SecureCookies() {
		e.ts = httptest.NewTLSServer(e.srv)
	} else {
		e.ts = httptest.NewServer(e.srv)
	}
	t.Cleanup(e.ts.Close)
	return e
}

// user creates a user with testPassword.
func (e *env) user(email, name string, operator bool) account.User {
	e.t.Helper()
	u, err := e.accounts.CreateUser(context.Background(), account.NewUser{Email: email, Name: name, Password: testPassword, Operator: operator})
	if err != nil {
		e.t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// org creates an organization with adminID as its admin.
func (e *env) org(name, slug, adminID string) org.Organization {
	e.t.Helper()
	o, err := e.orgs.Create(context.Background(), name, slug, adminID, audit.Actor{})
	if err != nil {
		e.t.Fatalf("create org %s: %v", slug, err)
	}
	return o
}

func (e *env) addMember(orgID, userID string, role org.Role) {
	e.t.Helper()
	if err := e.orgs.AddMember(context.Background(), orgID, userID, role, audit.Actor{}); err != nil {
		e.t.Fatalf("add member: %v", err)
	}
}

// count returns the number of rows in table.
func (e *env) count(table string) int64 {
	e.t.Helper()
	var n int64
	if err := e.db.Table(table).Count(&n).Error; err != nil {
		e.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// client is a browser: it keeps cookies, does not follow redirects, and
// remembers the CSRF token of the last page it saw.
type client struct {
	t    *testing.T
	e    *env
	hc   *http.Client
	jar  *cookiejar.Jar
	csrf string
}

func (e *env) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	hc := &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if tr, ok := e.ts.Client().Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		hc.Transport = &http.Transport{TLSClientConfig: tr.TLSClientConfig.Clone()}
	} else {
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{}}
	}
	return &client{t: e.t, e: e, hc: hc, jar: jar}
}

// resp is a response with its body read and, for HTML, parsed.
type resp struct {
	*http.Response
	body string
	doc  *goquery.Document
}

// testid returns the elements with data-testid id.
func (r *resp) testid(id string) *goquery.Selection {
	return r.doc.Find(`[data-testid="` + id + `"]`)
}

func (r *resp) text(id string) string { return strings.TrimSpace(r.testid(id).Text()) }

func (c *client) do(req *http.Request) *resp {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	r := &resp{Response: res, body: string(b)}
	r.doc, err = goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		c.t.Fatalf("parse html: %v", err)
	}
	for _, ck := range res.Cookies() {
		// A new CSRF cookie (set at login) outdates the token of earlier pages.
		if strings.HasSuffix(ck.Name, "kp_csrf") {
			c.csrf = ""
		}
	}
	if tok := csrfOf(r.doc); tok != "" {
		c.csrf = tok
	}
	return r
}

// csrfOf finds the CSRF token in a page: a hidden form field, else the
// header htmx sends, from hx-headers on <body>.
func csrfOf(doc *goquery.Document) string {
	if v, ok := doc.Find(`input[name="` + layout.CSRFField + `"]`).First().Attr("value"); ok && v != "" {
		return v
	}
	if raw, ok := doc.Find("body").Attr("hx-headers"); ok {
		var h map[string]string
		if json.Unmarshal([]byte(raw), &h) == nil {
			return h[layout.CSRFHeader]
		}
	}
	return ""
}

func (c *client) request(method, path string, body io.Reader, hdr ...string) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, c.e.ts.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// get fetches path; hdr are header name/value pairs.
func (c *client) get(path string, hdr ...string) *resp {
	c.t.Helper()
	return c.do(c.request(http.MethodGet, path, nil, hdr...))
}

// postRaw posts form as is: no CSRF token is added.
func (c *client) postRaw(path string, form url.Values, hdr ...string) *resp {
	c.t.Helper()
	req := c.request(http.MethodPost, path, strings.NewReader(form.Encode()), hdr...)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// post posts form with the CSRF token in the hidden field, as a browser
// submits a form.
func (c *client) post(path string, form url.Values, hdr ...string) *resp {
	c.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set(layout.CSRFField, c.token())
	return c.postRaw(path, f, hdr...)
}

// token returns the CSRF token, loading the sign-in page (following its
// redirects) when no page has been seen yet.
func (c *client) token() string {
	c.t.Helper()
	if c.csrf != "" {
		return c.csrf
	}
	path := "/login"
	for range 3 {
		r := c.get(path)
		if c.csrf != "" {
			return c.csrf
		}
		if path = r.Header.Get("Location"); path == "" {
			break
		}
	}
	c.t.Fatal("no CSRF token found")
	return ""
}

// login posts the sign-in form, with the token of a page loaded now: one
// kept from before may belong to a session that has ended since.
func (c *client) login(email, password string) *resp {
	c.t.Helper()
	c.csrf = ""
	return c.post("/login", url.Values{"email": {email}, "password": {password}})
}

// mustLogin signs in with testPassword and fails the test unless it works.
func (c *client) mustLogin(email string) {
	c.t.Helper()
	r := c.login(email, testPassword)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		c.t.Fatalf("login %s: status %d, Location %q, error %q", email, r.StatusCode, r.Header.Get("Location"), r.text("form-error"))
	}
}

// cookie returns the jar's cookie named name, or nil.
func (c *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(c.e.ts.URL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// setCookie puts a cookie into the jar, as a copied cookie would be.
func (c *client) setCookie(name, value string) {
	u, _ := url.Parse(c.e.ts.URL)
	c.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

func (e *env) sessionCookieName() string { return e.srv.sessions.CookieName() }

// responseCookie returns the cookie named name that r sets, or nil.
func responseCookie(r *resp, name string) *http.Cookie {
	var last *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == name {
			last = ck
		}
	}
	return last
}

func wantStatus(t *testing.T, r *resp, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; Location %q; body: %.300s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.Header.Get("Location"), r.body)
	}
}

func wantRedirect(t *testing.T, r *resp, location string) {
	t.Helper()
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != location {
		t.Fatalf("%s %s: Location %q, want %q", r.Request.Method, r.Request.URL.Path, got, location)
	}
}

// want404 asserts the dashboard's not-found page.
func want404(t *testing.T, r *resp) {
	t.Helper()
	wantStatus(t, r, http.StatusNotFound)
	if r.testid("error-page").Length() != 1 {
		t.Fatalf("%s: no error page in 404 body: %.300s", r.Request.URL.Path, r.body)
	}
}
