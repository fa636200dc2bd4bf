package web

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"
)

// startCaddyProducts runs README.md's "Caddy, two products" block in
// front of keyplane and each product's upstream (host:port each), and
// returns its base URL.
func startCaddyProducts(t *testing.T, keyplane, email, sms string) string {
	t.Helper()
	return runCaddy(t, "Caddy, two products", [][2]string{
		{"keyplane:8080", keyplane}, {"email-upstream:9000", email}, {"sms-upstream:9000", sms},
	})
}

// TestCaddyTwoProducts puts a real Caddy, configured as README.md says for
// a second product, in front of two products' APIs: each key passes only
// on its own product's path, with exactly its product's identity and under
// its route scopes; refusals come back as Keyplane wrote them.
func TestCaddyTwoProducts(t *testing.T) {
	p := newProductsEnv(t, "caddy")
	cases := p.cases()
	p.startGateway(func(t *testing.T, keyplane, _ string) string {
		return startCaddyProducts(t, keyplane, p.email, p.sms)
	})

	for _, c := range cases {
		// Each of the six (one in lower case) and one Keyplane never sends:
		// Caddy drops them all.
		hdr := map[string]string{
			"X-Keyplane-Key-Id": "forged", "x-keyplane-org-id": "forged", "X-Keyplane-Org": "evil",
			"X-Keyplane-Environment": "test", "X-Keyplane-Scopes": "admin", "X-Keyplane-Product": "sms", "X-Keyplane-Foo": "bar",
		}
		if c.key.Secret != "" {
			hdr["X-Api-Key"] = c.key.Secret
		}
		if c.preflight {
			hdr["Origin"], hdr["Access-Control-Request-Method"] = "https://example.com", "POST"
		}
		asked, hits := p.auth.count(), p.seen.count()
		r := p.call(c.method, c.path, c.body, hdr)
		if r.status != c.status {
			t.Fatalf("%s: status %d, want %d; body %s", c.name, r.status, c.status, r.body)
		}

		if c.auth == "" {
			if n := p.auth.count(); n != asked {
				t.Errorf("%s: Keyplane asked %d times, want never", c.name, n-asked)
			}
		} else {
			answer := p.auth.last(t)
			if n := p.auth.count(); n != asked+1 {
				t.Fatalf("%s: Keyplane asked %d times, want once", c.name, n-asked)
			}
			if u, _ := url.Parse(answer.uri); answer.method != "GET" || u.Path != c.auth {
				t.Errorf("%s: Keyplane asked with %s %s, want GET %s", c.name, answer.method, answer.uri, c.auth)
			}
			if m, u := answer.header.Get("X-Forwarded-Method"), answer.header.Get("X-Forwarded-Uri"); m != c.method || u != c.path {
				t.Errorf("%s: Keyplane was asked about %s %s, want %s %s", c.name, m, u, c.method, c.path)
			}
			if got := answer.answer.Get("X-Keyplane-Error"); got != c.code {
				t.Errorf("%s: Keyplane answered %d %q, want %q", c.name, answer.status, got, c.code)
			}
			// A refusal reaches the client as Keyplane wrote it.
			if c.code != "" {
				if !bytes.Equal(r.body, answer.answerBody) || r.header.Get("X-Keyplane-Error") != c.code {
					t.Errorf("%s: client got %s (X-Keyplane-Error %q), Keyplane answered %s",
						c.name, r.body, r.header.Get("X-Keyplane-Error"), answer.answerBody)
				}
			}
		}

		if c.app == "" {
			if n := p.seen.count(); n != hits {
				t.Fatalf("%s: reached an upstream (%d requests)", c.name, n-hits)
			}
			continue
		}
		if n := p.seen.count(); n != hits+1 || r.header.Get("X-App") != c.app {
			t.Fatalf("%s: answered by %q after %d upstream requests, want the %s upstream once; body %s",
				c.name, r.header.Get("X-App"), n-hits, c.app, r.body)
		}
		seen := p.seen.last(t)
		if seen.method != c.method || seen.uri != c.path || string(seen.body) != c.body {
			t.Errorf("%s: upstream saw %s %s with body %q, want %s %s with %q", c.name, seen.method, seen.uri, seen.body, c.method, c.path, c.body)
		}
		// Exactly the X-Keyplane-* headers of Keyplane's answer: the six,
		// X-Keyplane-Scopes empty for a key with no scopes; none without a key.
		want := http.Header{}
		if c.key.Secret != "" {
			for k, v := range p.identity(c.key, c.scopes) {
				want[k] = []string{v}
			}
		}
		if kh := keyplaneHeaders(p.auth.last(t).answer); !equalHeaders(kh, want) {
			t.Errorf("%s: Keyplane answered X-Keyplane-* %v, want %v", c.name, kh, want)
		}
		if kh := keyplaneHeaders(seen.header); !equalHeaders(kh, want) {
			t.Errorf("%s: upstream saw X-Keyplane-* %v, want exactly %v", c.name, kh, want)
		}
	}
}
