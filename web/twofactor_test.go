package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"keyplane/internal/account"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/twofactor"
)

// totpCode is the code of secret at the test clock's time.
func (e *env) totpCode(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCodeCustom(secret, e.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// nextStep moves the test clock to the next TOTP step.
func (e *env) nextStep() { e.clock.Advance(twofactor.Period) }

// enrol turns two-factor on through the account page of a signed-in
// client and returns the secret and the recovery codes shown.
func (c *client) enrol() (string, []string) {
	c.t.Helper()
	wantRedirect(c.t, c.post("/account/two-factor/start", nil), "/account/two-factor/setup")
	r := c.get("/account/two-factor/setup")
	wantStatus(c.t, r, http.StatusOK)
	if src, _ := r.testid("two-factor-qr").Attr("src"); !strings.HasPrefix(src, "data:image/png;base64,") {
		c.t.Fatalf("QR code src %.40q, want a PNG data: URI", src)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		c.t.Errorf("set-up page Cache-Control %q, want no-store", cc)
	}
	secret := strings.ReplaceAll(r.text("two-factor-secret"), " ", "")
	if len(secret) != 32 {
		c.t.Fatalf("secret %q on the set-up page", r.text("two-factor-secret"))
	}
	r = c.post("/account/two-factor/confirm", url.Values{"code": {c.e.totpCode(secret)}})
	wantStatus(c.t, r, http.StatusOK)
	var codes []string
	r.testid("recovery-code").Each(func(_ int, s *goquery.Selection) { codes = append(codes, strings.TrimSpace(s.Text())) })
	if len(codes) != 10 {
		c.t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	return secret, codes
}

// loginTwoFactor signs in with the password and then code, and returns the
// answer to the code.
func (c *client) loginTwoFactor(email, code string) *resp {
	c.t.Helper()
	r := c.login(email, testPassword)
	wantRedirect(c.t, r, "/login/two-factor")
	wantStatus(c.t, c.get("/login/two-factor"), http.StatusOK)
	return c.post("/login/two-factor", url.Values{"code": {code}})
}

func (e *env) auditActions(orgID, prefix string) []string {
	e.t.Helper()
	var list []string
	if err := e.db.Table("audit_events").Where("org_id = ? AND action LIKE ?", orgID, prefix+"%").Order("created_at, id").Pluck("action", &list).Error; err != nil {
		e.t.Fatal(err)
	}
	return list
}

func TestTwoFactorSignIn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		acme := e.org("Acme", "acme", alice.ID)
		c := e.client()
		c.mustLogin("alice@example.com")
		r := c.get("/account")
		if !strings.Contains(r.text("two-factor-status"), "Off") || r.testid("two-factor-start").Length() != 1 {
			t.Fatalf("account card before enrolment: %q", r.text("two-factor-status"))
		}

		// A pending seed is not on: a wrong code leaves it off.
		wantRedirect(t, c.post("/account/two-factor/start", nil), "/account/two-factor/setup")
		r = c.post("/account/two-factor/confirm", url.Values{"code": {"000000"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if r.text("form-error") == "" || r.testid("two-factor-qr").Length() != 1 {
			t.Errorf("wrong confirm code: no error or no QR code on the page again")
		}
		wantStatus(t, c.post("/account/two-factor/confirm", url.Values{"code": {strings.Repeat("1", 5000)}}), http.StatusUnprocessableEntity)
		other := e.client()
		other.mustLogin("alice@example.com") // still one step: nothing is on yet

		secret, codes := c.enrol()
		r = c.get("/account")
		if !strings.Contains(r.text("two-factor-status"), "On") || !strings.Contains(r.text("recovery-count"), "10 of 10") {
			t.Errorf("account card after enrolment: %q / %q", r.text("two-factor-status"), r.text("recovery-count"))
		}
		wantStatus(t, c.post("/account/two-factor/start", nil), http.StatusConflict)

		// Password right: a second step, and no session yet.
		s := e.client()
		r = s.login("alice@example.com", testPassword)
		wantRedirect(t, r, "/login/two-factor")
		if ck := responseCookie(r, e.sessionCookieName()); ck != nil && ck.Value != "" {
			t.Fatalf("a session cookie before the second factor: %v", ck)
		}
		for _, path := range []string{"/", "/account", "/orgs/acme/keys", "/orgs/acme/members", "/admin/users"} {
			wantRedirect(t, s.get(path), signInURL(path))
		}
		wantStatus(t, s.post("/account/two-factor/start", nil), http.StatusSeeOther)
		if n := e.count("user_totp"); n != 1 {
			t.Fatalf("%d seeds, want 1", n)
		}

		// Wrong, garbage, overlong: 4xx, never in (three failures: the
		// throttle allows five).
		for _, bad := range []string{"000000", "<script>", "zzzz-zzzz-zzzz-zzzz"} {
			if bad == e.totpCode(secret) {
				continue
			}
			wantStatus(t, s.post("/login/two-factor", url.Values{"code": {bad}}), http.StatusUnauthorized)
		}
		wantStatus(t, s.post("/login/two-factor", url.Values{"code": {strings.Repeat("9", 100)}}), http.StatusUnprocessableEntity)
		wantStatus(t, s.post("/login/two-factor", url.Values{"code": {""}}), http.StatusUnprocessableEntity)
		wantRedirect(t, s.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))

		// The step of the enrolment code is used: wait for the next.
		wantStatus(t, s.post("/login/two-factor", url.Values{"code": {e.totpCode(secret)}}), http.StatusUnauthorized)
		e.nextStep()
		code := e.totpCode(secret)
		wantRedirect(t, s.post("/login/two-factor", url.Values{"code": {code}}), "/")
		wantStatus(t, s.get("/orgs/acme/keys"), http.StatusOK)
		wantRedirect(t, s.get("/login/two-factor"), "/")

		// The same code again, in another browser within its window.
		replay := e.client()
		wantStatus(t, replay.loginTwoFactor("alice@example.com", code), http.StatusUnauthorized)
		wantRedirect(t, replay.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))

		// A recovery code works once, and the page says how many are left.
		rc := e.client()
		r = rc.loginTwoFactor("alice@example.com", strings.ToUpper(codes[0]))
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.text("recovery-left"), "9 recovery codes left") {
			t.Errorf("after a recovery code: %q", r.text("recovery-left"))
		}
		wantStatus(t, rc.get("/orgs/acme/keys"), http.StatusOK)
		again := e.client()
		wantStatus(t, again.loginTwoFactor("alice@example.com", codes[0]), http.StatusUnauthorized)
		wantRedirect(t, again.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))

		got := e.auditActions(acme.ID, "twofactor.")
		if strings.Join(got, " ") != audit.TwoFactorEnabled+" "+audit.RecoveryCodeUsed {
			t.Errorf("audit = %v", got)
		}

		// A pending sign-in of a user disabled meanwhile goes nowhere.
		late := e.client()
		wantRedirect(t, late.login("alice@example.com", testPassword), "/login/two-factor")
		if err := e.accounts.SetDisabled(context.Background(), alice.ID, true, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		e.nextStep()
		wantStatus(t, late.post("/login/two-factor", url.Values{"code": {e.totpCode(secret)}}), http.StatusForbidden)
		wantRedirect(t, late.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))
	})
}

func TestTwoFactorPendingExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), nil)
	alice := e.user("alice@example.com", "Alice", false)
	e.org("Acme", "acme", alice.ID)
	c := e.client()
	c.mustLogin("alice@example.com")
	secret, _ := c.enrol()
	s := e.client()
	wantRedirect(t, s.login("alice@example.com", testPassword), "/login/two-factor")
	// The cookie is signed: a made-up one is no pending sign-in.
	ck := s.cookie("kp_signin")
	if ck == nil {
		t.Fatal("no pending sign-in cookie")
	}
	forged := e.client()
	forged.setCookie("kp_signin", ck.Value[:len(ck.Value)-4]+"AAAA")
	forged.token()
	wantRedirect(t, forged.post("/login/two-factor", url.Values{"code": {e.totpCode(secret)}}), "/login")
	// securecookie reads real time; the cookie's own age limit is set.
	if got := responseCookie(s.login("alice@example.com", testPassword), "kp_signin"); got == nil || got.MaxAge != int(pendingMaxAge.Seconds()) || !got.HttpOnly {
		t.Errorf("pending cookie %+v, want HttpOnly with Max-Age %v", got, pendingMaxAge)
	}
}

func TestTwoFactorThrottle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		e.org("Acme", "acme", alice.ID)
		c := e.client()
		c.mustLogin("alice@example.com")
		secret, codes := c.enrol()
		e.nextStep()

		s := e.client()
		wantRedirect(t, s.login("alice@example.com", testPassword), "/login/two-factor")
		wrong := "000000"
		if e.totpCode(secret) == wrong {
			wrong = "111111"
		}
		for range account.AccountFailureLimit {
			wantStatus(t, s.post("/login/two-factor", url.Values{"code": {wrong}}), http.StatusUnauthorized)
		}
		// A correct password again does not reset the count.
		wantRedirect(t, s.login("alice@example.com", testPassword), "/login/two-factor")
		for _, right := range []string{e.totpCode(secret), codes[0]} {
			r := s.post("/login/two-factor", url.Values{"code": {right}})
			wantStatus(t, r, http.StatusTooManyRequests)
			secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || secs < 1 || secs > int(account.ThrottleWindow.Seconds()) {
				t.Errorf("Retry-After %q, want 1 to %d seconds", r.Header.Get("Retry-After"), int(account.ThrottleWindow.Seconds()))
			}
		}
		wantRedirect(t, s.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))
		e.clock.Advance(account.ThrottleWindow + time.Second)
		wantRedirect(t, s.post("/login/two-factor", url.Values{"code": {e.totpCode(secret)}}), "/")
	})
}

func TestTwoFactorReauthentication(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		acme := e.org("Acme", "acme", alice.ID)
		c := e.client()
		c.mustLogin("alice@example.com")
		_, codes := c.enrol()

		// Without, or with a wrong, password: 422, nothing changes.
		for _, path := range []string{"/account/two-factor/disable", "/account/two-factor/recovery-codes"} {
			field := "disable_password"
			if strings.HasSuffix(path, "recovery-codes") {
				field = "regenerate_password"
			}
			r := c.post(path, url.Values{})
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if r.text("error-"+field) == "" {
				t.Errorf("%s without a password: no message on %s", path, field)
			}
			wantStatus(t, c.post(path, url.Values{field: {"not my password"}}), http.StatusUnprocessableEntity)
			wantStatus(t, c.post(path, url.Values{field: {strings.Repeat("x", 40000)}}), http.StatusUnprocessableEntity)
		}
		if on, _ := e.srv.twoFactor.Enabled(context.Background(), alice.ID); !on {
			t.Fatal("turned off without the password")
		}

		// New codes with the password: the old ones stop working.
		r := c.post("/account/two-factor/recovery-codes", url.Values{"regenerate_password": {testPassword}})
		wantStatus(t, r, http.StatusOK)
		if n := r.testid("recovery-code").Length(); n != 10 {
			t.Fatalf("%d new codes shown", n)
		}
		fresh := strings.TrimSpace(r.testid("recovery-code").First().Text())
		wantStatus(t, e.client().loginTwoFactor("alice@example.com", codes[1]), http.StatusUnauthorized)
		wantStatus(t, e.client().loginTwoFactor("alice@example.com", fresh), http.StatusOK)

		// Turning it off is confirmed first: a dialog (htmx) or a page that
		// says what follows, and changes nothing.
		acct := c.get("/account")
		if acct.testid("turn-off-two-factor").Length() != 1 || acct.testid("disable-form").Length() != 0 {
			t.Error("the account page turns two-factor off without a confirmation")
		}
		dlg := c.get("/account/two-factor/disable", "HX-Request", "true")
		wantStatus(t, dlg, http.StatusOK)
		if dlg.testid("disable-two-factor-modal").Length() != 1 || !strings.Contains(dlg.text("disable-consequence"), "alice@example.com will ask for your password only") ||
			!strings.Contains(dlg.text("disable-consequence"), "recovery codes stop working") {
			t.Errorf("the dialog: %.600s", dlg.body)
		}
		wantStatus(t, c.get("/account/two-factor/disable"), http.StatusOK)
		if on, _ := e.srv.twoFactor.Enabled(context.Background(), alice.ID); !on {
			t.Fatal("a GET turned two-factor off")
		}
		wantRedirect(t, c.post("/account/two-factor/disable", url.Values{"disable_password": {testPassword}}), "/account")
		if on, _ := e.srv.twoFactor.Enabled(context.Background(), alice.ID); on {
			t.Fatal("still on")
		}
		e.client().mustLogin("alice@example.com")
		wrong := e.auditActions(acme.ID, "reauth.")
		if len(wrong) != 4 {
			t.Errorf("%d reauth.failed events, want 4 (an empty password is no guess)", len(wrong))
		}
		got := e.auditActions(acme.ID, "twofactor.")
		want := []string{audit.TwoFactorEnabled, audit.RecoveryCodesRegenerated, audit.RecoveryCodeUsed, audit.TwoFactorDisabled}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("audit = %v, want %v", got, want)
		}
	})
}

func TestTwoFactorReauthThrottle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), nil)
	alice := e.user("alice@example.com", "Alice", false)
	e.org("Acme", "acme", alice.ID)
	c := e.client()
	c.mustLogin("alice@example.com")
	c.enrol()
	for range account.AccountFailureLimit {
		wantStatus(t, c.post("/account/two-factor/disable", url.Values{"disable_password": {"wrong password!"}}), http.StatusUnprocessableEntity)
	}
	r := c.post("/account/two-factor/disable", url.Values{"disable_password": {testPassword}})
	wantStatus(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" || r.text("error-disable_password") == "" {
		t.Errorf("throttled: Retry-After %q, message %q", r.Header.Get("Retry-After"), r.text("error-disable_password"))
	}
	wantStatus(t, c.post("/account/two-factor/recovery-codes", url.Values{"regenerate_password": {testPassword}}), http.StatusTooManyRequests)
	if on, _ := e.srv.twoFactor.Enabled(context.Background(), alice.ID); !on {
		t.Fatal("turned off while throttled")
	}
}

func TestOrgRequiresTwoFactor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		bob := e.user("bob@example.com", "Bob", false)
		acme := e.org("Acme", "acme", alice.ID)
		e.addMember(acme.ID, bob.ID, org.Member)
		other := e.org("Other", "other", bob.ID)
		a, b := e.client(), e.client()
		a.mustLogin("alice@example.com")
		b.mustLogin("bob@example.com") // a session begun before the requirement

		// Members may not see or change the settings.
		wantStatus(t, b.get("/orgs/acme/settings"), http.StatusForbidden)
		wantStatus(t, b.post("/orgs/acme/settings", url.Values{"require_two_factor": {"true"}}), http.StatusForbidden)
		if a.get("/orgs/acme/keys").testid("nav-settings").Length() != 1 || b.get("/orgs/acme/keys").testid("nav-settings").Length() != 0 {
			t.Error("the settings link is not shown to admins only")
		}

		// An admin without two-factor cannot require it.
		r := a.get("/orgs/acme/settings")
		wantStatus(t, r, http.StatusOK)
		if r.testid("settings-need-two-factor").Length() != 1 {
			t.Error("no hint that the admin needs two-factor first")
		}
		r = a.post("/orgs/acme/settings", url.Values{"require_two_factor": {"true"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.text("form-error"), "your own account") {
			t.Errorf("message %q", r.text("form-error"))
		}
		wantStatus(t, a.post("/orgs/acme/settings", url.Values{"require_two_factor": {"yes please"}}), http.StatusUnprocessableEntity)
		wantStatus(t, b.get("/orgs/acme/keys"), http.StatusOK)

		a.enrol()
		wantRedirect(t, a.post("/orgs/acme/settings", url.Values{"require_two_factor": {"true"}}), "/orgs/acme/settings")
		if _, ok := a.get("/orgs/acme/settings").testid("settings-form").Find(`input[name="require_two_factor"]`).Attr("checked"); !ok {
			t.Error("the box is not ticked after saving")
		}

		// Bob's earlier session: every page of acme sends him to /account.
		for _, path := range []string{"/orgs/acme", "/orgs/acme/keys", "/orgs/acme/members", "/orgs/acme/usage"} {
			wantRedirect(t, b.get(path), "/account")
		}
		r = b.get("/orgs/acme/keys", "HX-Request", "true")
		if r.Header.Get("HX-Redirect") != "/account" {
			t.Errorf("htmx: HX-Redirect %q, want /account", r.Header.Get("HX-Redirect"))
		}
		// Another organization, and his account, stay open.
		wantStatus(t, b.get("/orgs/other/keys"), http.StatusOK)
		r = b.get("/account")
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(r.text("two-factor-required"), "Acme requires") {
			t.Errorf("account page: %q", r.text("two-factor-required"))
		}
		b.enrol()
		wantStatus(t, b.get("/orgs/acme/keys"), http.StatusOK)
		_ = other

		if got := e.auditActions(acme.ID, audit.OrgSettingsChanged); len(got) != 1 {
			t.Errorf("%d settings events, want 1", len(got))
		}
		// Turning it off needs no two-factor check, and is recorded.
		wantRedirect(t, a.post("/orgs/acme/settings", url.Values{}), "/orgs/acme/settings")
		if got := e.auditActions(acme.ID, audit.OrgSettingsChanged); len(got) != 2 {
			t.Errorf("%d settings events, want 2", len(got))
		}
	})
}

func TestOperatorTwoFactor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, map[string]string{"KEYPLANE_OPERATOR_2FA": "required"})
		olivia := e.user("olivia@example.com", "Olivia", true)
		alice := e.user("alice@example.com", "Alice", false)
		acme := e.org("Acme", "acme", alice.ID)
		op, a := e.client(), e.client()
		op.mustLogin("olivia@example.com")
		a.mustLogin("alice@example.com")
		wantRedirect(t, op.get("/admin/users"), "/account")
		if r := op.get("/admin/users", "HX-Request", "true"); r.Header.Get("HX-Redirect") != "/account" {
			t.Errorf("htmx: HX-Redirect %q", r.Header.Get("HX-Redirect"))
		}
		if !strings.Contains(op.get("/account").text("two-factor-required"), "operators") {
			t.Error("the account page does not say operators need two-factor")
		}
		op.enrol()
		r := op.get("/admin/users")
		wantStatus(t, r, http.StatusOK)

		// Reset a user's two-factor, after a confirmation.
		a.enrol()
		row := op.get("/admin/users").testid("user-row").FilterFunction(func(_ int, s *goquery.Selection) bool {
			return strings.Contains(s.Text(), "alice@example.com")
		})
		href, ok := row.Find(`[data-testid="user-reset-two-factor"]`).Attr("href")
		if !ok {
			t.Fatal("no reset link for alice")
		}
		r = op.get(href)
		wantStatus(t, r, http.StatusOK)
		if r.testid("reset-two-factor").Length() != 1 {
			t.Fatal("no confirmation page")
		}
		wantRedirect(t, op.post(href, nil), "/admin/users")
		if on, _ := e.srv.twoFactor.Enabled(context.Background(), alice.ID); on {
			t.Fatal("still on after the reset")
		}
		wantStatus(t, op.get(href), http.StatusConflict)
		wantStatus(t, op.post(href, nil), http.StatusNotFound)
		e.client().mustLogin("alice@example.com")
		if got := e.auditActions(acme.ID, audit.TwoFactorReset); len(got) != 1 {
			t.Errorf("%d reset events, want 1", len(got))
		}
		// Not their own: that takes the password on /account.
		wantStatus(t, op.post("/admin/users/"+olivia.ID+"/two-factor/reset", nil), http.StatusConflict)
		// Members never reach it.
		wantStatus(t, a.post(href, nil), http.StatusNotFound)
	})
}

// TestTwoFactorCSRF checks every two-factor POST refuses a request without
// the CSRF token.
func TestTwoFactorCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), nil)
	olivia := e.user("olivia@example.com", "Olivia", true)
	alice := e.user("alice@example.com", "Alice", false)
	e.org("Acme", "acme", alice.ID)
	op, a := e.client(), e.client()
	op.mustLogin("olivia@example.com")
	a.mustLogin("alice@example.com")
	secret, _ := a.enrol()
	pending := e.client()
	wantRedirect(t, pending.login("alice@example.com", testPassword), "/login/two-factor")
	e.nextStep()
	for _, tc := range []struct {
		c    *client
		path string
		form url.Values
	}{
		{pending, "/login/two-factor", url.Values{"code": {e.totpCode(secret)}}},
		{a, "/account/two-factor/start", nil},
		{a, "/account/two-factor/confirm", url.Values{"code": {"123456"}}},
		{a, "/account/two-factor/disable", url.Values{"disable_password": {testPassword}}},
		{a, "/account/two-factor/recovery-codes", url.Values{"regenerate_password": {testPassword}}},
		{a, "/orgs/acme/settings", url.Values{"require_two_factor": {"true"}}},
		{op, "/admin/users/" + alice.ID + "/two-factor/reset", nil},
	} {
		wantStatus(t, tc.c.postRaw(tc.path, tc.form), http.StatusForbidden)
		wantStatus(t, tc.c.postRaw(tc.path, url.Values{"_csrf": {"forged-token-forged-token-forged-token-123"}}), http.StatusForbidden)
	}
	if on, _ := e.srv.twoFactor.Enabled(context.Background(), alice.ID); !on {
		t.Fatal("a forged request changed two-factor")
	}
	wantRedirect(t, pending.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))
	_ = olivia
}
