package web

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keyplane/internal/faultproxy"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
)

var nonceRE = regexp.MustCompile(`'nonce-([A-Za-z0-9_+/=-]{16,})'`)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		baseURL string
		hsts    bool
	}{
		{"http", "", false},
		{"https", "https://keys.example.com", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, storetest.SQLite(t), map[string]string{"KEYPLANE_BASE_URL": tc.baseURL})
			alice := e.user("alice@example.com", "Alice", false)
			e.org("Acme", "acme", alice.ID)
			c := e.client()
			c.mustLogin("alice@example.com")

			var nonces []string
			for _, path := range []string{"/orgs/acme/keys", "/orgs/acme/keys", "/orgs/nope/keys"} {
				r := c.get(path)
				h := r.Header
				csp := h.Get("Content-Security-Policy")
				for _, d := range []string{"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'"} {
					if !strings.Contains(csp, d) {
						t.Errorf("%s: CSP %q lacks %s", path, csp, d)
					}
				}
				if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
					t.Errorf("%s: CSP allows unsafe code: %q", path, csp)
				}
				m := nonceRE.FindStringSubmatch(csp)
				if m == nil {
					t.Fatalf("%s: CSP %q has no nonce", path, csp)
				}
				nonces = append(nonces, m[1])
				if got := h.Get("X-Frame-Options"); got != "DENY" {
					t.Errorf("%s: X-Frame-Options %q: no Keyplane page may be framed", path, got)
				}
				if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("%s: X-Content-Type-Options %q", path, got)
				}
				if got := h.Get("Referrer-Policy"); got == "" || strings.Contains(got, "unsafe-url") {
					t.Errorf("%s: Referrer-Policy %q", path, got)
				}
				hsts := h.Get("Strict-Transport-Security")
				if tc.hsts != (hsts != "") {
					t.Errorf("%s: Strict-Transport-Security %q on %s", path, hsts, tc.name)
				}
				if tc.hsts && !strings.Contains(hsts, "max-age=") {
					t.Errorf("%s: Strict-Transport-Security %q has no max-age", path, hsts)
				}
				// Scripts come from this origin, or carry the nonce.
				r.doc.Find("script").Each(func(_ int, s *goquery.Selection) {
					if src, ok := s.Attr("src"); ok {
						if !strings.HasPrefix(src, "/") || strings.HasPrefix(src, "//") {
							t.Errorf("%s: script from another origin: %q", path, src)
						}
					} else if n, _ := s.Attr("nonce"); n != m[1] {
						t.Errorf("%s: an inline script's nonce %q is not the CSP's %q", path, n, m[1])
					}
				})
			}
			if nonces[0] == nonces[1] {
				t.Error("two responses share a CSP nonce")
			}
		})
	}
}

func TestOpsEndpoints(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		c := e.client()

		// Operations answer even before setup.
		r := c.get("/healthz")
		wantStatus(t, r, http.StatusOK)
		r = c.get("/readyz")
		wantStatus(t, r, http.StatusOK)

		for _, path := range []string{"/v1/nope", "/v1/keys/a/b", "/v1/"} {
			r = c.get(path)
			wantStatus(t, r, http.StatusNotFound)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("%s: Content-Type %q", path, ct)
			}
			var body struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.body), &body); err != nil {
				t.Fatalf("%s: body %q: %v", path, r.body, err)
			}
			if body.Error.Code != "not_found" || body.Error.Message == "" {
				t.Fatalf("%s: error %+v", path, body.Error)
			}
			if r.Header.Get("Set-Cookie") != "" {
				t.Fatalf("%s: the data plane sets cookies", path)
			}
		}

		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		r = c.get("/readyz")
		wantStatus(t, r, http.StatusServiceUnavailable)
		wantStatus(t, c.get("/healthz"), http.StatusOK)
	})
}

// TestReadyzFailsFastInAPartition: with the database silently dropping
// packets, /readyz answers 503 within a second (it used to wait two), and
// 200 again once the database is back.
func TestReadyzFailsFastInAPartition(t *testing.T) {
	t.Parallel()
	dsn, _ := storetest.SchemaURL(t)
	p, via := faultproxy.InFront(t, dsn)
	db, err := store.Open(context.Background(), store.Options{DatabaseURL: via})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := newEnv(t, db, nil).client()
	wantStatus(t, c.get("/readyz"), http.StatusOK)

	p.Blackhole()
	start := time.Now()
	wantStatus(t, c.get("/readyz"), http.StatusServiceUnavailable)
	failedIn := time.Since(start)
	if failedIn > time.Second {
		t.Fatalf("/readyz took %v to fail in a partition, want under 1 s", failedIn)
	}
	wantStatus(t, c.get("/healthz"), http.StatusOK)

	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for c.get("/readyz").StatusCode != http.StatusOK {
		if time.Since(back) > 2*time.Second {
			t.Fatal("/readyz still fails 2 s after the database came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("figure: /readyz failed in %v of a partition, answered 200 again %v after it ended", failedIn.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
}
