package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func TestOtherOrgIsNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		bob := e.user("bob@example.com", "Bob", false)
		e.user("op@example.com", "Operator", true)
		e.org("Acme", "acme", alice.ID)
		e.org("Globex", "globex", bob.ID)

		c := e.client()
		c.mustLogin("alice@example.com")
		wantStatus(t, c.get("/orgs/acme/keys"), http.StatusOK)

		unknown := c.get("/orgs/nope/keys")
		want404(t, unknown)
		for _, path := range []string{"/orgs/globex/keys", "/orgs/globex", "/orgs/globex/members"} {
			r := c.get(path)
			want404(t, r)
			if r.text("error-page") != unknown.text("error-page") {
				t.Errorf("%s: 404 page %q differs from an unknown slug's %q", path, r.text("error-page"), unknown.text("error-page"))
			}
			if strings.Contains(r.body, "Globex") {
				t.Errorf("%s: the 404 page names the other organization", path)
			}
		}

		// An operator who is not a member is like anyone else.
		op := e.client()
		op.mustLogin("op@example.com")
		want404(t, op.get("/orgs/acme/keys"))
		want404(t, op.get("/orgs/globex"))
		r := op.get("/")
		wantStatus(t, r, http.StatusOK)
		if r.testid("no-org").Length() != 1 || r.doc.Find(`[data-testid="no-org"] a[href="/admin/orgs"]`).Length() != 1 {
			t.Fatalf("an operator in no org does not see the no-org page with a link to /admin: %.300s", r.body)
		}
	})
}

func TestAnonymous(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", true)
		e.org("Acme", "acme", alice.ID)
		c := e.client()
		for _, path := range []string{"/", "/orgs/acme/keys", "/orgs/nope/keys", "/admin/users", "/admin/orgs"} {
			wantRedirect(t, c.get(path), signInURL(path))
			r := c.get(path, "HX-Request", "true")
			wantStatus(t, r, http.StatusUnauthorized)
			if got := r.Header.Get("HX-Redirect"); got != "/login" {
				t.Fatalf("htmx %s: HX-Redirect %q, want /login", path, got)
			}
		}
		wantRedirect(t, c.post("/admin/users", url.Values{"name": {"X"}, "email": {"x@example.com"}, "password": {testPassword}}), "/login")
		if n := e.count("users"); n != 1 {
			t.Fatalf("an anonymous post created a user")
		}
		r := c.get("/login")
		wantStatus(t, r, http.StatusOK)
		if r.testid("login-form").Length() != 1 {
			t.Fatal("no login form")
		}
	})
}

func TestOperatorPages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		op := e.user("op@example.com", "Operator", true)
		alice := e.user("alice@example.com", "Alice", false)
		acme := e.org("Acme", "acme", alice.ID)

		member := e.client()
		member.mustLogin("alice@example.com")
		for _, path := range []string{"/admin", "/admin/users", "/admin/orgs", "/admin/nope"} {
			want404(t, member.get(path))
		}
		want404(t, member.post("/admin/users", url.Values{"name": {"X"}, "email": {"x@example.com"}, "password": {testPassword}}))
		want404(t, member.post("/admin/orgs", url.Values{"name": {"X"}, "slug": {"x-org"}, "admin_id": {alice.ID}}))
		want404(t, member.post("/admin/orgs/members", url.Values{"org_id": {acme.ID}, "user_id": {op.ID}, "role": {"admin"}}))
		if e.count("users") != 2 || e.count("organizations") != 1 || e.count("memberships") != 1 {
			t.Fatal("a member's posts to /admin changed something")
		}

		c := e.client()
		c.mustLogin("op@example.com")
		wantRedirect(t, c.get("/admin"), "/admin/users")
		r := c.get("/admin/users")
		wantStatus(t, r, http.StatusOK)
		if n := r.testid("user-row").Length(); n != 2 {
			t.Fatalf("%d user rows, want 2", n)
		}
		r = c.get("/admin/orgs")
		wantStatus(t, r, http.StatusOK)
		if n := r.testid("org-row").Length(); n != 1 {
			t.Fatalf("%d org rows, want 1", n)
		}

		// Bad input: 422 with the field's message, and nothing created.
		r = c.post("/admin/users", url.Values{"name": {"Carol"}, "email": {"carol@example.com"}, "password": {"short"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if got := r.text("error-password"); got != "Use at least 12 characters." {
			t.Fatalf("password error %q", got)
		}
		if r.testid("create-user-form").Find(`input[name="email"]`).AttrOr("value", "") != "carol@example.com" {
			t.Error("the form lost the typed email")
		}
		if n := e.count("users"); n != 2 {
			t.Fatalf("%d users after a refused create, want 2", n)
		}
		// The htmx form gets its section back, not a whole page.
		r = c.post("/admin/users", url.Values{"name": {"Carol"}, "email": {"carol@example.com"}, "password": {"short"}}, "HX-Request", "true")
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.doc.Find("#users-admin").Length() != 1 || r.doc.Find("nav, h1").Length() != 0 {
			t.Fatalf("htmx 422 is not the users section alone: %.400s", r.body)
		}
		if r.text("error-password") != "Use at least 12 characters." {
			t.Fatal("htmx 422 lacks the field message")
		}

		for _, slug := range []string{"admin", "login", "orgs"} {
			r = c.post("/admin/orgs", url.Values{"name": {"Reserved"}, "slug": {slug}, "admin_id": {op.ID}})
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if r.text("error-slug") == "" {
				t.Fatalf("slug %q: no error-slug", slug)
			}
		}
		r = c.post("/admin/orgs", url.Values{"name": {"Dup"}, "slug": {"acme"}, "admin_id": {op.ID}})
		if r.StatusCode == http.StatusSeeOther || r.text("error-slug") == "" {
			t.Fatalf("a taken slug: status %d, error-slug %q", r.StatusCode, r.text("error-slug"))
		}
		if n := e.count("organizations"); n != 1 {
			t.Fatalf("%d organizations after refused creates, want 1", n)
		}

		// Create a user and an org, then add the user to the org.
		wantRedirect(t, c.post("/admin/users", url.Values{"name": {"Carol"}, "email": {"carol@example.com"}, "password": {testPassword}}), "/admin/users")
		r = c.get("/admin/users")
		if n := r.testid("user-row").Length(); n != 3 {
			t.Fatalf("%d user rows after create, want 3", n)
		}
		if !strings.Contains(r.body, "Created the user carol@example.com.") {
			t.Error("no flash after creating a user")
		}
		carol, err := e.accounts.UserByEmail(t.Context(), "carol@example.com")
		if err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, c.post("/admin/orgs", url.Values{"name": {"Initech"}, "slug": {"initech"}, "admin_id": {op.ID}}), "/admin/orgs")
		r = c.get("/admin/orgs")
		if n := r.testid("org-row").Length(); n != 2 {
			t.Fatalf("%d org rows after create, want 2", n)
		}
		initech, err := e.orgs.BySlug(t.Context(), "initech")
		if err != nil {
			t.Fatal(err)
		}
		if r.testid("add-member-form").Length() != 1 {
			t.Fatal("no add-member form")
		}
		r = c.post("/admin/orgs/members", url.Values{"org_id": {initech.ID}, "user_id": {carol.ID}, "role": {"owner"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.text("error-role") == "" {
			t.Fatal("a bad role has no error-role")
		}
		wantRedirect(t, c.post("/admin/orgs/members", url.Values{"org_id": {initech.ID}, "user_id": {carol.ID}, "role": {"member"}}), "/admin/orgs")
		r = c.post("/admin/orgs/members", url.Values{"org_id": {initech.ID}, "user_id": {carol.ID}, "role": {"admin"}})
		wantStatus(t, r, http.StatusConflict) // already a member
		if r.text("error-user_id") == "" {
			t.Fatal("adding a member twice has no error-user_id")
		}

		cc := e.client()
		cc.mustLogin("carol@example.com")
		wantRedirect(t, cc.get("/"), "/orgs/initech/keys")
		r = cc.get("/orgs/initech/keys")
		wantStatus(t, r, http.StatusOK)
		if got := r.text("nav-role"); got != "member" {
			t.Fatalf("nav-role %q, want member", got)
		}
		want404(t, cc.get("/admin/users"))
	})
}

func TestRemovedMemberLosesAccess(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		bob := e.user("bob@example.com", "Bob", false)
		e.org("Acme", "acme", alice.ID)
		globex := e.org("Globex", "globex", bob.ID)
		e.addMember(globex.ID, alice.ID, org.Member)

		c := e.client()
		c.mustLogin("alice@example.com")
		r := c.get("/orgs/globex/keys")
		wantStatus(t, r, http.StatusOK)
		if r.testid("org-switcher").Length() != 1 {
			t.Fatal("a member of two orgs has no org switcher")
		}
		if err := db.Where("org_id = ? AND user_id = ?", globex.ID, alice.ID).Delete(&org.Membership{}).Error; err != nil {
			t.Fatal(err)
		}
		want404(t, c.get("/orgs/globex/keys"))
		want404(t, c.get("/orgs/globex"))
		// Home no longer leads to the org she used last.
		wantRedirect(t, c.get("/"), "/orgs/acme/keys")
		r = c.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		if r.testid("org-switcher").Length() != 0 || strings.Contains(r.body, "/orgs/globex") {
			t.Fatal("the page still links to the org she left")
		}
	})
}

func TestMalformedInput(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", true)
		e.org("Acme", "acme", alice.ID)

		// Oversized bodies with a valid token: refused, never a 500.
		c := e.client()
		tok := c.token()
		big := strings.Repeat("a", 1<<20)
		r := c.postRaw("/login", url.Values{"_csrf": {tok}, "email": {"alice@example.com"}, "password": {testPassword}, "pad": {big}})
		wantClientError(t, r)
		r = c.postRaw("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "pad": {big}}, "X-CSRF-Token", tok)
		wantClientError(t, r)
		if c.cookie(e.sessionCookieName()) != nil {
			t.Fatal("an oversized login signed in")
		}
		c.mustLogin("alice@example.com")
		r = c.postRaw("/admin/users", url.Values{"name": {"X"}, "email": {"x@example.com"}, "password": {testPassword}, "pad": {big}}, "X-CSRF-Token", tok)
		wantClientError(t, r)
		if n := e.count("users"); n != 1 {
			t.Fatal("an oversized form created a user")
		}

		// Malformed slugs in paths: 404, never a database error.
		for _, path := range []string{
			"/orgs/ACME/keys", "/orgs/-acme-/keys",
			"/orgs/a/keys", "/orgs/" + strings.Repeat("a", 5000) + "/keys", "/orgs/acme%27%20OR%201=1/keys",
			"/orgs/acme%2fkeys", "/orgs/acme/keys/not-a-uuid",
		} {
			want404(t, c.get(path))
		}
		// Paths that are not UTF-8: 400, as for forms and queries.
		for _, path := range []string{"/orgs/%ff/keys", "/orgs/%c3%28/keys", "/orgs/%ff", "/orgs/acme/keys/%ff"} {
			wantStatus(t, c.get(path), http.StatusBadRequest)
		}

		// Text that is not UTF-8, in a form or a query: 4xx, nothing stored.
		r = c.post("/orgs/acme/keys", url.Values{"description": {"bad \xff byte"}, "kind": {"private"}, "environment": {"live"}})
		wantClientError(t, r)
		if n := e.count("api_keys"); n != 0 {
			t.Fatalf("%d keys created from a form with invalid UTF-8", n)
		}
		wantClientError(t, c.get("/orgs/acme/audit?actor=%ff"))
		wantClientError(t, c.get("/orgs/acme/keys?q=%c3%28"))

		// A NUL byte, which PostgreSQL cannot store: 400 before any query,
		// in a form, a query or a path.
		for _, tc := range []struct {
			path string
			form url.Values
		}{
			{"/orgs/acme/keys", url.Values{"description": {"nul \x00 byte"}, "kind": {"private"}, "environment": {"live"}}},
			{"/account/name", url.Values{"name": {"Alice\x00"}}},
			{"/admin/users", url.Values{"name": {"X"}, "email": {"x\x00@example.com"}, "password": {testPassword}}},
		} {
			wantStatus(t, c.post(tc.path, tc.form), http.StatusBadRequest)
		}
		for _, path := range []string{"/orgs/acme/audit?actor=%00", "/orgs/acme/audit?action=key.created%00", "/orgs/acme/keys?q=%00", "/orgs/%00/keys"} {
			wantStatus(t, c.get(path), http.StatusBadRequest)
		}
		if n := e.count("api_keys"); n != 0 {
			t.Fatalf("%d keys created from a form with a NUL byte", n)
		}
		anon := e.client()
		r = anon.postRaw("/login", url.Values{"_csrf": {anon.token()}, "email": {"alice\x00@example.com"}, "password": {testPassword}})
		wantStatus(t, r, http.StatusBadRequest)
	})
}

func wantClientError(t *testing.T, r *resp) {
	t.Helper()
	if r.StatusCode < 400 || r.StatusCode >= 500 {
		t.Fatalf("%s %s: status %d, want 4xx: %.300s", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.body)
	}
}

func TestHomeGoesToTheOrgUsedLast(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		bob := e.user("bob@example.com", "Bob", false)
		e.org("Acme", "acme", alice.ID)
		globex := e.org("Globex", "globex", bob.ID)
		e.addMember(globex.ID, alice.ID, org.Member)

		c := e.client()
		c.mustLogin("alice@example.com")
		// Both orgs are hers; Acme comes first by name until she uses Globex.
		wantRedirect(t, c.get("/"), "/orgs/acme/keys")
		wantStatus(t, c.get("/orgs/globex/keys"), http.StatusOK)
		wantRedirect(t, c.get("/"), "/orgs/globex/keys")
		// It survives signing out and in again.
		c2 := e.client()
		c2.mustLogin("alice@example.com")
		wantRedirect(t, c2.get("/"), "/orgs/globex/keys")
	})
}
