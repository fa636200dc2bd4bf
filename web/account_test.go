package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/account"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// sessionIDs returns the ids of the session rows of an account page and the
// one marked as the current session.
func sessionIDs(t *testing.T, r *resp) (ids []string, current string) {
	t.Helper()
	r.testid("session-row").Each(func(_ int, row *goquery.Selection) {
		id, _ := row.Attr("data-session-id")
		ids = append(ids, id)
		if row.Find(`[data-testid="session-current"]`).Length() == 1 {
			if current != "" {
				t.Errorf("two sessions marked current")
			}
			current = id
		}
	})
	return ids, current
}

func wantFlash(t *testing.T, r *resp, msg string) {
	t.Helper()
	if !strings.Contains(r.body, msg) {
		t.Errorf("%s: no flash %q in %.300s", r.Request.URL.Path, msg, r.body)
	}
}

func TestAccountChangePassword(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		acme := e.org("Acme", "acme", alice.ID)
		here, there := e.client(), e.client()
		here.mustLogin("alice@example.com")
		there.mustLogin("alice@example.com")
		wantStatus(t, here.get("/account"), http.StatusOK)
		const next = "a brand new passphrase"

		// Neither a short new password nor a missing current one is a guess.
		r := here.post("/account/password", url.Values{"current_password": {testPassword}, "new_password": {"short"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.text("error-new_password") != "Use at least 12 characters." || r.testid("error-current_password").Length() != 0 {
			t.Errorf("short new password: errors %q / %q", r.text("error-new_password"), r.text("error-current_password"))
		}
		r = here.post("/account/password", url.Values{"new_password": {next}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.text("error-current_password") != "Enter your current password." {
			t.Errorf("missing current password: error %q", r.text("error-current_password"))
		}

		// A wrong current password is a field error that changes nothing,
		// is audited, and counts as a failed sign-in of the account.
		for i := range account.AccountFailureLimit - 1 {
			r := here.post("/account/password", url.Values{"current_password": {"not my password"}, "new_password": {next}})
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if got := r.text("error-current_password"); got != "This is not your current password." {
				t.Fatalf("guess %d: current_password error %q", i+1, got)
			}
			if r.testid("error-new_password").Length() != 0 {
				t.Errorf("a valid new password got an error")
			}
		}
		if evs := e.events(acme.ID, audit.ReauthFailed); len(evs) != account.AccountFailureLimit-1 || evs[0].ActorEmail != "alice@example.com" {
			t.Fatalf("reauth.failed events: %+v", evs)
		}
		wantStatus(t, there.get("/account"), http.StatusOK)

		// htmx gets the form section alone. This is the last guess allowed.
		r = here.post("/account/password", url.Values{"current_password": {"nope nope nope"}, "new_password": {next}}, "HX-Request", "true")
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.testid("password-form").Length() != 1 || r.testid("nav-user").Length() != 0 || r.testid("error-current_password").Length() != 1 {
			t.Errorf("htmx error response is not the password section: %.300s", r.body)
		}

		// Then the check is throttled like sign-in, even for the right
		// password, and so is signing in to the account.
		r = here.post("/account/password", url.Values{"current_password": {testPassword}, "new_password": {next}})
		wantStatus(t, r, http.StatusTooManyRequests)
		if r.Header.Get("Retry-After") == "" || !strings.Contains(r.text("error-current_password"), "Too many wrong passwords") {
			t.Fatalf("throttled change: Retry-After %q, error %q", r.Header.Get("Retry-After"), r.text("error-current_password"))
		}
		other := e.client()
		wantStatus(t, other.login("alice@example.com", testPassword), http.StatusTooManyRequests)
		e.clock.Advance(account.ThrottleWindow)
		other.mustLogin("alice@example.com")

		wantRedirect(t, here.post("/account/password", url.Values{"current_password": {testPassword}, "new_password": {next}}), "/account")
		r = here.get("/account")
		wantStatus(t, r, http.StatusOK)
		wantFlash(t, r, "Your password has been changed.")
		if ids, cur := sessionIDs(t, r); len(ids) != 1 || cur != ids[0] {
			t.Errorf("sessions after the change = %v (current %q), want only this one", ids, cur)
		}
		wantRedirect(t, there.get("/account"), signInURL("/account"))
		wantRedirect(t, other.get("/account"), signInURL("/account"))

		c := e.client()
		wantLoginRefused(t, c, c.login("alice@example.com", testPassword), http.StatusUnauthorized, badLogin)
		wantRedirect(t, c.login("alice@example.com", next), "/")
	})
}

func TestAccountRename(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		c := e.client()
		c.mustLogin("alice@example.com")
		r := c.get("/account")
		wantStatus(t, r, http.StatusOK)
		if v, _ := r.doc.Find(`#field-name`).Attr("value"); v != "Alice" {
			t.Errorf("name field = %q, want Alice", v)
		}
		if r.text("account-email") != "Signed in as alice@example.com" {
			t.Errorf("email line %q", r.text("account-email"))
		}
		if r.testid("nav-account").Length() != 1 {
			t.Error("no Account link in the navigation")
		}

		r = c.post("/account/name", url.Values{"name": {"   "}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.text("error-name") != "Enter a name." {
			t.Errorf("empty name: error %q", r.text("error-name"))
		}

		wantRedirect(t, c.post("/account/name", url.Values{"name": {" Alice Liddell "}}), "/account")
		r = c.get("/account")
		wantFlash(t, r, "Your name is now Alice Liddell.")
		if got := r.text("nav-user"); got != "Alice Liddell" {
			t.Errorf("nav shows %q, want the new name", got)
		}
		if u, _ := e.accounts.UserByID(t.Context(), alice.ID); u.Name != "Alice Liddell" {
			t.Errorf("stored name %q", u.Name)
		}
	})
}

func TestAccountSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		bob := e.user("bob@example.com", "Bob", false)
		a1, a2, b1 := e.client(), e.client(), e.client()
		a1.mustLogin("alice@example.com")
		a2.mustLogin("alice@example.com")
		b1.mustLogin("bob@example.com")

		r := a1.get("/account")
		wantStatus(t, r, http.StatusOK)
		ids, cur := sessionIDs(t, r)
		own, err := e.accounts.ListSessions(t.Context(), alice.ID, e.srv.sessions.limits)
		if err != nil || len(own) != 2 {
			t.Fatalf("alice's sessions: %v, %v", own, err)
		}
		if len(ids) != 2 || cur == "" || r.testid("session-revoke").Length() != 1 {
			t.Fatalf("session rows %v, current %q, %d sign-out buttons; want 2 rows, 1 button", ids, cur, r.testid("session-revoke").Length())
		}
		for _, s := range own {
			if !strings.Contains(strings.Join(ids, " "), s.ID) {
				t.Errorf("own session %s not listed", s.ID)
			}
		}
		bobs, _ := e.accounts.ListSessions(t.Context(), bob.ID, e.srv.sessions.limits)
		if len(bobs) != 1 {
			t.Fatalf("bob has %d sessions", len(bobs))
		}
		if strings.Contains(r.body, bobs[0].ID) {
			t.Error("alice's page shows bob's session")
		}
		if got := r.text("session-ip"); !strings.Contains(got, "127.0.0.1") {
			t.Errorf("session IP %q", got)
		}
		other := ids[0]
		if other == cur {
			other = ids[1]
		}

		// Another user's session, or no session at all: 404, nothing ends.
		want404(t, a1.post("/account/sessions/"+bobs[0].ID+"/revoke", nil))
		want404(t, a1.post("/account/sessions/not-an-id/revoke", nil))
		wantStatus(t, b1.get("/account"), http.StatusOK)

		wantRedirect(t, a1.post("/account/sessions/"+other+"/revoke", nil), "/account")
		wantRedirect(t, a2.get("/account"), signInURL("/account"))
		r = a1.get("/account")
		wantFlash(t, r, "That session has been signed out.")
		if ids, _ := sessionIDs(t, r); len(ids) != 1 {
			t.Errorf("%d sessions after revoking one, want 1", len(ids))
		}

		// A session idle past the timeout is not listed any more.
		idle := e.client()
		idle.mustLogin("alice@example.com")
		e.clock.Advance(e.cfg.SessionIdle - time.Minute)
		wantStatus(t, a1.get("/account"), http.StatusOK) // a1 and b1 stay active
		wantStatus(t, b1.get("/account"), http.StatusOK)
		e.clock.Advance(2 * time.Minute)
		if ids, _ := sessionIDs(t, a1.get("/account")); len(ids) != 1 {
			t.Errorf("%d sessions listed with one idle-expired, want 1", len(ids))
		}

		// Sign out everywhere else.
		a3, a4 := e.client(), e.client()
		a3.mustLogin("alice@example.com")
		a4.mustLogin("alice@example.com")
		r = a1.get("/account")
		if ids, _ := sessionIDs(t, r); len(ids) != 3 || r.testid("revoke-others-form").Length() != 1 {
			t.Fatalf("%d sessions before revoke-others, want 3 and the button", len(ids))
		}
		wantRedirect(t, a1.post("/account/sessions/revoke-others", nil), "/account")
		wantRedirect(t, a3.get("/account"), signInURL("/account"))
		wantRedirect(t, a4.get("/account"), signInURL("/account"))
		r = a1.get("/account")
		wantStatus(t, r, http.StatusOK)
		wantFlash(t, r, "Every other session has been signed out.")
		if ids, cur := sessionIDs(t, r); len(ids) != 1 || ids[0] != cur {
			t.Errorf("after revoke-others: %v (current %q)", ids, cur)
		}
		wantStatus(t, b1.get("/account"), http.StatusOK)

		// Signing out the current session through its id is a logout.
		_, cur = sessionIDs(t, r)
		wantRedirect(t, a1.post("/account/sessions/"+cur+"/revoke", nil), "/login")
		wantRedirect(t, a1.get("/account"), signInURL("/account"))
	})
}

func TestAdminDisableUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		op := e.user("op@example.com", "Operator", true)
		bob := e.user("bob@example.com", "Bob", false)
		carol := e.user("carol@example.com", "Carol", false)
		acme := e.org("Acme", "acme", carol.ID)
		e.addMember(acme.ID, bob.ID, org.Member)
		opc, bobc, bob2, carolc := e.client(), e.client(), e.client(), e.client()
		opc.mustLogin("op@example.com")
		bobc.mustLogin("bob@example.com")
		bob2.mustLogin("bob@example.com")
		carolc.mustLogin("carol@example.com")
		disabled := func(id string) bool {
			t.Helper()
			u, err := e.accounts.UserByID(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			return u.Disabled()
		}

		r := opc.get("/admin/users")
		wantStatus(t, r, http.StatusOK)
		if n := r.testid("user-disable").Length(); n != 2 {
			t.Errorf("%d disable buttons, want 2 (none on the operator's own row)", n)
		}

		// Not an operator: 404, nothing changes.
		want404(t, carolc.post("/admin/users/"+bob.ID+"/disable", nil))
		want404(t, carolc.post("/admin/users/"+op.ID+"/disable", nil))
		if disabled(bob.ID) || disabled(op.ID) {
			t.Fatal("a non-operator disabled someone")
		}

		// CSRF still applies.
		wantStatus(t, opc.postRaw("/admin/users/"+bob.ID+"/disable", url.Values{}), http.StatusForbidden)
		if disabled(bob.ID) {
			t.Fatal("a POST without CSRF token disabled bob")
		}

		// The operator cannot disable themselves.
		r = opc.post("/admin/users/"+op.ID+"/disable", nil)
		wantStatus(t, r, http.StatusConflict)
		if !strings.Contains(r.body, "You cannot disable your own account.") {
			t.Errorf("no message on self-disable: %.300s", r.body)
		}
		if disabled(op.ID) {
			t.Fatal("the operator disabled themselves")
		}
		wantStatus(t, opc.get("/admin/users"), http.StatusOK)

		want404(t, opc.post("/admin/users/"+store.NewID()+"/disable", nil))

		if n := len(e.events(acme.ID, audit.MemberDisabled)); n != 0 {
			t.Fatalf("%d member.disabled events after refusals only", n)
		}
		wantRedirect(t, opc.post("/admin/users/"+bob.ID+"/disable", nil), "/admin/users")
		if !disabled(bob.ID) {
			t.Fatal("bob is not disabled")
		}
		// A second disable (a double click, a stale page) changes nothing.
		wantRedirect(t, opc.post("/admin/users/"+bob.ID+"/disable", nil), "/admin/users")
		// The organizations bob belongs to see who disabled him, once.
		ev := e.oneEvent(acme.ID, audit.MemberDisabled)
		if ev.ActorEmail != "op@example.com" || ev.TargetID != bob.ID || !strings.Contains(ev.Summary, "bob@example.com") {
			t.Errorf("member.disabled event %+v", ev)
		}
		wantRedirect(t, bobc.get("/account"), signInURL("/account"))
		wantRedirect(t, bob2.get("/account"), signInURL("/account"))
		wantStatus(t, carolc.get("/account"), http.StatusOK)
		r = opc.get("/admin/users")
		wantFlash(t, r, "Disabled bob@example.com.")
		if r.testid("user-enable").Length() != 1 || r.testid("user-disable").Length() != 1 {
			t.Errorf("after disabling bob: %d enable, %d disable buttons; want 1 and 1",
				r.testid("user-enable").Length(), r.testid("user-disable").Length())
		}
		c := e.client()
		wantLoginRefused(t, c, c.login("bob@example.com", testPassword), http.StatusForbidden,
			"This account has been disabled. Ask your Keyplane operator.")

		want404(t, carolc.post("/admin/users/"+bob.ID+"/enable", nil))
		if !disabled(bob.ID) {
			t.Fatal("a non-operator enabled bob")
		}
		wantRedirect(t, opc.post("/admin/users/"+bob.ID+"/enable", nil), "/admin/users")
		wantFlash(t, opc.get("/admin/users"), "Enabled bob@example.com.")
		if ev := e.oneEvent(acme.ID, audit.MemberEnabled); ev.ActorEmail != "op@example.com" || ev.TargetID != bob.ID {
			t.Errorf("member.enabled event %+v", ev)
		}
		c.mustLogin("bob@example.com")
		wantStatus(t, c.get("/account"), http.StatusOK)
	})
}

func TestAccountCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), nil)
	e.user("alice@example.com", "Alice", false)
	c, other := e.client(), e.client()
	c.mustLogin("alice@example.com")
	other.mustLogin("alice@example.com")
	wantStatus(t, c.get("/account"), http.StatusOK)
	for path, form := range map[string]url.Values{
		"/account/password":               {"current_password": {testPassword}, "new_password": {"a brand new passphrase"}},
		"/account/name":                   {"name": {"Mallory"}},
		"/account/sessions/revoke-others": {},
	} {
		wantStatus(t, c.postRaw(path, form), http.StatusForbidden)
	}
	wantStatus(t, other.get("/account"), http.StatusOK)
	u, err := e.accounts.UserByEmail(t.Context(), "alice@example.com")
	if err != nil || u.Name != "Alice" {
		t.Fatalf("name after refused POST: %q, %v", u.Name, err)
	}
	if ok, _ := account.CheckPassword(testPassword, u.PasswordHash); !ok {
		t.Fatal("password changed without a CSRF token")
	}
}
