package oidc_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"keyplane/internal/apperr"
	"keyplane/internal/clocktest"
	"keyplane/internal/oidc"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// wantRefused checks that err is a refusal with code and reason, whose
// message and cause give away no secret of the flow.
func wantRefused(t *testing.T, err error, code apperr.Code, reason oidc.Reason, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s (%s)", reason, code)
	}
	if got := oidc.ReasonOf(err); got != reason || apperr.CodeOf(err) != code {
		t.Fatalf("refused with %s (%s): %v; want %s (%s)", got, apperr.CodeOf(err), err, reason, code)
	}
	if !oidc.IsRefusal(err) {
		t.Errorf("IsRefusal(%v) = false", err)
	}
	msg := apperr.MessageOf(err)
	if msg == "" || strings.Contains(msg, "oidc:") {
		t.Errorf("message for the person %q", msg)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("the error %q holds a secret of the flow", err.Error())
		}
	}
}

func TestSignIn(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t))
	ctx := context.Background()

	start, err := c.Begin(ctx, "/orgs/acme/keys?tab=usage")
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	au, err := url.Parse(start.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := au.Query()
	if au.Scheme+"://"+au.Host+au.Path != p.m.AuthorizationEndpoint() {
		t.Errorf("authorization URL %s, want the discovered endpoint %s", start.URL, p.m.AuthorizationEndpoint())
	}
	for k, want := range map[string]string{
		"response_type": "code", "client_id": p.m.ClientID, "redirect_uri": redirectURL,
		"scope": "openid email profile", "code_challenge_method": "S256",
	} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	state, nonce, challenge := q.Get("state"), q.Get("nonce"), q.Get("code_challenge")
	for k, v := range map[string]string{"state": state, "nonce": nonce, "code_challenge": challenge} {
		if len(v) < 43 {
			t.Errorf("%s %q: want at least 256 random bits", k, v)
		}
	}
	ck := start.Cookie
	if ck.Name != "kp_sso" || ck.Path != "/" || ck.MaxAge != 600 || !ck.HttpOnly || ck.Secure || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v: want kp_sso, Path=/, Max-Age=600, HttpOnly, SameSite=Lax, not Secure over http", ck)
	}
	if strings.Contains(ck.Value, state) || strings.Contains(ck.Value, nonce) || c.CookieName() != ck.Name {
		t.Errorf("the cookie shows the state or nonce in clear, or CookieName() = %q", c.CookieName())
	}
	if strings.Contains(start.URL, "code_verifier") {
		t.Error("the authorization URL carries the verifier")
	}

	// A second sign-in gets its own state, nonce and challenge.
	again, err := c.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	aq, _ := url.Parse(again.URL)
	if aq.Query().Get("state") == state || aq.Query().Get("nonce") == nonce || aq.Query().Get("code_challenge") == challenge {
		t.Error("two sign-ins share a state, nonce or challenge")
	}

	p.queue(newPerson("sub-123", "Pat@Example.com", true))
	cb, err := c.Finish(ctx, ck.Value, p.authorize(t, start.URL))
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	want := oidc.Identity{Issuer: p.issuer, Subject: "sub-123", Email: "Pat@Example.com", EmailVerified: true, Name: "Pat sub-123"}
	if cb.Identity != want || cb.ReturnTo != "/orgs/acme/keys?tab=usage" {
		t.Errorf("Finish = %+v, want %+v returning to /orgs/acme/keys?tab=usage", cb, want)
	}
	if cl := c.ClearCookie(); cl.Name != ck.Name || cl.MaxAge >= 0 || cl.Path != "/" {
		t.Errorf("ClearCookie() = %+v", cl)
	}
}

func TestSecureCookie(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t), func(o *oidc.Options) { o.RedirectURL = "https://keyplane.example.com/login/sso/callback" })
	start, err := c.Begin(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	if ck := start.Cookie; ck.Name != "__Host-kp_sso" || !ck.Secure || ck.Path != "/" || c.ClearCookie().Name != ck.Name || !c.ClearCookie().Secure {
		t.Errorf("cookie %+v: want __Host-kp_sso, Secure, Path=/", ck)
	}
}

func TestReturnToStaysOnSite(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t))
	for in, want := range map[string]string{
		"/orgs/acme":                    "/orgs/acme",
		"":                              "/",
		"//evil.example.com/x":          "/",
		"/\\evil.example.com":           "/",
		"https://evil.example":          "/",
		"javascript:alert(1)":           "/",
		"orgs/acme":                     "/",
		"/ok\r\nSet-Cookie: x":          "/",
		"/" + strings.Repeat("a", 1100): "/",
	} {
		start, err := c.Begin(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := c.Finish(context.Background(), start.Cookie.Value, p.authorize(t, start.URL))
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if cb.ReturnTo != want {
			t.Errorf("Begin(%q): returns to %q, want %q", in, cb.ReturnTo, want)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t))
	if _, err := signIn(t, c, p, nil); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	old := p.rotate(t)
	// The new key's id is unknown to the cached key set: Finish fetches
	// the set again and verifies.
	if _, err := signIn(t, c, p, nil); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	// A token still signed with the retired key no longer verifies.
	p.setTamper(func(raw string) string {
		tok, _, err := jwtParser.ParseUnverified(raw, jwtMapClaims())
		if err != nil {
			t.Errorf("parse: %v", err)
			return raw
		}
		signed, err := old.SignJWT(tok.Claims)
		if err != nil {
			t.Errorf("sign: %v", err)
		}
		return signed
	})
	_, err := signIn(t, c, p, nil)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonBadToken)
}

func TestBadSignature(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t))
	var token string
	p.setTamper(func(raw string) string { token = flipSignature(raw); return token })
	_, err := signIn(t, c, p, nil)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonBadToken, token)

	// Signed with another key that claims the provider's key id.
	foreign, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	foreign.Kid, _ = p.m.Keypair.KeyID()
	p.setTamper(func(raw string) string {
		tok, _, _ := jwtParser.ParseUnverified(raw, jwtMapClaims())
		token, _ = foreign.SignJWT(tok.Claims)
		return token
	})
	_, err = signIn(t, c, p, nil)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonBadToken, token)

	// Not a JWT at all.
	p.setTamper(func(string) string { return "not-a-jwt" })
	_, err = signIn(t, c, p, nil)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonBadToken)
}

func TestTokenClaimsChecked(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t))
	now := time.Now()
	tests := []struct {
		name   string
		edit   func(*mockoidc.IDTokenClaims)
		reason oidc.Reason // "" for accepted
	}{
		{"wrong audience", func(cl *mockoidc.IDTokenClaims) { cl.Audience = []string{"another-client"} }, oidc.ReasonBadToken},
		{"no audience", func(cl *mockoidc.IDTokenClaims) { cl.Audience = nil }, oidc.ReasonBadToken},
		{"several audiences without azp", func(cl *mockoidc.IDTokenClaims) { cl.Audience = append(cl.Audience, "another-client") }, oidc.ReasonBadToken},
		{"wrong issuer", func(cl *mockoidc.IDTokenClaims) { cl.Issuer = "https://evil.example.com/oidc" }, oidc.ReasonBadToken},
		{"issuer with a slash more", func(cl *mockoidc.IDTokenClaims) { cl.Issuer += "/" }, oidc.ReasonBadToken},
		{"no subject", func(cl *mockoidc.IDTokenClaims) { cl.Subject = "" }, oidc.ReasonBadToken},
		{"expired", func(cl *mockoidc.IDTokenClaims) { cl.ExpiresAt = numericDate(now.Add(-2 * time.Minute)) }, oidc.ReasonTokenExpired},
		{"expired within the skew", func(cl *mockoidc.IDTokenClaims) { cl.ExpiresAt = numericDate(now.Add(-30 * time.Second)) }, ""},
		{"no expiry", func(cl *mockoidc.IDTokenClaims) { cl.ExpiresAt = nil }, oidc.ReasonBadToken},
		{"issued 2 minutes ahead", func(cl *mockoidc.IDTokenClaims) { cl.IssuedAt = numericDate(now.Add(2 * time.Minute)) }, oidc.ReasonClockSkew},
		{"issued 30 seconds ahead", func(cl *mockoidc.IDTokenClaims) { cl.IssuedAt = numericDate(now.Add(30 * time.Second)) }, ""},
		{"no issue time", func(cl *mockoidc.IDTokenClaims) { cl.IssuedAt = nil }, oidc.ReasonBadToken},
		{"valid 2 minutes from now", func(cl *mockoidc.IDTokenClaims) { cl.NotBefore = numericDate(now.Add(2 * time.Minute)) }, oidc.ReasonClockSkew},
		{"no nonce", func(cl *mockoidc.IDTokenClaims) { cl.Nonce = "" }, oidc.ReasonNonce},
		{"another nonce", func(cl *mockoidc.IDTokenClaims) { cl.Nonce = "an-older-sign-in" }, oidc.ReasonNonce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signIn(t, c, p, newPerson("sub-1", "pat@example.com", true).with(tt.edit))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefused(t, err, apperr.Forbidden, tt.reason)
		})
	}
}

func TestSeveralAudiencesWithAzp(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t))
	p.setTamper(func(raw string) string {
		tok, _, _ := jwtParser.ParseUnverified(raw, jwtMapClaims())
		cl := tok.Claims.(jwtMap)
		cl["aud"] = []string{"another-client", p.m.ClientID}
		cl["azp"] = p.m.ClientID
		signed, _ := p.m.Keypair.SignJWT(cl)
		return signed
	})
	if _, err := signIn(t, c, p, nil); err != nil {
		t.Fatalf("several audiences, azp = client id: %v", err)
	}
}

func TestCallbackChecked(t *testing.T) {
	p := startProvider(t, false)
	db := sqlite(t)
	clk := clocktest.New(time.Now())
	c := newClient(t, p, db, func(o *oidc.Options) { o.Now = clk.Now })
	ctx := context.Background()
	begin := func() (oidc.Start, url.Values) {
		t.Helper()
		s, err := c.Begin(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		return s, p.authorize(t, s.URL)
	}

	s, q := begin()
	_, err := c.Finish(ctx, "", q)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonNoCookie, q.Get("code"))

	_, err = c.Finish(ctx, s.Cookie.Value[:len(s.Cookie.Value)-2]+"xx", q)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonBadCookie, q.Get("code"))

	other := newClient(t, p, db, func(o *oidc.Options) { o.CookieSecret = bytes.Repeat([]byte("o"), 32) })
	_, err = other.Finish(ctx, s.Cookie.Value, q)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonBadCookie)

	s2, q2 := begin()
	_, err = c.Finish(ctx, s.Cookie.Value, q2)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonStateMismatch, q2.Get("state"))
	noState := url.Values{"code": {q.Get("code")}}
	_, err = c.Finish(ctx, s.Cookie.Value, noState)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonStateMismatch)

	_, err = c.Finish(ctx, s2.Cookie.Value, url.Values{"state": {q2.Get("state")}})
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonNoCode)

	_, err = c.Finish(ctx, s2.Cookie.Value, url.Values{"state": {q2.Get("state")}, "error": {"access_denied"}, "error_description": {"no\r\nthanks"}})
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonProviderError)
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the provider's text reaches the log raw: %q", err.Error())
	}

	// None of the refusals above spent the states: the flows still finish.
	if _, err := c.Finish(ctx, s.Cookie.Value, q); err != nil {
		t.Fatalf("first flow after the refusals: %v", err)
	}
	if _, err := c.Finish(ctx, s2.Cookie.Value, q2); err != nil {
		t.Fatalf("second flow after the refusals: %v", err)
	}

	// A flow older than FlowTTL is refused, even with its cookie.
	s3, q3 := begin()
	clk.Advance(oidc.FlowTTL + time.Second)
	_, err = c.Finish(ctx, s3.Cookie.Value, q3)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonBadCookie)
}

// TestPKCE: a code issued for one sign-in's challenge is refused by the
// provider when redeemed with another sign-in's verifier.
func TestPKCE(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t))
	ctx := context.Background()
	a, err := c.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Begin(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	qa := p.authorize(t, a.URL)
	bURL, _ := url.Parse(b.URL)
	// The attacker's callback: the victim's code, with the attacker's own
	// state and cookie.
	_, err = c.Finish(ctx, b.Cookie.Value, url.Values{"code": {qa.Get("code")}, "state": {bURL.Query().Get("state")}})
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonExchangeRefused, qa.Get("code"))
}

// TestReplayedState: a finished callback presented again is refused
// before it reaches the provider, by the same server or another one
// sharing the database.
func TestReplayedState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := startProvider(t, false)
		c1 := newClient(t, p, db)
		c2 := newClient(t, p, db)
		ctx := context.Background()
		start, err := c1.Begin(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		q := p.authorize(t, start.URL)
		if _, err := c1.Finish(ctx, start.Cookie.Value, q); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		calls := p.calls()
		for name, c := range map[string]*oidc.Client{"same server": c1, "another server": c2} {
			_, err := c.Finish(ctx, start.Cookie.Value, q)
			wantRefused(t, err, apperr.Forbidden, oidc.ReasonReplayed, q.Get("code"), q.Get("state"))
			if p.calls() != calls {
				t.Errorf("%s: the replay reached the token endpoint", name)
			}
		}

		// Remembered states are pruned once their flows have expired.
		if n, err := c1.PruneStates(ctx); err != nil || n != 0 {
			t.Errorf("PruneStates now = %d, %v; want 0", n, err)
		}
		late := newClient(t, p, db, func(o *oidc.Options) {
			o.Now = func() time.Time { return time.Now().Add(oidc.FlowTTL + 2*oidc.ClockSkew) }
		})
		if n, err := late.PruneStates(ctx); err != nil || n != 1 {
			t.Errorf("PruneStates after expiry = %d, %v; want 1", n, err)
		}
	})
}

func TestExchangeAnswerNotLogged(t *testing.T) {
	p := startProvider(t, false)
	c := newClient(t, p, sqlite(t))
	// One sign-in first, so that x/oauth2 knows how this provider takes
	// the client secret and makes one request per exchange.
	if _, err := signIn(t, c, p, nil); err != nil {
		t.Fatal(err)
	}
	// A queued error answers the provider's next request: the token
	// exchange, once the code is there. Its description echoes the code.
	start, err := c.Begin(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	q := p.authorize(t, start.URL)
	p.m.QueueError(&mockoidc.ServerError{Code: http.StatusBadRequest, Error: "invalid_grant", Description: "code " + q.Get("code") + " is bad"})
	_, err = c.Finish(context.Background(), start.Cookie.Value, q)
	wantRefused(t, err, apperr.Forbidden, oidc.ReasonExchangeRefused, q.Get("code"))

	start, _ = c.Begin(context.Background(), "/")
	q = p.authorize(t, start.URL)
	p.m.QueueError(&mockoidc.ServerError{Code: http.StatusBadGateway, Error: "upstream", Description: q.Get("code")})
	_, err = c.Finish(context.Background(), start.Cookie.Value, q)
	wantRefused(t, err, apperr.Unavailable, oidc.ReasonUnavailable, q.Get("code"))
}

func TestNewChecksOptions(t *testing.T) {
	db := sqlite(t)
	good := oidc.Options{Issuer: "https://id.example.com", ClientID: "c", ClientSecret: "s", RedirectURL: redirectURL, CookieSecret: cookieSecret, DB: db}
	if _, err := oidc.New(good); err != nil {
		t.Fatalf("New: %v", err)
	}
	for name, edit := range map[string]func(*oidc.Options){
		"no issuer":         func(o *oidc.Options) { o.Issuer = "" },
		"no secret":         func(o *oidc.Options) { o.ClientSecret = "" },
		"short cookie key":  func(o *oidc.Options) { o.CookieSecret = []byte("short") },
		"no database":       func(o *oidc.Options) { o.DB = nil },
		"relative redirect": func(o *oidc.Options) { o.RedirectURL = "/login/sso/callback" },
	} {
		o := good
		edit(&o)
		if _, err := oidc.New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
}
