package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// signInURL is where a signed-out visitor to path is sent: the sign-in
// screen with path to return to ("/" needs none).
func signInURL(path string) string {
	if path == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(path)
}

// evilNexts are return paths that lead, or might lead, off the site: each
// must fall back to "/".
var evilNexts = []string{
	"", "//evil.example", "///evil.example", "////evil.example/x", "/\\evil.example", "\\/evil.example",
	"/\\/evil.example", "\\\\evil.example", "https://evil.example", "http://evil.example/orgs/acme/keys",
	"HTTPS://evil.example", "http:evil.example", "https:/evil.example", "javascript:alert(1)",
	"JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "evil.example", "evil.example/orgs",
	"orgs/acme/keys", ".//evil.example", " /orgs/acme/keys", "/orgs/acme/keys\r\nSet-Cookie: x=1",
	"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/\x00/evil.example", "/\x7f/evil.example",
	"/ /evil.example", "/orgs\u00a0/acme", "/\u3000/evil.example", "/ｅvil", "/%2F%2Fevil.example",
	"/%2f/evil.example", "/%5Cevil.example", "/%5c%5cevil.example", "/%0d%0aSet-Cookie:x=1", "/%09/evil.example",
	"/orgs/acme//keys", "/orgs/acme/keys?back=//evil.example", "/orgs/acme/keys#//evil.example",
	"/" + strings.Repeat("a", 3000),
}

func TestSafeNext(t *testing.T) {
	for _, p := range evilNexts {
		if got := safeNext(p); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", p, got)
		}
	}
	for _, p := range []string{
		"/", "/orgs/acme/keys", "/orgs/acme/keys/0193f0e2-7c1a-7d3e-8f00-123456789abc?tab=usage&period=7d",
		"/invites/abc_DEF-123", "/account", "/orgs/acme/keys?q=a%2Fb#top", "/@evil.example", "/orgs/acme/keys?next=%2F%2Fx",
	} {
		if got := safeNext(p); got != p {
			t.Errorf("safeNext(%q) = %q, want it kept", p, got)
		}
	}
}

// deepLinkEnv is an organization acme of alice (admin) with one key, and
// the path of that key's page with a query.
func deepLinkEnv(t *testing.T, db *store.DB, tweaks ...func(*Deps)) (*env, org.Organization, string) {
	t.Helper()
	e := newEnv(t, db, nil, tweaks...)
	alice := e.user("alice@example.com", "Alice", false)
	acme := e.org("Acme", "acme", alice.ID)
	created, err := e.keys.Create(context.Background(), acme.ID, "", apikey.Input{Description: "Billing", Kind: "private", Environment: "live"}, audit.Actor{})
	if err != nil {
		t.Fatal(err)
	}
	return e, acme, "/orgs/acme/keys/" + created.Key.ID + "?tab=usage&period=7d"
}

// nextField is the return path the sign-in form r carries, "" when none.
func nextField(r *resp) string {
	return r.testid("login-form").Find(`input[name="next"]`).AttrOr("value", "")
}

func TestDeepLinkSignIn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _, deep := deepLinkEnv(t, db)

		// A signed-out page load is sent to sign in, with the way back.
		c := e.client()
		r := c.get(deep)
		wantRedirect(t, r, signInURL(deep))
		r = c.get(r.Header.Get("Location"))
		wantStatus(t, r, http.StatusOK)
		if got := nextField(r); got != deep {
			t.Fatalf("sign-in form carries next %q, want %q", got, deep)
		}
		// A failed attempt keeps it.
		r = c.post("/login", url.Values{"email": {"alice@example.com"}, "password": {"not the password at all"}, "next": {deep}})
		wantStatus(t, r, http.StatusUnauthorized)
		if got := nextField(r); got != deep {
			t.Fatalf("after a wrong password the form carries next %q, want %q", got, deep)
		}
		wantRedirect(t, c.post("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "next": {deep}}), deep)
		wantStatus(t, c.get(deep), http.StatusOK)
		// Signed in, the sign-in screen leads straight to a safe next.
		wantRedirect(t, c.get(signInURL("/orgs/acme/members")), "/orgs/acme/members")
		wantRedirect(t, c.get("/login?next="+url.QueryEscape("//evil.example")), "/")

		// "/" needs no way back; neither does a POST.
		anon := e.client()
		wantRedirect(t, anon.get("/"), "/login")
		wantRedirect(t, anon.post("/orgs/acme/keys", url.Values{"description": {"x"}}), "/login")

		// Anything but a same-site path lands on "/", never elsewhere.
		for _, evil := range evilNexts {
			b := e.client()
			r := b.get("/login?next=" + url.QueryEscape(evil))
			if r.StatusCode == http.StatusBadRequest {
				// Text the database cannot store never reaches the form.
				continue
			}
			wantStatus(t, r, http.StatusOK)
			if got := nextField(r); got != "" {
				t.Errorf("next %q: the form carries %q", evil, got)
			}
			r = b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "next": {evil}})
			if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/" {
				t.Errorf("next %q: status %d, Location %q; want 303 to /", evil, r.StatusCode, loc)
			}
		}
	})
}

func TestDeepLinkHTMX(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _, deep := deepLinkEnv(t, db)
		c := e.client()
		base, _ := url.Parse(e.ts.URL)
		for _, tc := range []struct {
			name, current, want string
		}{
			{"same origin", e.ts.URL + deep, signInURL(deep)},
			{"same origin, the keys list", e.ts.URL + "/orgs/acme/keys?q=bill", signInURL("/orgs/acme/keys?q=bill")},
			{"no current URL", "", "/login"},
			{"another origin", "https://evil.example" + deep, "/login"},
			{"another port", "http://" + base.Hostname() + ":1" + deep, "/login"},
			{"another scheme", "https://" + base.Host + deep, "/login"},
			{"a relative URL", deep, "/login"},
			{"credentials in the URL", "http://user@" + base.Host + deep, "/login"},
			{"a scheme-relative path", e.ts.URL + "//evil.example/x", "/login"},
			{"garbage", "::::", "/login"},
		} {
			hdr := []string{"HX-Request", "true"}
			if tc.current != "" {
				hdr = append(hdr, "HX-Current-URL", tc.current)
			}
			r := c.get("/orgs/acme/keys?q=x", hdr...)
			if r.StatusCode != http.StatusUnauthorized || r.Header.Get("HX-Redirect") != tc.want || r.Header.Get("Location") != "" {
				t.Errorf("%s: status %d, HX-Redirect %q; want 401 with HX-Redirect %q", tc.name, r.StatusCode, r.Header.Get("HX-Redirect"), tc.want)
			}
		}
		// A boosted link loads a page: a plain redirect with its own path.
		r := c.get(deep, "HX-Request", "true", "HX-Boosted", "true")
		wantRedirect(t, r, signInURL(deep))
	})
}

func TestDeepLinkTwoFactor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e, _, deep := deepLinkEnv(t, db)
		c := e.client()
		c.mustLogin("alice@example.com")
		secret, codes := c.enrol()
		e.nextStep()
		wantRedirect(t, c.post("/logout", nil), "/login")

		// The return path waits through the second step, out of sight: the
		// pending sign-in cookie is sealed.
		wantRedirect(t, c.get(deep), signInURL(deep))
		c.get(signInURL(deep))
		r := c.post("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "next": {deep}})
		wantRedirect(t, r, "/login/two-factor")
		if ck := responseCookie(r, "kp_signin"); ck == nil || strings.Contains(ck.Value, "orgs") || strings.Contains(ck.Value, "usage") {
			t.Fatalf("pending sign-in cookie %v shows the return path", ck)
		}
		wantStatus(t, c.get("/login/two-factor"), http.StatusOK)
		r = c.post("/login/two-factor", url.Values{"code": {"000000"}})
		wantStatus(t, r, http.StatusUnauthorized)
		wantRedirect(t, c.post("/login/two-factor", url.Values{"code": {e.totpCode(secret)}}), deep)
		wantStatus(t, c.get(deep), http.StatusOK)

		// With a recovery code, "Continue" leads there.
		e.nextStep()
		wantRedirect(t, c.post("/logout", nil), "/login")
		c.get(signInURL(deep))
		wantRedirect(t, c.post("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "next": {deep}}), "/login/two-factor")
		c.get("/login/two-factor")
		r = c.post("/login/two-factor", url.Values{"code": {codes[0]}})
		wantStatus(t, r, http.StatusOK)
		if href := r.testid("recovery-continue").AttrOr("href", ""); href != deep {
			t.Fatalf("Continue after a recovery code leads to %q, want %q", href, deep)
		}

		// An unsafe next given to the first step lands on "/" after the second.
		for _, evil := range []string{"//evil.example", "https://evil.example/", "/\\evil.example"} {
			e.nextStep()
			b := e.client()
			b.get("/login")
			wantRedirect(t, b.post("/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "next": {evil}}), "/login/two-factor")
			b.get("/login/two-factor")
			wantRedirect(t, b.post("/login/two-factor", url.Values{"code": {e.totpCode(secret)}}), "/")
		}
	})
}

func TestDeepLinkSSO(t *testing.T) {
	t.Parallel()
	p := startIdP(t, false)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, p, nil)
		alice := e.user("alice@example.com", "Alice", false)
		acme := e.org("Acme", "acme", alice.ID)
		created, err := e.keys.Create(context.Background(), acme.ID, "", apikey.Input{Description: "Billing", Kind: "private", Environment: "live"}, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		deep := "/orgs/acme/keys/" + created.Key.ID + "?period=30d"

		// The sign-in screen's SSO link carries the way back, and the
		// provider's answer lands there.
		c := e.client()
		wantRedirect(t, c.get(deep), signInURL(deep))
		r := c.get(signInURL(deep))
		href := r.testid("sso-sign-in").AttrOr("href", "")
		if href != "/login/sso?next="+url.QueryEscape(deep) {
			t.Fatalf("SSO link %q, want it to carry next=%s", href, deep)
		}
		u, _ := url.Parse(href)
		c.wantSignedIn(c.ssoSignIn(p, person("alice-sub", "alice@example.com", true), u.Query().Get("next")), deep, "alice@example.com")

		// An unsafe path neither reaches the link nor the landing.
		for _, evil := range []string{"//evil.example", "https://evil.example/", "/\\evil.example", "/%2F%2Fevil.example"} {
			b := e.client()
			if href := b.get("/login?next="+url.QueryEscape(evil)).testid("sso-sign-in").AttrOr("href", ""); href != "/login/sso" {
				t.Errorf("next %q: SSO link %q", evil, href)
			}
			b.wantSignedIn(b.ssoSignIn(p, person("alice-sub", "alice@example.com", true), evil), "/", "alice@example.com")
		}
	})
}

func TestInviteSignInToAccept(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		logs := &syncBuffer{}
		e, acme, _ := deepLinkEnv(t, db, func(d *Deps) {
			d.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		fay := e.user("fay@example.com", "Fay", false)
		admin := e.client()
		admin.mustLogin("alice@example.com")
		path := inviteAs(t, admin, "fay@example.com", string(org.Member))
		token := strings.TrimPrefix(path, "/invites/")

		// A new address gets the sign-up form; an existing account is
		// offered to sign in instead.
		newcomer := inviteAs(t, admin, "gus@example.com", string(org.Member))
		r := e.client().get(newcomer)
		if r.testid("signup-form").Length() != 1 || r.testid("invite-sign-in").Length() != 0 {
			t.Fatalf("invite of a new address: sign-up form %d, sign-in link %d", r.testid("signup-form").Length(), r.testid("invite-sign-in").Length())
		}

		c := e.client()
		r = c.get(path)
		wantStatus(t, r, http.StatusOK)
		href := r.testid("invite-sign-in").AttrOr("href", "")
		if href != signInURL(path) || !strings.Contains(r.text("invite-sign-in"), "Sign in to accept") {
			t.Fatalf("sign-in link %q %q, want %q", href, r.text("invite-sign-in"), signInURL(path))
		}
		if r.testid("signup-form").Length() != 0 {
			t.Fatal("a sign-up form for an address that has an account")
		}
		wantStatus(t, c.post(path, url.Values{"name": {"Fay"}, "password": {testPassword}}), http.StatusForbidden)

		r = c.get(href)
		if got := nextField(r); got != path {
			t.Fatalf("sign-in form carries next %q, want %q", got, path)
		}
		wantRedirect(t, c.post("/login", url.Values{"email": {"fay@example.com"}, "password": {testPassword}, "next": {path}}), path)
		r = c.get(path)
		if r.testid("accept-invite").Length() != 1 {
			t.Fatal("no one-click join after signing in")
		}
		wantRedirect(t, c.post(path, nil), "/orgs/acme/keys")
		if got := roleIn(t, e, acme.ID, fay.ID); got != org.Member {
			t.Fatalf("fay is %q", got)
		}

		if out := logs.String(); strings.Contains(out, token) {
			t.Errorf("the log shows the invitation's token:\n%s", out)
		} else if !strings.Contains(out, "path=/login") || !strings.Contains(out, "path=/invites/:token") {
			t.Errorf("request lines of the sign-in and the invitation missing:\n%s", out)
		}
	})
}
