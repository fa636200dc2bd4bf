package web

import (
	"net/http"
	"net/url"
	"testing"

	"keyplane/internal/setup"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

func setupForm(token string) url.Values {
	return url.Values{
		"token": {token}, "name": {"Olive Operator"}, "email": {"Olive@Example.com"}, "password": {testPassword},
		"org_name": {"First Org"}, "org_slug": {"first"},
	}
}

func TestSetup(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		c := e.client()

		for _, path := range []string{"/", "/login", "/orgs/first/keys", "/admin/users", "/nope"} {
			wantRedirect(t, c.get(path), "/setup")
		}
		wantRedirect(t, c.post("/login", url.Values{"email": {"a@example.com"}, "password": {testPassword}}), "/setup")
		r := c.get("/setup")
		wantStatus(t, r, http.StatusOK)
		if r.testid("setup-form").Length() != 1 {
			t.Fatal("no setup form")
		}

		nothingCreated := func(t *testing.T) {
			t.Helper()
			if e.count("users") != 0 || e.count("organizations") != 0 || e.count("sessions") != 0 {
				t.Fatal("a refused setup created something")
			}
		}
		for _, token := range []string{"wrong-token-0123456789", "", testSetupToken + "x"} {
			r = c.post("/setup", setupForm(token))
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if r.text("error-token") == "" {
				t.Fatalf("token %q: no error on the token field", token)
			}
			if r.testid("form-error").Length() != 1 {
				t.Fatal("no form error")
			}
			nothingCreated(t)
		}
		bad := setupForm(testSetupToken)
		bad.Set("password", "short")
		bad.Set("org_slug", "admin")
		r = c.post("/setup", bad)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.text("error-token") != "" || r.text("error-password") == "" || r.text("error-org_slug") == "" {
			t.Fatalf("errors: token %q, password %q, org_slug %q", r.text("error-token"), r.text("error-password"), r.text("error-org_slug"))
		}
		nothingCreated(t)

		r = c.post("/setup", setupForm(testSetupToken))
		wantRedirect(t, r, "/orgs/first/keys")
		if ck := responseCookie(r, e.sessionCookieName()); ck == nil || ck.Value == "" {
			t.Fatal("setup did not sign the operator in")
		}
		u, err := e.accounts.UserByEmail(t.Context(), "olive@example.com")
		if err != nil || !u.IsOperator {
			t.Fatalf("operator: %+v, %v", u, err)
		}
		r = c.get("/orgs/first/keys")
		wantStatus(t, r, http.StatusOK)
		if got := r.text("nav-role"); got != "admin" {
			t.Fatalf("nav-role %q, want admin", got)
		}

		// Once a user exists, /setup is gone, for everyone.
		want404(t, c.get("/setup"))
		want404(t, c.post("/setup", setupForm(testSetupToken)))
		anon := e.client()
		want404(t, anon.get("/setup"))
		want404(t, anon.post("/setup", setupForm(testSetupToken)))
		wantRedirect(t, anon.get("/"), "/login")
		if e.count("users") != 1 || e.count("organizations") != 1 {
			t.Fatal("a second setup created something")
		}
	})
}

// A server built without a setup token must not take an empty one.
func TestSetupWithoutToken(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	e := newEnv(t, db, nil, func(d *Deps) { d.Setup = setup.New(db, d.Accounts, d.Orgs, "") })
	c := e.client()
	r := c.post("/setup", setupForm(""))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if r.text("error-token") == "" {
		t.Fatal("no error on the token field")
	}
	if e.count("users") != 0 {
		t.Fatal("setup with an empty token created a user")
	}
}
