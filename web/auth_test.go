package web

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keyplane/internal/account"
	"keyplane/internal/audit"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

const badLogin = "Invalid email or password."

// wantLoginRefused asserts a failed sign-in: a 4xx with the form and
// message, no redirect, and no session.
func wantLoginRefused(t *testing.T, c *client, r *resp, status int, message string) {
	t.Helper()
	wantStatus(t, r, status)
	if loc := r.Header.Get("Location"); loc != "" {
		t.Fatalf("refused login redirects to %q", loc)
	}
	if r.testid("login-form").Length() != 1 {
		t.Fatalf("refused login shows no login form: %.300s", r.body)
	}
	if got := r.text("form-error"); got != message {
		t.Fatalf("form error %q, want %q", got, message)
	}
	if ck := responseCookie(r, c.e.sessionCookieName()); ck != nil && ck.Value != "" {
		t.Fatalf("refused login sets a session cookie")
	}
	if c.cookie(c.e.sessionCookieName()) != nil {
		t.Fatalf("refused login left a session cookie in the jar")
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		e.org("Acme", "acme", alice.ID)

		c := e.client()
		wantLoginRefused(t, c, c.login("alice@example.com", "wrong password 123"), http.StatusUnauthorized, badLogin)
		wantLoginRefused(t, c, c.login("nobody@example.com", testPassword), http.StatusUnauthorized, badLogin)
		if e.count("sessions") != 0 {
			t.Fatal("failed logins created sessions")
		}

		// Emails compare case-insensitively.
		wantRedirect(t, c.login("  Alice@Example.COM ", testPassword), "/")
		if c.cookie(e.sessionCookieName()) == nil {
			t.Fatal("no session cookie after login")
		}
		wantRedirect(t, c.get("/"), "/orgs/acme/keys")
		r := c.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		if got := r.text("nav-role"); got != "admin" {
			t.Fatalf("nav-role %q, want admin", got)
		}
		if r.testid("keys-empty").Length() != 1 {
			t.Fatal("keys page has no keys-empty hook")
		}
		// The sign-in page sends a signed-in user home.
		wantRedirect(t, c.get("/login"), "/")
	})
}

func TestLoginDisabledUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		bob := e.user("bob@example.com", "Bob", false)
		e.org("Acme", "acme", bob.ID)

		// A session from before the account was disabled ends with it.
		before := e.client()
		before.mustLogin("bob@example.com")
		if err := e.accounts.SetDisabled(context.Background(), bob.ID, true, audit.Actor{}); err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, before.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))

		c := e.client()
		r := c.login("bob@example.com", testPassword)
		wantLoginRefused(t, c, r, http.StatusForbidden, "This account has been disabled. Ask your Keyplane operator.")
		// A wrong password does not reveal that the account is disabled.
		wantLoginRefused(t, c, c.login("bob@example.com", "wrong password 123"), http.StatusUnauthorized, badLogin)
		if n := e.count("sessions"); n != 0 {
			t.Fatalf("%d sessions exist for a disabled user", n)
		}
	})
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		for _, name := range []string{"alice", "bob", "carol", "dave"} {
			u := e.user(name+"@example.com", name, false)
			e.org(name+" inc", name+"-inc", u.ID)
		}
		c := e.client()

		// Four failures are under the limit, and a success forgets them.
		for range 4 {
			wantStatus(t, c.login("bob@example.com", "wrong password 123"), http.StatusUnauthorized)
		}
		e.client().mustLogin("bob@example.com")

		// Five failures lock the account, whatever the password.
		for i := range 5 {
			wantStatus(t, c.login("alice@example.com", fmt.Sprintf("wrong password %d", i)), http.StatusUnauthorized)
		}
		r := c.login("alice@example.com", testPassword)
		wantLoginRefused(t, c, r, http.StatusTooManyRequests, "Too many failed sign-in attempts. Try again in 15 minutes.")
		wantRetryAfter(t, r, 900)

		e.clock.Advance(14 * time.Minute)
		r = c.login("alice@example.com", testPassword)
		wantStatus(t, r, http.StatusTooManyRequests)
		wantRetryAfter(t, r, 60)

		e.clock.Advance(time.Minute)
		c.mustLogin("alice@example.com")

		// Twenty failures from one IP, over many accounts, lock the IP.
		ip := e.client()
		for i := range 19 {
			wantStatus(t, ip.login(fmt.Sprintf("user%d@example.com", i), "wrong password 123"), http.StatusUnauthorized)
		}
		e.client().mustLogin("carol@example.com")
		wantStatus(t, ip.login("user19@example.com", "wrong password 123"), http.StatusUnauthorized)
		r = ip.login("dave@example.com", testPassword)
		wantLoginRefused(t, ip, r, http.StatusTooManyRequests, "Too many failed sign-in attempts. Try again in 15 minutes.")
		wantRetryAfter(t, r, 900)
	})
}

func wantRetryAfter(t *testing.T, r *resp, want int) {
	t.Helper()
	raw := r.Header.Get("Retry-After")
	secs, err := strconv.Atoi(raw)
	if err != nil {
		t.Fatalf("Retry-After %q is not an integer", raw)
	}
	if secs < want-5 || secs > want {
		t.Fatalf("Retry-After %d, want about %d", secs, want)
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		baseURL string
		cookie  string
		secure  bool
	}{
		{"http", "", "kp_session", false},
		{"https", "https://keys.example.com", "__Host-kp_session", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				e := newEnv(t, db, map[string]string{"KEYPLANE_BASE_URL": tc.baseURL})
				alice := e.user("alice@example.com", "Alice", false)
				e.org("Acme", "acme", alice.ID)
				c := e.client()
				r := c.login("alice@example.com", testPassword)
				wantRedirect(t, r, "/")
				ck := responseCookie(r, tc.cookie)
				switch {
				case ck == nil:
					t.Fatalf("no %s cookie in %q", tc.cookie, r.Header.Values("Set-Cookie"))
				case !ck.HttpOnly:
					t.Error("session cookie is not HttpOnly")
				case ck.SameSite != http.SameSiteLaxMode:
					t.Errorf("session cookie SameSite %v, want Lax", ck.SameSite)
				case ck.Path != "/":
					t.Errorf("session cookie Path %q, want /", ck.Path)
				case ck.Domain != "":
					t.Errorf("session cookie has Domain %q", ck.Domain)
				case ck.Secure != tc.secure:
					t.Errorf("session cookie Secure %v, want %v", ck.Secure, tc.secure)
				}
				csrfName := "kp_csrf"
				if tc.secure {
					csrfName = "__Host-kp_csrf"
				}
				// Login renews the CSRF token, so its cookie is in this response.
				if csrf := responseCookie(r, csrfName); csrf == nil {
					t.Errorf("login did not renew the CSRF cookie %s", csrfName)
				} else if csrf.Secure != tc.secure || !csrf.HttpOnly {
					t.Errorf("CSRF cookie Secure %v HttpOnly %v, want %v true", csrf.Secure, csrf.HttpOnly, tc.secure)
				}
				wantStatus(t, c.get("/orgs/acme/keys"), http.StatusOK)

				// The cookie carries a signed token; the database only its hash.
				var token string
				if err := e.srv.sessions.codec.Decode(tc.cookie, ck.Value, &token); err != nil {
					t.Fatalf("decode session cookie: %v", err)
				}
				rows, err := db.Raw("SELECT * FROM sessions").Rows()
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				n := 0
				for rows.Next() {
					n++
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					for i, v := range vals {
						var s string
						switch v := v.(type) {
						case string:
							s = v
						case []byte:
							s = string(v)
						default:
							continue
						}
						if s == ck.Value || strings.Contains(s, token) {
							t.Errorf("sessions.%s holds the cookie's token", cols[i])
						}
						if cols[i] == "token_hash" {
							sum := sha256.Sum256([]byte(token))
							if s != string(sum[:]) {
								t.Errorf("token_hash is not the SHA-256 of the cookie's token")
							}
						}
					}
				}
				if n != 1 {
					t.Fatalf("%d session rows, want 1", n)
				}
			})
		})
	}
}

func TestNewSessionAtLogin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		e.org("Acme", "acme", alice.ID)
		name := e.sessionCookieName()

		c := e.client()
		c.mustLogin("alice@example.com")
		first := c.cookie(name)
		if first == nil {
			t.Fatal("no session cookie")
		}
		c.mustLogin("alice@example.com")
		second := c.cookie(name)
		if second == nil || second.Value == first.Value {
			t.Fatal("the session cookie did not change at login")
		}
		if n := e.count("sessions"); n != 1 {
			t.Fatalf("%d sessions after logging in twice, want 1", n)
		}
		wantStatus(t, c.get("/orgs/acme/keys"), http.StatusOK)

		old := e.client()
		old.setCookie(name, first.Value)
		r := old.get("/orgs/acme/keys")
		wantRedirect(t, r, signInURL("/orgs/acme/keys"))
		if ck := responseCookie(r, name); ck == nil || ck.MaxAge >= 0 {
			t.Error("the dead session cookie is not cleared")
		}
	})
}

func TestLogoutEndsSession(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		alice := e.user("alice@example.com", "Alice", false)
		e.org("Acme", "acme", alice.ID)
		name := e.sessionCookieName()

		c := e.client()
		c.mustLogin("alice@example.com")
		saved := c.cookie(name).Value
		r := c.get("/orgs/acme/keys")
		wantStatus(t, r, http.StatusOK)
		if r.doc.Find(`form[action="/logout"] input[name="_csrf"]`).Length() != 1 {
			t.Fatal("no logout form with a CSRF field")
		}

		out := c.post("/logout", nil)
		wantRedirect(t, out, "/login")
		if got := out.Header.Get("Clear-Site-Data"); got != `"cache", "storage"` {
			t.Errorf("logout's Clear-Site-Data = %q, want the cache and storage cleared", got)
		}
		if c.cookie(name) != nil {
			t.Error("logout left the session cookie in the jar")
		}
		if n := e.count("sessions"); n != 0 {
			t.Fatalf("%d sessions after logout", n)
		}
		wantRedirect(t, c.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))

		replay := e.client()
		replay.setCookie(name, saved)
		wantRedirect(t, replay.get("/"), "/login")
		wantRedirect(t, replay.get("/orgs/acme/keys"), signInURL("/orgs/acme/keys"))
	})
}

// TestLoginThrottleHoldsUnderParallelGuesses fires many wrong passwords at
// once: each attempt is counted before its hash is checked, so no more than
// the limit can be tried.
func TestLoginThrottleHoldsUnderParallelGuesses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.SQLite(t), nil)
	u := e.user("alice@example.com", "Alice", false)
	e.org("Acme", "acme", u.ID)
	const guesses = 30
	clients := make([]*client, guesses)
	for i := range clients {
		clients[i] = e.client()
		clients[i].token()
	}
	statuses := make(chan int, guesses)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- c.login("alice@example.com", fmt.Sprintf("wrong password %d", i)).StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	tried := 0
	for st := range statuses {
		switch st {
		case http.StatusUnauthorized:
			tried++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("status %d, want 401 or 429", st)
		}
	}
	if tried > account.AccountFailureLimit {
		t.Fatalf("%d passwords were checked in parallel, want at most %d", tried, account.AccountFailureLimit)
	}
}
