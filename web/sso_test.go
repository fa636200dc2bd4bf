package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"keyplane/internal/account"
	"keyplane/internal/audit"
	"keyplane/internal/faultproxy"
	"keyplane/internal/oidc"
	"keyplane/internal/oidc/oidctest"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// idp is a real OpenID Connect provider (mockoidc) on a loopback port,
// optionally behind a fault proxy.
type idp struct {
	m      *mockoidc.MockOIDC
	proxy  *faultproxy.Proxy // nil unless started with viaProxy
	issuer string
}

func startIdP(t *testing.T, viaProxy bool) *idp {
	t.Helper()
	p := oidctest.Start(t, viaProxy)
	return &idp{m: p.M, proxy: p.Proxy, issuer: p.Issuer}
}

// person is someone at the provider.
func person(sub, email string, verified bool) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: verified, PreferredUsername: "Pat " + sub}
}

const (
	ssoName = "Test IdP"
	// Deadlines of the provider's client in these tests.
	ssoDiscovery = 500 * time.Millisecond
	ssoExchange  = time.Second
	// ssoSlack is what an answer may take past its deadline on a busy
	// machine.
	ssoSlack = 2 * time.Second
)

// newSSOEnv starts a server with single sign-on through p; vars are more
// environment variables (KEYPLANE_PASSWORD_LOGIN, ...).
func newSSOEnv(t *testing.T, db *store.DB, p *idp, vars map[string]string) *env {
	t.Helper()
	all := map[string]string{
		"KEYPLANE_OIDC_ISSUER": p.issuer, "KEYPLANE_OIDC_CLIENT_ID": p.m.ClientID,
		"KEYPLANE_OIDC_CLIENT_SECRET": p.m.ClientSecret, "KEYPLANE_OIDC_NAME": ssoName,
	}
	for k, v := range vars {
		all[k] = v
	}
	return newEnv(t, db, all, func(d *Deps) {
		c, err := oidc.New(oidc.Options{
			Issuer: d.Config.OIDC.Issuer, ClientID: d.Config.OIDC.ClientID, ClientSecret: d.Config.OIDC.ClientSecret,
			RedirectURL: d.Config.BaseURL.String() + "/login/sso/callback", Name: d.Config.OIDC.Name,
			CookieSecret: d.SessionSecret, DB: db, DiscoveryTimeout: ssoDiscovery, ExchangeTimeout: ssoExchange,
			// The provider's clock is the real one: so is the client's, so
			// tests can move the throttle's clock without expiring tokens.
		})
		if err != nil {
			t.Fatalf("oidc.New: %v", err)
		}
		d.SSO = c
		d.SSOLinker = oidc.NewLinker(db, d.Accounts, d.Orgs, d.Config.OIDC)
	})
}

// ssoStart loads /login/sso (with next when not "") and checks that it
// sends the browser to the provider with the flow cookie.
func (c *client) ssoStart(p *idp, next string) *url.URL {
	c.t.Helper()
	path := "/login/sso"
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	r := c.get(path)
	wantStatus(c.t, r, http.StatusSeeOther)
	to, err := url.Parse(r.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(to.String(), p.issuer+"/") {
		c.t.Fatalf("/login/sso sends the browser to %q, want the provider %s", r.Header.Get("Location"), p.issuer)
	}
	ck := responseCookie(r, "kp_sso")
	if ck == nil || ck.Value == "" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge <= 0 {
		c.t.Fatalf("flow cookie %+v, want a HttpOnly, SameSite=Lax cookie with a lifetime", ck)
	}
	return to
}

// authorize is the person signing in at the provider: it follows the
// authorization URL and returns the callback's query the provider sends
// the browser back with.
func (p *idp) authorize(t *testing.T, authURL *url.URL, u *mockoidc.MockUser) url.Values {
	t.Helper()
	if u != nil {
		p.m.QueueUser(u)
	}
	hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(authURL.String())
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasSuffix(loc.Path, "/login/sso/callback") {
		t.Fatalf("provider answered %d, Location %q; want 302 to the callback", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query()
}

// callback is the browser coming back from the provider with query.
func (c *client) callback(q url.Values) *resp {
	c.t.Helper()
	return c.get("/login/sso/callback?" + q.Encode())
}

// ssoSignIn runs a whole sign-in as u and returns the callback's answer.
func (c *client) ssoSignIn(p *idp, u *mockoidc.MockUser, next string) *resp {
	c.t.Helper()
	return c.callback(p.authorize(c.t, c.ssoStart(p, next), u))
}

// wantSignedIn checks that the callback answer r signed the browser in and
// sent it to location, with the flow cookie cleared, and that the session
// works.
func (c *client) wantSignedIn(r *resp, location, email string) {
	c.t.Helper()
	wantRedirect(c.t, r, location)
	if ck := responseCookie(r, c.e.sessionCookieName()); ck == nil || ck.Value == "" {
		c.t.Fatalf("no session cookie set by the callback")
	}
	wantFlowCleared(c.t, r)
	if got := c.get("/account").text("account-email"); !strings.Contains(got, email) {
		c.t.Fatalf("account page after SSO: %q, want signed in as %s", got, email)
	}
}

func wantFlowCleared(t *testing.T, r *resp) {
	t.Helper()
	if ck := responseCookie(r, "kp_sso"); ck == nil || ck.MaxAge >= 0 {
		t.Fatalf("callback does not clear the flow cookie: %+v", ck)
	}
}

// wantRefused checks a refused callback: the sign-in error page with
// status, the message, a link back to sign in, no session.
func (c *client) wantRefused(r *resp, status int, message string) {
	c.t.Helper()
	wantStatus(c.t, r, status)
	if r.testid("sso-error").Length() != 1 || r.testid("back-to-sign-in").AttrOr("href", "") != "/login" {
		c.t.Fatalf("refusal without the sign-in error page: %.400s", r.body)
	}
	if got := r.text("sso-error-message"); !strings.Contains(got, message) {
		c.t.Errorf("refusal says %q, want %q in it", got, message)
	}
	if ck := responseCookie(r, c.e.sessionCookieName()); ck != nil && ck.Value != "" {
		c.t.Fatalf("a refused sign-in set a session cookie")
	}
	if wantStatus := http.StatusSeeOther; c.get("/account").StatusCode != wantStatus {
		c.t.Fatalf("signed in after a refused sign-in")
	}
}

func (e *env) summaries(orgID, action string) []string {
	e.t.Helper()
	var out []string
	for _, ev := range e.events(orgID, action) {
		out = append(out, ev.Summary)
	}
	return out
}

func TestSSOSignIn(t *testing.T) {
	t.Parallel()
	p := startIdP(t, false)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, p, nil)
		alice := e.user("alice@example.com", "Alice", false)
		acme := e.org("Acme", "acme", alice.ID)
		ctx := context.Background()

		// The login page offers the provider as a link, beside the form.
		c := e.client()
		r := c.get("/login")
		if href := r.testid("sso-sign-in").AttrOr("href", ""); href != "/login/sso" || !strings.Contains(r.text("sso-sign-in"), "Sign in with "+ssoName) {
			t.Fatalf("SSO link %q %q on the login page", href, r.text("sso-sign-in"))
		}
		if r.testid("login-form").Length() != 1 || r.testid("sso-only").Length() != 0 {
			t.Fatalf("password login is on: the form must be there, without the SSO-only note")
		}

		// A browser with a session planted before signing in gets a new one:
		// the planted session ends.
		planted := e.client()
		planted.mustLogin("alice@example.com")
		plantedValue := planted.cookie(e.sessionCookieName()).Value
		to := c.ssoStart(p, "/orgs/acme/keys?sort=name")
		q := p.authorize(t, to, person("alice-sub", "alice@example.com", true))
		c.setCookie(e.sessionCookieName(), plantedValue)
		r = c.callback(q)
		c.wantSignedIn(r, "/orgs/acme/keys?sort=name", "alice@example.com")
		if c.cookie(e.sessionCookieName()).Value == plantedValue {
			t.Fatal("the session cookie planted before the sign-in is still the browser's")
		}
		wantRedirect(t, planted.get("/account"), signInURL("/account"))
		wantStatus(t, c.get("/"), http.StatusSeeOther)
		wantStatus(t, c.get("/orgs/acme/keys"), http.StatusOK)

		// The account page shows the linked identity; alice keeps her password.
		r = c.get("/account")
		if got := r.text("identity-issuer"); got != p.issuer {
			t.Errorf("identity issuer %q, want %q", got, p.issuer)
		}
		if got := r.text("identity-email"); got != "alice@example.com" {
			t.Errorf("identity email %q", got)
		}
		if r.testid("password-form").Length() != 1 || r.testid("no-password").Length() != 0 {
			t.Errorf("a user with a password must keep the change-password form")
		}
		if got := e.summaries(acme.ID, audit.LoginSucceeded); len(got) != 2 || !strings.Contains(got[1], "with "+ssoName+" (single sign-on)") || !strings.Contains(got[1], "linking") {
			t.Errorf("login.succeeded summaries %q, want the SSO sign-in that linked the account last", got)
		}

		// Replayed: the same callback, with the same flow cookie, in another
		// browser. Refused, no session.
		replay := e.client()
		start := replay.ssoStart(p, "")
		flow := replay.cookie("kp_sso").Value
		q = p.authorize(t, start, person("alice-sub", "alice@example.com", true))
		replay.wantSignedIn(replay.callback(q), "/", "alice@example.com")
		again := e.client()
		again.setCookie("kp_sso", flow)
		r = again.callback(q)
		again.wantRefused(r, http.StatusForbidden, "used already")
		wantFlowCleared(t, r)

		// A user with two-factor on is not asked for a Keyplane code: the
		// provider owns how people prove who they are.
		bob := e.user("bob@example.com", "Bob", false)
		e.addMember(acme.ID, bob.ID, org.Member)
		b := e.client()
		b.mustLogin("bob@example.com")
		b.enrol()
		sso := e.client()
		r = sso.ssoSignIn(p, person("bob-sub", "bob@example.com", true), "/orgs/acme/keys")
		sso.wantSignedIn(r, "/orgs/acme/keys", "bob@example.com")
		if ck := responseCookie(r, "kp_signin"); ck != nil && ck.Value != "" {
			t.Error("an SSO sign-in started a pending two-factor sign-in")
		}
		// Whereas his password still asks for the code.
		wantRedirect(t, e.client().login("bob@example.com", testPassword), "/login/two-factor")

		// A return path to another site lands on "/".
		r = e.client().ssoSignIn(p, person("bob-sub", "bob@example.com", true), "//evil.example.com/x")
		wantRedirect(t, r, "/")

		ids, err := e.accounts.UserIdentities(ctx, bob.ID)
		if err != nil || len(ids) != 1 || ids[0].Subject != "bob-sub" {
			t.Errorf("bob's identities %+v, %v", ids, err)
		}
	})
}

func TestSSORefusals(t *testing.T) {
	t.Parallel()
	p := startIdP(t, false)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, p, nil)
		ctx := context.Background()
		olivia := e.user("olivia@example.com", "Olivia", true)
		acme := e.org("Acme", "acme", olivia.ID)
		dave := e.user("dave@example.com", "Dave", false)
		e.addMember(acme.ID, dave.ID, org.Member)
		if _, _, err := e.orgs.CreateInvite(ctx, acme.ID, "nina@example.com", org.Member, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		users, idents := e.count("users"), e.count("user_identities")

		// An unverified email is refused, and creates nothing, even with a
		// pending invitation.
		c := e.client()
		r := c.ssoSignIn(p, person("nina-sub", "nina@example.com", false), "")
		c.wantRefused(r, http.StatusForbidden, "has not verified your email address")
		wantFlowCleared(t, r)
		if e.count("users") != users || e.count("user_identities") != idents {
			t.Fatal("an unverified sign-in created a user or an identity")
		}

		// An unknown email without an invitation.
		c.wantRefused(c.ssoSignIn(p, person("zed-sub", "zed@example.com", true), ""), http.StatusForbidden, "No Keyplane account uses zed@example.com")

		// A forged state: the provider's answer to another flow.
		c2 := e.client()
		to := c2.ssoStart(p, "")
		q := p.authorize(t, to, person("dave-sub", "dave@example.com", true))
		q.Set("state", "forged-"+q.Get("state"))
		c2.wantRefused(c2.callback(q), http.StatusForbidden, "does not match")

		// No flow cookie at all (another browser).
		c3 := e.client()
		c3.wantRefused(c3.callback(url.Values{"state": {"x"}, "code": {"y"}}), http.StatusForbidden, "another browser")

		// The provider says no.
		c3.wantRefused(c3.callback(url.Values{"error": {"access_denied"}}), http.StatusForbidden, "did not sign you in")

		// Five refusals from one address: let the throttle's window pass.
		e.clock.Advance(account.ThrottleWindow + time.Second)

		// An operator is never linked by email: refused, and audited.
		c.wantRefused(c.ssoSignIn(p, person("olivia-sub", "olivia@example.com", true), ""), http.StatusForbidden, "Operator accounts are not linked")
		if got := e.summaries(acme.ID, audit.LoginFailed); len(got) != 1 || !strings.Contains(got[0], "olivia@example.com") || !strings.Contains(got[0], string(oidc.ReasonOperator)) {
			t.Errorf("login.failed after the operator's refusal: %q", got)
		}

		// A disabled user, linked before, is refused and audited.
		c.wantSignedIn(c.ssoSignIn(p, person("dave-sub", "dave@example.com", true), ""), "/", "dave@example.com")
		if err := e.accounts.SetDisabled(ctx, dave.ID, true, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		d := e.client()
		d.wantRefused(d.ssoSignIn(p, person("dave-sub", "dave@example.com", true), ""), http.StatusForbidden, "disabled")
		if got := e.summaries(acme.ID, audit.LoginFailed); len(got) != 2 || !strings.Contains(got[1], string(oidc.ReasonDisabled)) {
			t.Errorf("login.failed after the disabled user's refusal: %q", got)
		}
	})
}

// TestSSOCallbackThrottle: refused callbacks count as failed sign-ins of
// the client's address; after account.AccountFailureLimit of them the
// callback answers 429 before anything else, until the window has passed.
func TestSSOCallbackThrottle(t *testing.T) {
	t.Parallel()
	p := startIdP(t, false)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, p, nil)
		alice := e.user("alice@example.com", "Alice", false)
		e.org("Acme", "acme", alice.ID)
		c := e.client()
		for i := 0; i < account.AccountFailureLimit; i++ {
			wantStatus(t, c.callback(url.Values{"state": {"forged"}, "code": {"x"}}), http.StatusForbidden)
		}
		r := c.callback(url.Values{"state": {"forged"}, "code": {"x"}})
		c.wantRefused(r, http.StatusTooManyRequests, "Too many failed sign-in attempts")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		// A genuine sign-in from there waits too; after the window it works.
		to := c.ssoStart(p, "")
		q := p.authorize(t, to, person("alice-sub", "alice@example.com", true))
		wantStatus(t, c.callback(q), http.StatusTooManyRequests)
		e.clock.Advance(account.ThrottleWindow + time.Second)
		c.wantSignedIn(c.ssoSignIn(p, person("alice-sub", "alice@example.com", true), ""), "/", "alice@example.com")
	})
}

func TestSSOAcceptsInvite(t *testing.T) {
	t.Parallel()
	p := startIdP(t, false)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, p, nil)
		ctx := context.Background()
		olivia := e.user("olivia@example.com", "Olivia", true)
		acme := e.org("Acme", "acme", olivia.ID)
		token, _, err := e.orgs.CreateInvite(ctx, acme.ID, "carol@example.com", org.Admin, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}

		c := e.client()
		r := c.get("/invites/" + token)
		link := r.testid("accept-invite-sso")
		if href := link.AttrOr("href", ""); href != "/login/sso?next=%2Forgs%2Facme%2Fkeys" || !strings.Contains(link.Text(), "Accept with "+ssoName) {
			t.Fatalf("invite page SSO link %q %q", href, link.Text())
		}
		if r.testid("signup-form").Length() != 1 {
			t.Fatal("password login is on: the sign-up form must stay")
		}

		r = c.ssoSignIn(p, person("carol-sub", "carol@example.com", true), "/orgs/acme/keys")
		c.wantSignedIn(r, "/orgs/acme/keys", "carol@example.com")
		wantStatus(t, c.get("/orgs/acme/keys"), http.StatusOK)
		carol, err := e.accounts.UserByEmail(ctx, "carol@example.com")
		if err != nil || carol.PasswordHash != "" {
			t.Fatalf("carol: %+v, %v; want a user without a password", carol, err)
		}
		want404(t, e.client().get("/invites/"+token)) // used up
		if got := e.summaries(acme.ID, audit.LoginSucceeded); len(got) != 1 || !strings.Contains(got[0], "accepting an invitation") {
			t.Errorf("login.succeeded summaries %q", got)
		}
		if got := e.events(acme.ID, "member.joined"); len(got) != 1 {
			t.Errorf("%d member.joined events, want 1", len(got))
		}

		// Her account page says how she signs in, and asks for no password.
		r = c.get("/account")
		if r.testid("password-form").Length() != 0 || !strings.Contains(r.text("no-password"), "You sign in with "+ssoName) {
			t.Errorf("password card of an SSO user: %q", r.text("no-password"))
		}
		if r.testid("identity-row").Length() != 1 {
			t.Errorf("%d identity rows", r.testid("identity-row").Length())
		}
		// Nor does it offer Keyplane's two-factor, which guards passwords.
		if r.testid("two-factor-start").Length() != 0 || !strings.Contains(r.text("two-factor-sso"), "You sign in with "+ssoName) {
			t.Errorf("two-factor card of an SSO user: %q", r.text("two-factor-card"))
		}
		wantStatus(t, c.post("/account/two-factor/start", nil), http.StatusConflict)
	})
}

func TestPasswordLoginOff(t *testing.T) {
	t.Parallel()
	p := startIdP(t, false)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, p, map[string]string{"KEYPLANE_PASSWORD_LOGIN": "off"})
		ctx := context.Background()
		olivia := e.user("olivia@example.com", "Olivia", true)
		acme := e.org("Acme", "acme", olivia.ID)

		c := e.client()
		r := c.get("/login")
		if r.testid("login-form").Length() != 0 || r.testid("sso-sign-in").Length() != 1 || r.testid("sso-only").Length() != 1 {
			t.Fatalf("login page with password login off: %.600s", r.body)
		}
		// Right password, wrong password, unknown account: one answer.
		var bodies []string
		for _, try := range [][2]string{{"olivia@example.com", testPassword}, {"olivia@example.com", "wrong password!"}, {"nobody@example.com", testPassword}} {
			r := c.login(try[0], try[1])
			wantStatus(t, r, http.StatusForbidden)
			if ck := responseCookie(r, e.sessionCookieName()); ck != nil && ck.Value != "" {
				t.Fatal("a password sign-in set a session with password login off")
			}
			bodies = append(bodies, r.text("form-error"))
		}
		if bodies[0] == "" || bodies[0] != bodies[1] || bodies[1] != bodies[2] || !strings.Contains(bodies[0], "Sign in with "+ssoName) {
			t.Errorf("refusals %q, want one message pointing to SSO", bodies)
		}

		// The invitation page offers SSO only, and refuses a password sign-up.
		token, _, err := e.orgs.CreateInvite(ctx, acme.ID, "carol@example.com", org.Member, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		r = c.get("/invites/" + token)
		if r.testid("signup-form").Length() != 0 || r.testid("accept-invite-sso").Length() != 1 {
			t.Fatalf("invite page with password login off: %.600s", r.body)
		}
		wantStatus(t, c.post("/invites/"+token, url.Values{"name": {"Carol"}, "password": {testPassword}}), http.StatusForbidden)
		if _, err := e.accounts.UserByEmail(ctx, "carol@example.com"); err == nil {
			t.Fatal("a password sign-up made an account with password login off")
		}
	})
}

func TestPasswordLoginOperators(t *testing.T) {
	t.Parallel()
	p := startIdP(t, false)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, p, map[string]string{"KEYPLANE_PASSWORD_LOGIN": "operators"})
		olivia := e.user("olivia@example.com", "Olivia", true)
		acme := e.org("Acme", "acme", olivia.ID)
		alice := e.user("alice@example.com", "Alice", false)
		e.addMember(acme.ID, alice.ID, org.Member)

		r := e.client().get("/login")
		if r.testid("login-form").Length() != 1 || r.testid("break-glass-note").Length() != 1 || !strings.Contains(r.text("sso-only"), "through "+ssoName) {
			t.Fatalf("login page in operators mode: %.600s", r.body)
		}
		// The operator's break-glass password works.
		e.client().mustLogin("olivia@example.com")

		// A member's right password gets the answer of a wrong one.
		right := e.client().login("alice@example.com", testPassword)
		wrong := e.client().login("alice@example.com", "not her password")
		unknown := e.client().login("nobody@example.com", testPassword)
		for _, r := range []*resp{right, wrong, unknown} {
			wantStatus(t, r, http.StatusUnauthorized)
			if ck := responseCookie(r, e.sessionCookieName()); ck != nil && ck.Value != "" {
				t.Fatal("a member signed in with a password in operators mode")
			}
		}
		if right.text("form-error") != wrong.text("form-error") || wrong.text("form-error") != unknown.text("form-error") {
			t.Errorf("answers differ: %q / %q / %q", right.text("form-error"), wrong.text("form-error"), unknown.text("form-error"))
		}
		if got := e.summaries(acme.ID, audit.LoginFailed); len(got) != 2 || !strings.Contains(got[0], "operators only") {
			t.Errorf("login.failed summaries %q", got)
		}
		// SSO still signs her in.
		c := e.client()
		c.wantSignedIn(c.ssoSignIn(p, person("alice-sub", "alice@example.com", true), ""), "/", "alice@example.com")
	})
}

// TestSSOProviderDown: a provider that does not answer gets the 503 page
// within the client's deadlines, from /login/sso (discovery) and from the
// callback (token exchange); nothing hangs, nothing is counted.
func TestSSOProviderDown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := startIdP(t, true)
		e := newSSOEnv(t, db, p, nil)
		alice := e.user("alice@example.com", "Alice", false)
		e.org("Acme", "acme", alice.ID)

		// Down from the start: /login/sso cannot discover the provider.
		p.proxy.Blackhole()
		c := e.client()
		t0 := time.Now()
		r := c.get("/login/sso")
		if took := time.Since(t0); took > ssoDiscovery+ssoSlack {
			t.Errorf("/login/sso took %s against a blackholed provider", took)
		}
		c.wantRefused(r, http.StatusServiceUnavailable, "not possible right now")
		if ck := responseCookie(r, "kp_sso"); ck != nil && ck.Value != "" {
			t.Error("a flow cookie for a sign-in that could not start")
		}
		if err := p.proxy.Restore(); err != nil {
			t.Fatal(err)
		}

		// Down between the sign-in at the provider and the callback.
		to := c.ssoStart(p, "")
		q := p.authorize(t, to, person("alice-sub", "alice@example.com", true))
		p.proxy.Blackhole()
		t0 = time.Now()
		r = c.callback(q)
		if took := time.Since(t0); took > ssoExchange+ssoSlack {
			t.Errorf("callback took %s against a blackholed provider", took)
		}
		c.wantRefused(r, http.StatusServiceUnavailable, "not possible right now")
		wantFlowCleared(t, r)
		if err := p.proxy.Restore(); err != nil {
			t.Fatal(err)
		}

		// Outages are not refusals: more than the throttle's limit of them
		// leave the address free to sign in.
		for i := 0; i < account.AccountFailureLimit; i++ {
			b := e.client()
			q := p.authorize(t, b.ssoStart(p, ""), person("alice-sub", "alice@example.com", true))
			p.proxy.Cut()
			wantStatus(t, b.callback(q), http.StatusServiceUnavailable)
			if err := p.proxy.Restore(); err != nil {
				t.Fatal(err)
			}
		}
		c.wantSignedIn(c.ssoSignIn(p, person("alice-sub", "alice@example.com", true), ""), "/", "alice@example.com")
	})
}

func TestSSOOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), nil)
	alice := e.user("alice@example.com", "Alice", false)
	e.org("Acme", "acme", alice.ID)
	c := e.client()
	if r := c.get("/login"); r.testid("sso-sign-in").Length() != 0 || r.testid("login-form").Length() != 1 {
		t.Fatalf("login page with SSO off: %.400s", r.body)
	}
	want404(t, c.get("/login/sso"))
	want404(t, c.get("/login/sso/callback?state=x&code=y"))
}

// TestSSOSessionsSkipOrgTwoFactor: an organization that requires two-factor
// sign-in sends a member's password session to set it up, but not their
// single sign-on session: the identity provider owns its second factor.
func TestSSOSessionsSkipOrgTwoFactor(t *testing.T) {
	t.Parallel()
	p := startIdP(t, false)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newSSOEnv(t, db, p, nil)
		alice := e.user("alice@example.com", "Alice", false)
		acme := e.org("Acme", "acme", alice.ID)
		carol := e.user("carol@example.com", "Carol", false)
		e.addMember(acme.ID, carol.ID, org.Member)
		if err := e.orgs.SetRequireTwoFactor(context.Background(), acme.ID, true, audit.Actor{UserID: alice.ID, Email: alice.Email}); err != nil {
			t.Fatal(err)
		}

		byPassword := e.client()
		byPassword.mustLogin("carol@example.com")
		wantRedirect(t, byPassword.get("/orgs/acme/keys"), "/account")

		bySSO := e.client()
		bySSO.wantSignedIn(bySSO.ssoSignIn(p, person("carol-sub", "carol@example.com", true), "/orgs/acme/keys"), "/orgs/acme/keys", "carol@example.com")
		wantStatus(t, bySSO.get("/orgs/acme/keys"), http.StatusOK)
		wantStatus(t, bySSO.get("/orgs/acme/members"), http.StatusOK)

		// The mark lives on the session, not the user: her password session
		// is still sent to set up two-factor.
		wantRedirect(t, byPassword.get("/orgs/acme/keys"), "/account")
	})
}
