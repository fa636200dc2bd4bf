package web

import (
	"net/http"
	"net/url"
	"testing"

	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/views/layout"
)

// wantTheme asserts how r's <html> renders the choice of colours, and
// which of the theme form's buttons is pressed.
func wantTheme(t *testing.T, r *resp, choice string) {
	t.Helper()
	html := r.doc.Find("html")
	if got := html.AttrOr("data-theme", ""); got != choice {
		t.Fatalf("%s: data-theme %q, want %q", r.Request.URL.Path, got, choice)
	}
	if dark := html.HasClass("dark"); dark != (choice == layout.ThemeDark) {
		t.Fatalf("%s: class dark is %v for %q", r.Request.URL.Path, dark, choice)
	}
	for _, th := range layout.Themes {
		want := "false"
		if th.Value == choice {
			want = "true"
		}
		if got := r.testid("theme-"+th.Value).AttrOr("aria-pressed", ""); got != want {
			t.Fatalf("%s: %s button aria-pressed %q, want %q", r.Request.URL.Path, th.Value, got, want)
		}
	}
}

func TestTheme(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		e.org("Acme", "acme", alice.ID)
		c := e.client()
		c.mustLogin("alice@example.com")

		// No choice yet: the device decides; the form comes back here.
		r := c.get("/orgs/acme/keys?q=abcd")
		wantStatus(t, r, http.StatusOK)
		wantTheme(t, r, layout.ThemeSystem)
		form := r.testid("theme-form")
		if form.AttrOr("action", "") != layout.ThemePath || form.AttrOr("method", "") != "post" ||
			form.Find(`input[name="next"]`).AttrOr("value", "") != "/orgs/acme/keys?q=abcd" {
			t.Fatalf("theme form: %s", r.body[:min(len(r.body), 300)])
		}

		// Dark: a cookie for a year, only the server reads it; back to the page.
		r = c.post(layout.ThemePath, url.Values{"theme": {"dark"}, "next": {"/orgs/acme/keys?q=abcd"}})
		wantRedirect(t, r, "/orgs/acme/keys?q=abcd")
		ck := responseCookie(r, themeCookie)
		if ck == nil || ck.Value != "dark" || ck.MaxAge < 300*24*3600 || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
			t.Fatalf("theme cookie: %+v", ck)
		}
		wantTheme(t, c.get("/orgs/acme/keys"), layout.ThemeDark)
		wantTheme(t, c.get("/account"), layout.ThemeDark)

		// Light, then System, which forgets the cookie.
		wantRedirect(t, c.post(layout.ThemePath, url.Values{"theme": {"light"}, "next": {"/account"}}), "/account")
		wantTheme(t, c.get("/account"), layout.ThemeLight)
		r = c.post(layout.ThemePath, url.Values{"theme": {"system"}})
		wantRedirect(t, r, "/")
		if ck := responseCookie(r, themeCookie); ck == nil || ck.MaxAge >= 0 {
			t.Fatalf("system keeps the cookie: %+v", ck)
		}
		if c.cookie(themeCookie) != nil {
			t.Fatal("the jar still holds the theme cookie")
		}
		wantTheme(t, c.get("/orgs/acme/keys"), layout.ThemeSystem)

		// Anything else is 400 and changes nothing.
		wantRedirect(t, c.post(layout.ThemePath, url.Values{"theme": {"dark"}}), "/")
		for _, bad := range []url.Values{{}, {"theme": {""}}, {"theme": {"Dark"}}, {"theme": {"blue"}}, {"theme": {"dark "}}} {
			r := c.post(layout.ThemePath, bad)
			wantStatus(t, r, http.StatusBadRequest)
			if responseCookie(r, themeCookie) != nil {
				t.Fatalf("%v: the answer sets the cookie", bad)
			}
		}
		wantTheme(t, c.get("/account"), layout.ThemeDark)

		// CSRF like every dashboard POST: none, a wrong one, another site.
		light := url.Values{"theme": {"light"}}
		wantStatus(t, c.postRaw(layout.ThemePath, light), http.StatusForbidden)
		wrong := url.Values{"theme": {"light"}, layout.CSRFField: {wrongToken(c.token())}}
		wantStatus(t, c.postRaw(layout.ThemePath, wrong), http.StatusForbidden)
		wantStatus(t, c.post(layout.ThemePath, light, "Origin", "https://evil.example"), http.StatusForbidden)
		wantStatus(t, c.post(layout.ThemePath, light, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
		wantTheme(t, c.get("/account"), layout.ThemeDark)

		// Only a path of this site is a way back.
		for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "keys"} {
			wantRedirect(t, c.post(layout.ThemePath, url.Values{"theme": {"dark"}, "next": {next}}), "/")
		}

		// htmx gets the form back with the new choice, not a page.
		r = c.post(layout.ThemePath, url.Values{"theme": {"light"}, "next": {"/account"}}, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if r.doc.Find("nav").Length() != 0 || r.testid("theme-form").AttrOr("data-theme-choice", "") != "light" ||
			r.testid("theme-light").AttrOr("aria-pressed", "") != "true" ||
			r.testid("theme-form").Find(`input[name="next"]`).AttrOr("value", "") != "/account" {
			t.Fatalf("htmx answer: %.400s", r.body)
		}
		if ck := responseCookie(r, themeCookie); ck == nil || ck.Value != "light" {
			t.Fatalf("htmx theme cookie: %+v", ck)
		}

		// A cookie the server did not write is ignored.
		c.setCookie(themeCookie, "purple")
		wantTheme(t, c.get("/orgs/acme/keys"), layout.ThemeSystem)

		// Before signing in, with the sign-in page's token.
		anon := e.client()
		wantRedirect(t, anon.post(layout.ThemePath, url.Values{"theme": {"dark"}, "next": {"/login"}}), "/login")
		wantTheme(t, anon.get("/login"), layout.ThemeDark)
	})
}

// TestNavigationOutsideAnOrg: the account and the operator's pages keep
// the navigation of the organization the user used last, and the header
// marks the page shown.
func TestNavigationOutsideAnOrg(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		op := e.user("op@example.com", "Olivia", true)
		e.org("Acme", "acme", op.ID)
		globex := e.org("Globex", "globex", op.ID)
		bob := e.user("bob@example.com", "Bob", false)
		e.addMember(globex.ID, bob.ID, org.Member)
		c := e.client()
		c.mustLogin("op@example.com")

		r := c.get("/orgs/acme/keys")
		if got := r.testid("nav-keys").AttrOr("aria-current", ""); got != "page" {
			t.Fatalf("API keys link on the keys page: aria-current %q", got)
		}
		if r.testid("nav-usage").AttrOr("aria-current", "") != "" {
			t.Fatal("the Usage link is marked current on the keys page")
		}
		wantStatus(t, c.get("/orgs/globex/usage"), http.StatusOK)
		for _, path := range []string{"/account", "/admin/users", "/admin/orgs"} {
			r := c.get(path)
			wantStatus(t, r, http.StatusOK)
			if got := r.testid("nav-keys").AttrOr("href", ""); got != "/orgs/globex/keys" {
				t.Errorf("%s: API keys link %q, want the org used last", path, got)
			}
			if r.testid("nav-audit").AttrOr("href", "") != "/orgs/globex/audit" || r.testid("org-switcher").Length() != 1 {
				t.Errorf("%s: no admin links or org switcher", path)
			}
			if r.testid("org-disabled").Length() != 0 {
				t.Errorf("%s: disabled banner outside the org", path)
			}
		}
		if got := c.get("/account").testid("nav-account").AttrOr("aria-current", ""); got != "page" {
			t.Errorf("Account link on /account: aria-current %q", got)
		}

		// A member of one organization, who never opened it: that one.
		b := e.client()
		b.mustLogin("bob@example.com")
		r = b.get("/account")
		if got := r.testid("nav-keys").AttrOr("href", ""); got != "/orgs/globex/keys" || r.text("nav-role") != "member" || r.testid("nav-audit").Length() != 0 {
			t.Errorf("bob's /account navigation: keys %q, role %q", got, r.text("nav-role"))
		}
	})
}
