package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/views/layout"
)

const portalReturn = testReturnOrigin + "/settings/api?tab=keys"

// portalLink asks the operator API for a link signing email into slug and
// returns its path (/portal/...).
func (a *adminEnv) portalLink(slug, email string) string {
	a.t.Helper()
	r := a.op("POST", "/v1/admin/portal-sessions", "/api/v1/admin/portal-sessions", opValid,
		`{"org": "`+slug+`", "email": "`+email+`", "return_url": "`+portalReturn+`"}`)
	if r.status != 201 {
		a.t.Fatalf("portal session: %d %s", r.status, r.raw)
	}
	return strings.TrimPrefix(r.body["url"].(string), a.cfg.BaseURL.String())
}

// enter opens a portal link's page and presses Continue.
func (c *client) enter(path string) *resp {
	c.t.Helper()
	wantStatus(c.t, c.get(path), http.StatusOK)
	return c.post(path, nil)
}

// TestPortalSessionRefusals: links only for members who are not
// operators and not disabled, into an organization that exists, returning
// to an allowed https origin; every refusal 422 naming its field, nothing
// stored.
func TestPortalSessionRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		ctx := context.Background()
		op := a.user("op@example.com", "Op", true)
		a.addMember(a.acme.ID, op.ID, org.Member)
		gone := a.user("gone@example.com", "Gone", false)
		a.addMember(a.acme.ID, gone.ID, org.Member)
		if err := a.accounts.SetDisabled(ctx, gone.ID, true, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		a.user("stranger@example.com", "Stranger", false)
		body := func(slug, email, ret string) string {
			return `{"org": "` + slug + `", "email": "` + email + `", "return_url": "` + ret + `"}`
		}
		for name, tc := range map[string]struct{ body, field string }{
			"operator":         {body("acme", "op@example.com", portalReturn), "email"},
			"disabled":         {body("acme", "gone@example.com", portalReturn), "email"},
			"not a member":     {body("acme", "stranger@example.com", portalReturn), "email"},
			"unknown email":    {body("acme", "nobody@example.com", portalReturn), "email"},
			"unknown org":      {body("nothing", "bob@example.com", portalReturn), "org"},
			"http elsewhere":   {body("acme", "bob@example.com", "http://app.example.com/settings"), "return_url"},
			"other origin":     {body("acme", "bob@example.com", "https://evil.example.net/"), "return_url"},
			"lookalike origin": {body("acme", "bob@example.com", "https://app.example.com.evil.test/"), "return_url"},
			"javascript":       {body("acme", "bob@example.com", "javascript:alert(1)"), "return_url"},
			"relative":         {body("acme", "bob@example.com", "/settings"), "return_url"},
			"missing":          {`{"org": "acme", "email": "bob@example.com"}`, "return_url"},
		} {
			r := a.op("POST", "/v1/admin/portal-sessions", "/api/v1/admin/portal-sessions", opValid, tc.body)
			if r.status != 422 || r.code() != "invalid" || !slices.Equal(r.fields(), []string{tc.field}) {
				t.Errorf("%s: %d %s, want 422 naming %s", name, r.status, r.raw, tc.field)
			}
		}
		if n := a.count("portal_links"); n != 0 {
			t.Errorf("refusals stored %d links", n)
		}
		// http on localhost is allowed when listed.
		r := a.op("POST", "/v1/admin/portal-sessions", "/api/v1/admin/portal-sessions", opValid, body("acme", "BOB@example.com", "http://localhost:3000/back"))
		if r.status != 201 {
			t.Errorf("localhost: %d %s", r.status, r.raw)
		}
	})
}

// TestPortalSession walks a portal link: made by the operator API (once,
// no-store, 5 minutes), its page spends nothing, Continue signs the member
// in with a session marked as a portal one, confined to the organization,
// with the Back link; the link then answers 410; the audit log names the
// token. No page of it may be framed.
func TestPortalSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		ctx := context.Background()
		// Bob is also in Other: the portal session must not reach it.
		a.addMember(a.other.ID, a.bob.ID, org.Member)

		r := a.op("POST", "/v1/admin/portal-sessions", "/api/v1/admin/portal-sessions", opValid,
			`{"org": "acme", "email": "Bob@Example.com", "return_url": "`+portalReturn+`"}`)
		link, _ := r.body["url"].(string)
		if r.status != 201 || !strings.HasPrefix(link, a.cfg.BaseURL.String()+"/portal/") || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %d %s %q", r.status, r.raw, r.header.Get("Cache-Control"))
		}
		if want := a.clock.Now().Add(5 * time.Minute).UTC().Format(time.RFC3339); r.body["expires_at"] != want {
			t.Errorf("expires_at %v, want %s", r.body["expires_at"], want)
		}
		path := strings.TrimPrefix(link, a.cfg.BaseURL.String())
		token := strings.TrimPrefix(path, "/portal/")
		var stored org.PortalLink
		db.Take(&stored)
		if bytes.Contains(stored.TokenHash, []byte(token)) || len(stored.TokenHash) != 32 || stored.TokenName != "Provisioner" {
			t.Errorf("stored link: %+v", stored)
		}

		c := a.client()
		for range 2 { // a previewer's fetch spends nothing
			p := c.get(path)
			wantStatus(t, p, http.StatusOK)
			if p.testid("portal-continue").Length() != 1 || !strings.Contains(p.text("portal-page"), "bob@example.com") {
				t.Fatalf("portal page: %.400s", p.body)
			}
			if p.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("the portal page may be framed: %v", p.Header)
			}
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("portal page Cache-Control %q", p.Header.Get("Cache-Control"))
			}
		}
		// Continue needs the CSRF token of the page.
		wantStatus(t, c.postRaw(path, url.Values{}), http.StatusForbidden)
		wantRedirect(t, c.post(path, nil), "/orgs/acme/keys")

		var sess account.Session
		db.Where("user_id = ?", a.bob.ID).Take(&sess)
		if sess.PortalOrgID == nil || *sess.PortalOrgID != a.acme.ID || sess.PortalReturnURL != portalReturn {
			t.Errorf("session not marked as a portal one: %+v", sess)
		}
		keys := c.get("/orgs/acme/keys")
		wantStatus(t, keys, http.StatusOK)
		back := keys.testid("portal-back")
		if href, _ := back.Attr("href"); href != portalReturn || strings.TrimSpace(back.Text()) != "← Back to app.example.com" {
			t.Errorf("Back link %q %q", href, back.Text())
		}
		if keys.testid("nav-account").Length() != 0 || keys.testid("org-switcher").Length() != 0 {
			t.Error("a portal session is offered other pages in the header")
		}
		if keys.Header.Get("X-Frame-Options") != "DENY" {
			t.Error("the keys page may be framed")
		}
		wantRedirect(t, c.get("/"), "/orgs/acme/keys")
		for _, p := range []string{"/orgs/other/keys", "/orgs/other", "/admin", "/admin/users", "/account"} {
			want404(t, c.get(p))
		}
		wantStatus(t, c.get("/orgs/acme/members"), http.StatusOK)

		// Spent: both the page and Continue answer 410.
		for _, r := range []*resp{c.get(path), c.post(path, nil)} {
			wantStatus(t, r, http.StatusGone)
			if !strings.Contains(r.text("portal-gone"), "expired or was already used") {
				t.Errorf("410 page: %.300s", r.body)
			}
		}

		var events []audit.Event
		db.Where("org_id = ? AND action = ?", a.acme.ID, audit.LoginSucceeded).Find(&events)
		if len(events) != 1 || events[0].Summary != `bob@example.com signed in through the portal (operator token "Provisioner")` ||
			events[0].ActorEmail != "bob@example.com" || events[0].IP != "127.0.0.1" {
			t.Errorf("audit: %+v", events)
		}
		if n, _ := countWhere(db, "audit_events", "org_id = ? AND action = ?", a.other.ID, audit.LoginSucceeded); n != 0 {
			t.Errorf("the sign-in is in Other's audit log too")
		}

		// A member removed meanwhile: the next request no longer reaches the org.
		if _, err := a.orgs.RemoveMember(ctx, a.acme.ID, a.bob.ID, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		want404(t, c.get("/orgs/acme/keys"))
	})
}

func countWhere(db *store.DB, table, where string, args ...any) (int64, error) {
	var n int64
	err := db.Table(table).Where(where, args...).Count(&n).Error
	return n, err
}

// TestPortalLinkExpires: after 5 minutes (fake clock) the link answers
// 410 to the page and to Continue, and signs no one in.
func TestPortalLinkExpires(t *testing.T) {
	a := newAdminEnv(t, storetest.SQLite(t))
	path := a.portalLink("acme", "bob@example.com")
	c := a.client()
	wantStatus(t, c.get(path), http.StatusOK)
	a.clock.Advance(5 * time.Minute)
	wantStatus(t, c.get(path), http.StatusGone)
	wantStatus(t, c.post(path, nil), http.StatusGone)
	if n, _ := countWhere(a.db, "sessions", "user_id = ?", a.bob.ID); n != 0 {
		t.Errorf("an expired link made %d sessions", n)
	}
}

// TestPortalLinkSpentOnce: two Continue presses at the same moment make
// one session; the other answers 410.
func TestPortalLinkSpentOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAdminEnv(t, db)
		path := a.portalLink("acme", "bob@example.com")
		c1, c2 := a.client(), a.client()
		wantStatus(t, c1.get(path), http.StatusOK)
		wantStatus(t, c2.get(path), http.StatusOK)
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for i, c := range []*client{c1, c2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := url.Values{layout.CSRFField: {c.csrf}}
				req := c.request(http.MethodPost, path, strings.NewReader(f.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := c.hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
			}()
		}
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{http.StatusSeeOther, http.StatusGone}) {
			t.Errorf("statuses %v, want one 303 and one 410", statuses)
		}
		if n, _ := countWhere(db, "sessions", "user_id = ?", a.bob.ID); n != 1 {
			t.Errorf("%d sessions, want 1", n)
		}
	})
}

// TestPortalReplacesSession: a browser signed in as someone else is told
// so, and Continue replaces that session: the old one ends for real.
func TestPortalReplacesSession(t *testing.T) {
	a := newAdminEnv(t, storetest.SQLite(t))
	path := a.portalLink("acme", "bob@example.com")
	c := a.client()
	c.mustLogin("admin@example.com")
	old := c.cookie(a.sessionCookieName()).Value
	p := c.get(path)
	wantStatus(t, p, http.StatusOK)
	if !strings.Contains(p.text("portal-replace"), "admin@example.com") {
		t.Errorf("the page does not say who is signed in: %.400s", p.body)
	}
	wantRedirect(t, c.post(path, nil), "/orgs/acme/keys")
	if n, _ := countWhere(a.db, "sessions", "user_id = ?", a.admin.ID); n != 0 {
		t.Errorf("the admin's session lives on (%d)", n)
	}
	if got := c.get("/orgs/acme/keys").text("nav-user"); !strings.HasPrefix(got, "Bob") {
		t.Errorf("signed in as %q, want Bob", got)
	}
	// The old cookie is worth nothing now.
	c2 := a.client()
	c2.setCookie(a.sessionCookieName(), old)
	wantRedirect(t, c2.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))
}

// TestPortalLogsNoToken: the link's token is in no log line, of the
// operator API or of the dashboard; the dashboard logs the route pattern.
func TestPortalLogsNoToken(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	a := newAdminEnv(t, storetest.SQLite(t), func(d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	})
	path := a.portalLink("acme", "bob@example.com")
	token := strings.TrimPrefix(path, "/portal/")
	c := a.client()
	c.enter(path)
	c.get(path)
	mu.Lock()
	logs := buf.String()
	mu.Unlock()
	if strings.Contains(logs, token) {
		t.Errorf("the log shows the portal token")
	}
	for _, want := range []string{"route=/api/v1/admin/portal-sessions", "method=GET path=/portal/:token", "method=POST path=/portal/:token"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}
