package oidc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"keyplane/internal/faultproxy"
	"keyplane/internal/oidc"
	"keyplane/internal/oidc/oidctest"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

// testProvider is a real OpenID Connect provider (mockoidc) on a loopback
// port, optionally behind a fault proxy, with hooks to rotate its signing
// key and to alter the ID tokens it hands out.
type testProvider struct {
	m      *mockoidc.MockOIDC
	proxy  *faultproxy.Proxy // nil unless started with viaProxy
	issuer string

	mu         sync.Mutex // held by every request, and by changes to what follows
	tamper     func(idToken string) string
	tokenCalls int
}

func startProvider(t *testing.T, viaProxy bool) *testProvider {
	t.Helper()
	p := &testProvider{}
	started := oidctest.Start(t, viaProxy, p.middleware)
	p.m, p.proxy, p.issuer = started.M, started.Proxy, started.Issuer
	return p
}

func (p *testProvider) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if r.URL.Path != mockoidc.TokenEndpoint {
			next.ServeHTTP(w, r)
			return
		}
		p.tokenCalls++
		if p.tamper == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var resp map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &resp) == nil {
			if raw, ok := resp["id_token"].(string); ok {
				resp["id_token"] = p.tamper(raw)
				body, _ = json.Marshal(resp)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

// setTamper makes the token endpoint pass every ID token through f (nil:
// untouched).
func (p *testProvider) setTamper(f func(string) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper = f
}

// rotate makes the provider sign with a new key and publish only that one.
func (p *testProvider) rotate(t *testing.T) *mockoidc.Keypair {
	t.Helper()
	kp, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.m.Keypair
	p.m.Keypair = kp
	return old
}

func (p *testProvider) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenCalls
}

// queue makes the next authorization sign in as u.
func (p *testProvider) queue(u mockoidc.User) { p.m.QueueUser(u) }

// authorize follows the authorization URL as a browser whose person signs
// in at once, and returns the query of the callback it is sent back to.
func (p *testProvider) authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	hc := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURL {
		t.Fatalf("sent back to %s, want %s", got, redirectURL)
	}
	return loc.Query()
}

const redirectURL = "http://keyplane.test/login/sso/callback"

var cookieSecret = bytes.Repeat([]byte("k"), 32)

// newClient returns a Client for p whose flows are remembered in db.
func newClient(t *testing.T, p *testProvider, db *store.DB, edit ...func(*oidc.Options)) *oidc.Client {
	t.Helper()
	o := oidc.Options{
		Issuer: p.issuer, ClientID: p.m.ClientID, ClientSecret: p.m.ClientSecret,
		RedirectURL: redirectURL, Name: "Test IdP", CookieSecret: cookieSecret, DB: db,
		DiscoveryTimeout: 2 * time.Second, ExchangeTimeout: 2 * time.Second,
	}
	for _, f := range edit {
		f(&o)
	}
	c, err := oidc.New(o)
	if err != nil {
		t.Fatalf("oidc.New: %v", err)
	}
	return c
}

// signIn runs one whole flow as user u and returns Finish's answer.
func signIn(t *testing.T, c *oidc.Client, p *testProvider, u mockoidc.User) (oidc.Callback, error) {
	t.Helper()
	ctx := context.Background()
	start, err := c.Begin(ctx, "/")
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if u != nil {
		p.queue(u)
	}
	q := p.authorize(t, start.URL)
	return c.Finish(ctx, start.Cookie.Value, q)
}

// person is a user at the provider whose ID token claims a test can edit.
type person struct {
	*mockoidc.MockUser
	edit func(c *mockoidc.IDTokenClaims)
}

func (u person) Claims(scope []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if u.edit != nil {
		u.edit(c)
	}
	return u.MockUser.Claims(scope, c)
}

func newPerson(sub, email string, verified bool) person {
	return person{MockUser: &mockoidc.MockUser{Subject: sub, Email: email, EmailVerified: verified, PreferredUsername: "Pat " + sub}}
}

func (u person) with(edit func(c *mockoidc.IDTokenClaims)) person {
	u.edit = edit
	return u
}

func numericDate(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

// sqlite is a fresh SQLite database, for protocol tests that do not depend
// on the dialect.
func sqlite(t *testing.T) *store.DB { return storetest.SQLite(t) }

// flipSignature changes one character of a JWT's signature.
func flipSignature(raw string) string {
	i := strings.LastIndexByte(raw, '.') + 5
	b := []byte(raw)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

type jwtMap = jwt.MapClaims

var jwtParser = jwt.NewParser()

func jwtMapClaims() jwt.MapClaims { return jwt.MapClaims{} }
