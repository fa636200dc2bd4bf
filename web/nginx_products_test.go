package web

import (
	"encoding/json"
	"net/url"
	"testing"
)

// startNginxProducts runs README.md's "nginx, two products" block in
// front of keyplane and each product's upstream (host:port each), and
// returns its base URL.
func startNginxProducts(t *testing.T, keyplane, email, sms string) string {
	t.Helper()
	return runNginx(t, "nginx, two products", [][2]string{
		{"server 127.0.0.1:8080;", "server " + keyplane + ";"},
		{"server 127.0.0.1:3000;", "server " + email + ";"},
		{"server 127.0.0.1:3001;", "server " + sms + ";"},
	})
}

// TestNginxTwoProducts puts a real nginx, configured as README.md says for
// a second product, in front of two products' APIs: each key passes only
// on its own product's path, with its product's identity and route scopes,
// and a client's own identity headers never reach an API.
func TestNginxTwoProducts(t *testing.T) {
	p := newProductsEnv(t, "nginx")
	cases := p.cases()
	p.startGateway(func(t *testing.T, keyplane, _ string) string {
		return startNginxProducts(t, keyplane, p.email, p.sms)
	})

	for _, c := range cases {
		// Each of the six, one in lower case, which nginx replaces.
		hdr := map[string]string{
			"X-Keyplane-Key-Id": "forged", "x-keyplane-org-id": "forged", "X-Keyplane-Org": "evil",
			"X-Keyplane-Environment": "test", "X-Keyplane-Scopes": "admin", "X-Keyplane-Product": "sms",
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
			if u, _ := url.Parse(answer.uri); u.Path != c.auth {
				t.Errorf("%s: Keyplane asked at %s, want %s", c.name, answer.uri, c.auth)
			}
			if m, u := answer.header.Get("X-Original-Method"), answer.header.Get("X-Original-Uri"); m != c.method || u != c.path {
				t.Errorf("%s: Keyplane was asked about %s %s, want %s %s", c.name, m, u, c.method, c.path)
			}
			if got := answer.answer.Get("X-Keyplane-Error"); got != c.code {
				t.Errorf("%s: Keyplane answered %d %q, want %q", c.name, answer.status, got, c.code)
			}
		}

		if c.app == "" {
			if n := p.seen.count(); n != hits {
				t.Fatalf("%s: reached an upstream (%d requests)", c.name, n-hits)
			}
			if c.code != "" {
				var body struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code != c.code || body.Error.Message == "" {
					t.Errorf("%s: body %s, want the error shape with code %q", c.name, r.body, c.code)
				}
			}
			for _, h := range identityHeaders {
				if v := r.header.Get(h); v != "" {
					t.Errorf("%s: response has %s: %q", c.name, h, v)
				}
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
		// Keyplane's values, never the client's; an empty one (a key with no
		// scopes, or no key) is dropped, as proxy_set_header does.
		want := map[string]string{}
		if c.key.Secret != "" {
			want = p.identity(c.key, c.scopes)
		}
		for _, k := range identityHeaders {
			got, v := seen.header.Values(k), want[k]
			if v == "" && len(got) != 0 || v != "" && (len(got) != 1 || got[0] != v) {
				t.Errorf("%s: upstream saw %s %q, want exactly %q", c.name, k, got, v)
			}
		}
	}
}
