package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/views/layout"
)

func TestCSRF(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		op := e.user("op@example.com", "Operator", true)
		e.org("Acme", "acme", op.ID)

		signedIn := e.client()
		signedIn.mustLogin("op@example.com")
		login := url.Values{"email": {"op@example.com"}, "password": {testPassword}}
		newUser := func(email string) url.Values {
			return url.Values{"name": {"New"}, "email": {email}, "password": {testPassword}}
		}
		cases := []struct {
			path string
			form url.Values
		}{
			{"/login", login},
			{"/logout", url.Values{}},
			{"/admin/users", newUser("forged@example.com")},
		}
		wantForbidden := func(t *testing.T, r *resp) {
			t.Helper()
			wantStatus(t, r, http.StatusForbidden)
			if r.testid("error-page").Length() != 1 {
				t.Fatalf("403 without the error page: %.300s", r.body)
			}
		}
		for _, tc := range cases {
			t.Run(tc.path, func(t *testing.T) {
				// No cookie and no token.
				fresh := e.client()
				wantForbidden(t, fresh.postRaw(tc.path, tc.form))
				// The CSRF cookie, no token.
				fresh.token()
				wantForbidden(t, fresh.postRaw(tc.path, tc.form))
				wantForbidden(t, signedIn.postRaw(tc.path, tc.form))

				// A wrong token, in the field or the header.
				wrong := url.Values{}
				for k, v := range tc.form {
					wrong[k] = v
				}
				wrong.Set(layout.CSRFField, wrongToken(signedIn.token()))
				wantForbidden(t, signedIn.postRaw(tc.path, wrong))
				wantForbidden(t, signedIn.postRaw(tc.path, tc.form, layout.CSRFHeader, wrongToken(signedIn.token())))

				// A valid token from a cross-site page, or another origin.
				wantForbidden(t, signedIn.post(tc.path, tc.form, "Sec-Fetch-Site", "cross-site"))
				wantForbidden(t, signedIn.post(tc.path, tc.form, "Origin", "https://evil.example"))
				wantForbidden(t, signedIn.post(tc.path, tc.form, "Origin", "null"))
			})
		}
		if n := e.count("users"); n != 1 {
			t.Fatalf("forged requests created users: %d users", n)
		}
		if n := e.count("sessions"); n != 1 {
			t.Fatalf("forged requests changed sessions: %d sessions", n)
		}
		// The signed-in client is still signed in: the forged logouts did nothing.
		wantStatus(t, signedIn.get("/orgs/acme/keys"), http.StatusOK)

		// The header htmx sends is accepted, from this origin too.
		htmx := e.client()
		tok := htmx.token()
		r := htmx.postRaw("/login", login, layout.CSRFHeader, tok, "Origin", e.ts.URL, "Sec-Fetch-Site", "same-origin")
		wantRedirect(t, r, "/")
		// Login renews the token: the one from before no longer works, the
		// one on the next page does.
		wantForbidden(t, htmx.postRaw("/admin/users", newUser("stale@example.com"), layout.CSRFHeader, tok))
		tok = htmx.token()
		r = htmx.postRaw("/admin/users", newUser("htmx@example.com"), layout.CSRFHeader, tok, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if got := r.Header.Get("HX-Redirect"); got != "/admin/users" {
			t.Fatalf("HX-Redirect %q, want /admin/users", got)
		}
		if n := e.count("users"); n != 2 {
			t.Fatalf("%d users after an htmx create, want 2", n)
		}
		wantRedirect(t, htmx.postRaw("/logout", nil, layout.CSRFHeader, tok), "/login")
		wantRedirect(t, htmx.get("/"), "/login")
	})
}

// wrongToken returns a token of the right shape that differs from tok.
func wrongToken(tok string) string {
	first := byte('A')
	if tok[0] == first {
		first = 'B'
	}
	return string(first) + tok[1:]
}

// TestCSRFTokenBoundToSession: a signed-in request needs its own session's
// token. Another session's token, a token planted in the CSRF cookie (as a
// sibling subdomain could), or the token of a session that ended is
// refused, even for the same user.
func TestCSRFTokenBoundToSession(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		op := e.user("op@example.com", "Operator", true)
		e.org("Acme", "acme", op.ID)
		a, b := e.client(), e.client()
		a.mustLogin("op@example.com")
		b.mustLogin("op@example.com")
		newUser := func(email string, token string) url.Values {
			return url.Values{"name": {"New"}, "email": {email}, "password": {testPassword}, layout.CSRFField: {token}}
		}
		forbidden := func(r *resp) {
			t.Helper()
			wantStatus(t, r, http.StatusForbidden)
		}
		if a.token() == b.token() {
			t.Fatal("two sessions got the same CSRF token")
		}
		forbidden(b.postRaw("/admin/users", newUser("other-session@example.com", a.token())))
		forbidden(b.postRaw("/logout", url.Values{layout.CSRFField: {a.token()}}))

		planted := strings.Repeat("P", 43)
		b.setCookie(e.srv.csrfCookieName(), planted)
		forbidden(b.postRaw("/admin/users", newUser("planted@example.com", planted)))
		forbidden(b.postRaw("/admin/users", newUser("planted@example.com", planted), layout.CSRFHeader, planted))

		old := b.token()
		wantStatus(t, b.postRaw("/admin/users", newUser("own@example.com", old)), http.StatusSeeOther)
		wantRedirect(t, b.postRaw("/logout", url.Values{layout.CSRFField: {old}}), "/login")
		b.mustLogin("op@example.com")
		forbidden(b.postRaw("/admin/users", newUser("ended-session@example.com", old)))
		if n := e.count("users"); n != 2 {
			t.Fatalf("%d users, want 2: a refused request created one", n)
		}
	})
}
