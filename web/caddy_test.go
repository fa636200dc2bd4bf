package web

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/store/storetest"
	"keyplane/internal/verify"
)

// startCaddy is the gatewayStart for Caddy: the ```caddy block of
// README.md follows global options that turn off the admin endpoint and
// automatic HTTPS, and every file Caddy writes stays in a temporary
// directory.
func startCaddy(t *testing.T, keyplane, app string) string {
	t.Helper()
	return runCaddy(t, "Caddy", [][2]string{{"keyplane:8080", keyplane}, {"api-upstream:9000", app}})
}

// runCaddy runs the ```caddy block after README.md's **paragraph** in "In
// front of an API", its addresses swapped (and its site address for a
// free port), and returns its base URL.
func runCaddy(t *testing.T, paragraph string, swaps [][2]string) string {
	t.Helper()
	gw := newGatewayProcess(t, "caddy", "/usr/bin/caddy")
	site := swapAddresses(t, readmeBlock(t, "In front of an API", paragraph, "caddy"),
		append(swaps, [2]string{"api.example.com {", "http://" + gw.listen + " {"}))
	conf := "{\n\tadmin off\n\tauto_https off\n}\n\n" + site
	confPath := filepath.Join(gw.dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	gw.args = []string{"run", "--config", confPath, "--adapter", "caddyfile"}
	gw.env = []string{
		"HOME=" + gw.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(gw.dir, "config"),
		"XDG_DATA_HOME=" + filepath.Join(gw.dir, "data"),
	}
	gw.report = func() string { return "config:\n" + conf }
	return gw.run(t)
}

// TestCaddyForwardAuth puts a real Caddy, configured as README.md says,
// between a client and an upstream, with Keyplane answering the auth
// requests.
func TestCaddyForwardAuth(t *testing.T) {
	db := storetest.SQLite(t)
	flaky := &flakyStore{Store: verify.DBStore{DB: db}}
	g := newGatewayEnv(t, db, "caddy", map[string]string{
		"KEYPLANE_ROUTE_SCOPES": "POST /v1/sms*=sms:send",
	}, func(deps *Deps) {
		deps.Verifier = verify.New(verify.Options{Store: flaky, Prefix: deps.Config.KeyPrefix, Now: deps.Now, Logger: deps.Logger})
	})
	sender := g.key(apikey.Input{Scopes: []string{"sms:send"}})
	plain := g.key(apikey.Input{})
	revoked := g.revokedKey()
	public := g.key(apikey.Input{Kind: "public", Domains: "example.com"})
	unused := g.key(apikey.Input{}) // never verified before the database goes away
	g.startGateway(startCaddy)

	// with returns hdr plus a forged identity: each of the six headers
	// (one in lower case) and one Keyplane never sends.
	with := func(hdr map[string]string) map[string]string {
		out := map[string]string{
			"X-Keyplane-Key-Id": "forged", "x-keyplane-org-id": "forged", "X-Keyplane-Org": "evil",
			"X-Keyplane-Environment": "test", "X-Keyplane-Scopes": "admin", "X-Keyplane-Product": "forged", "X-Keyplane-Foo": "bar",
		}
		for k, v := range hdr {
			out[k] = v
		}
		return out
	}
	// passed asserts that the last request reached the upstream as sent,
	// with exactly the X-Keyplane-* headers want (and none when want is
	// nil), which must be Keyplane's answer too.
	passed := func(name string, r gatewayReply, method, path, body string, want map[string]string) {
		t.Helper()
		if r.status != http.StatusOK || r.header.Get("X-App") != "upstream" {
			t.Fatalf("%s: status %d, X-App %q: not the upstream's answer; body %s", name, r.status, r.header.Get("X-App"), r.body)
		}
		got := g.seen.last(t)
		if got.method != method || got.uri != path || string(got.body) != body {
			t.Errorf("%s: upstream saw %s %s with body %q, want %s %s with %q", name, got.method, got.uri, got.body, method, path, body)
		}
		answer := g.auth.last(t)
		if answer.status != http.StatusOK {
			t.Fatalf("%s: Keyplane answered %d", name, answer.status)
		}
		if fm, fu := answer.header.Get("X-Forwarded-Method"), answer.header.Get("X-Forwarded-Uri"); fm != method || fu != path {
			t.Errorf("%s: Keyplane was asked about %s %s, want %s %s", name, fm, fu, method, path)
		}
		wantHdr := http.Header{}
		for k, v := range want {
			wantHdr[k] = []string{v}
		}
		if kh := keyplaneHeaders(answer.answer); !equalHeaders(kh, wantHdr) {
			t.Errorf("%s: Keyplane answered with %v, want %v", name, kh, wantHdr)
		}
		if kh := keyplaneHeaders(got.header); !equalHeaders(kh, wantHdr) {
			t.Errorf("%s: upstream saw X-Keyplane-* %v, want exactly %v", name, kh, wantHdr)
		}
	}
	// refused asserts that the client got Keyplane's answer (status,
	// headers and body) and that nothing reached the upstream.
	refused := func(name string, r gatewayReply, status int, code string) {
		t.Helper()
		answer := g.auth.last(t)
		if r.status != status || answer.status != status {
			t.Fatalf("%s: client got %d, Keyplane answered %d, want %d; body %s", name, r.status, answer.status, status, r.body)
		}
		if !bytes.Equal(r.body, answer.answerBody) {
			t.Errorf("%s: client got body %s, Keyplane answered %s", name, r.body, answer.answerBody)
		}
		if !strings.Contains(string(r.body), `"code":"`+code+`"`) {
			t.Errorf("%s: body %s, want code %q", name, r.body, code)
		}
		// Every header of the answer (X-Keyplane-Error, Retry-After,
		// RateLimit, ...) reaches the client unchanged.
		for k, v := range answer.answer {
			if k == "Date" {
				continue
			}
			if got := r.header.Values(k); !slices.Equal(got, v) {
				t.Errorf("%s: client got %s %q, Keyplane answered %q", name, k, got, v)
			}
		}
		if kh := keyplaneHeaders(r.header); !equalHeaders(kh, keyplaneHeaders(answer.answer)) {
			t.Errorf("%s: client got X-Keyplane-* %v, Keyplane answered %v", name, kh, keyplaneHeaders(answer.answer))
		}
	}

	// Allowed: the upstream gets the request as sent (the body too: Keyplane
	// is asked with GET and no body) and exactly the identity Keyplane
	// computed, never the client's.
	r := g.call(http.MethodGet, "/v1/sms?to=1", "", with(map[string]string{"X-Api-Key": sender.Secret}))
	passed("X-Api-Key", r, http.MethodGet, "/v1/sms?to=1", "", g.identity(sender, "sms:send"))
	r = g.call(http.MethodPost, "/v1/sms", `{"to":"1"}`, with(map[string]string{"Authorization": "Bearer " + sender.Secret}))
	passed("Bearer, POST", r, http.MethodPost, "/v1/sms", `{"to":"1"}`, g.identity(sender, "sms:send"))
	// A key with no scopes: X-Keyplane-Scopes arrives, empty.
	r = g.call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": plain.Secret}))
	passed("no scopes", r, http.MethodGet, "/v1/sms", "", g.identity(plain, ""))
	if got := g.seen.last(t).header.Values("X-Keyplane-Scopes"); len(got) != 1 || got[0] != "" {
		t.Errorf("no scopes: upstream saw X-Keyplane-Scopes %q, want one empty value", got)
	}

	// A CORS preflight without a key reaches the upstream with no identity
	// at all; one with a key is verified like any other request.
	preflight := map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
	r = g.call(http.MethodOptions, "/v1/sms", "", with(preflight))
	passed("preflight", r, http.MethodOptions, "/v1/sms", "", nil)
	r = g.call(http.MethodOptions, "/v1/sms", "", with(map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "POST", "X-Api-Key": sender.Secret}))
	passed("OPTIONS with a key", r, http.MethodOptions, "/v1/sms", "", g.identity(sender, "sms:send"))
	hits := g.seen.count()
	r = g.call(http.MethodOptions, "/v1/sms", "", with(map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "POST", "X-Api-Key": revoked.Secret}))
	refused("OPTIONS with a revoked key", r, 401, "key_revoked")

	// Refusals come back as Keyplane wrote them and never reach the upstream.
	refused("missing key", g.call(http.MethodGet, "/v1/sms", "", with(nil)), 401, "unauthorized")
	refused("bad key", g.call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": "kp_live_not-a-key"})), 401, "unauthorized")
	refused("two keys", g.call(http.MethodGet, "/v1/sms", "", map[string]string{"X-Api-Key": sender.Secret, "Authorization": "Bearer " + plain.Secret}), 401, "unauthorized")
	refused("revoked key", g.call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": revoked.Secret})), 401, "key_revoked")
	refused("missing scope", g.call(http.MethodPost, "/v1/sms", `{"to":"1"}`, with(map[string]string{"X-Api-Key": plain.Secret})), 403, "forbidden")
	refused("public key, foreign origin", g.call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": public.Secret, "Origin": "https://evil.net"})), 403, "domain_not_allowed")
	if n := g.seen.count(); n != hits {
		t.Fatalf("upstream hits %d after refusals, want %d", n, hits)
	}

	// A public key: 5 requests a minute per client IP, then 429 with
	// Retry-After and the RateLimit headers.
	pub := map[string]string{"X-Api-Key": public.Secret, "Origin": "https://example.com"}
	for i := range 5 {
		r := g.call(http.MethodGet, "/v1/sms", "", pub)
		if r.status != http.StatusOK {
			t.Fatalf("public key request %d: status %d; body %s", i+1, r.status, r.body)
		}
	}
	hits = g.seen.count()
	r = g.call(http.MethodGet, "/v1/sms", "", with(pub))
	refused("rate limited", r, 429, "rate_limited")
	for h, v := range map[string]string{"Retry-After": "300", "RateLimit-Policy": `"default";q=5;w=60`, "RateLimit": `"default";r=0;t=300`} {
		if got := r.header.Get(h); got != v {
			t.Errorf("rate limited: %s %q, want %q", h, got, v)
		}
	}

	// The database goes away: a key not cached gets 503.
	flaky.down.Store(true)
	refused("database down", g.call(http.MethodGet, "/v1/sms", "", with(map[string]string{"X-Api-Key": unused.Secret})), 503, "unavailable")
	flaky.down.Store(false)
	if n := g.seen.count(); n != hits {
		t.Fatalf("upstream hits %d after refusals, want %d", n, hits)
	}
}
