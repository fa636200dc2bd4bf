package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/org"
	"keyplane/internal/store"
	"keyplane/internal/store/storetest"
	"keyplane/internal/usage"
	"keyplane/internal/verify"
)

// dpVars configure the data plane tests: two scopes of the deployment and
// route rules that require them.
var dpVars = map[string]string{
	"KEYPLANE_SCOPES":       "sms:send=Send SMS;reports:read=Read reports",
	"KEYPLANE_ROUTE_SCOPES": "POST /v1/sms*=sms:send;GET /v1/reports*=reports:read",
}

// dpTrustedProxies are the proxies the "proxied" server believes.
const dpTrustedProxies = "10.9.0.0/16"

// dpEnv is a server over a database holding the organization acme and a
// set of keys named for what they are, plus a second server on the same
// database that trusts the proxies in dpTrustedProxies.
type dpEnv struct {
	*env
	proxied *env
	acme    org.Organization
	secrets map[string]string
	ids     map[string]string
}

func newDPEnv(t *testing.T, db *store.DB, tweaks ...func(*Deps)) *dpEnv {
	t.Helper()
	e := newEnv(t, db, dpVars, tweaks...)
	pv := map[string]string{"KEYPLANE_TRUSTED_PROXIES": dpTrustedProxies}
	for k, v := range dpVars {
		pv[k] = v
	}
	d := &dpEnv{env: e, proxied: newEnv(t, db, pv), secrets: map[string]string{}, ids: map[string]string{}}
	alice := e.user("alice@example.com", "Alice", false)
	d.acme = e.org("Acme", "acme", alice.ID)
	return d
}

// add creates a key named name.
func (d *dpEnv) add(name string, in apikey.Input) {
	d.t.Helper()
	if in.Description == "" {
		in.Description = name
	}
	if in.Kind == "" {
		in.Kind = "private"
	}
	if in.Environment == "" {
		in.Environment = "live"
	}
	c, err := d.keys.Create(context.Background(), d.acme.ID, "", in, audit.Actor{})
	if err != nil {
		d.t.Fatalf("create key %s: %v", name, err)
	}
	d.secrets[name], d.ids[name] = c.Secret, c.Key.ID
}

// advance moves both servers' clocks.
func (d *dpEnv) advance(dt time.Duration) {
	d.clock.Advance(dt)
	d.proxied.clock.Advance(dt)
}

// standardKeys creates the keys the scenarios name. None is verified before
// it reaches its final state, so no cache is stale.
func (d *dpEnv) standardKeys() {
	d.t.Helper()
	ctx := context.Background()
	d.add("private", apikey.Input{})
	d.add("sms", apikey.Input{Scopes: []string{"sms:send"}})
	d.add("reports", apikey.Input{Scopes: []string{"reports:read"}})
	d.add("admin", apikey.Input{Scopes: []string{"admin"}})
	d.add("multi", apikey.Input{Environment: "test", Scopes: []string{"sms:send", "reports:read"}})
	d.add("revoked", apikey.Input{})
	if _, err := d.keys.Revoke(ctx, d.acme.ID, d.ids["revoked"], audit.Actor{}); err != nil {
		d.t.Fatal(err)
	}
	d.add("expiring", apikey.Input{ExpiresAt: d.clock.Now().Add(24 * time.Hour).Format("2006-01-02")})
	d.add("rotated", apikey.Input{})
	c, _, err := d.keys.Rotate(ctx, d.acme.ID, d.ids["rotated"], "1h", "", audit.Actor{})
	if err != nil {
		d.t.Fatal(err)
	}
	d.secrets["rotated.new"], d.ids["rotated.new"] = c.Secret, c.Key.ID
	d.add("ipv4", apikey.Input{IPs: "10.0.0.0/24"})
	d.add("ipv6", apikey.Input{IPs: "2001:db8::/64"})
	d.add("public", apikey.Input{Kind: "public", Domains: strings.Join([]string{
		"example.com", "*.example.org", "https://secure.example.net", "app.example.io:8443",
	}, "\n")})
	d.add("one", apikey.Input{RateLimit: "1"})
}

// expand replaces {name} by the key's plaintext, {name.id} by its id and
// {org.id} by the organization's id.
func (d *dpEnv) expand(s string) string {
	pairs := []string{"{org.id}", d.acme.ID}
	for name, secret := range d.secrets {
		pairs = append(pairs, "{"+name+".id}", d.ids[name], "{"+name+"}", secret)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// serve sends one request to srv from remote ("host:port").
func serve(srv http.Handler, method, target, remote string, body io.Reader, hdr []string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// errorCode returns the code of an error body, failing unless the body has
// exactly the shared error shape.
func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body map[string]map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body) != 1 || len(body["error"]) != 2 {
		t.Fatalf("status %d: not the error shape: %.300s", rec.Code, rec.Body)
	}
	if body["error"]["message"] == "" {
		t.Fatalf("error without a message: %s", rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q", ct)
	}
	return body["error"]["code"]
}

var identityHeaders = []string{"X-Keyplane-Key-Id", "X-Keyplane-Org-Id", "X-Keyplane-Org", "X-Keyplane-Environment", "X-Keyplane-Scopes", "X-Keyplane-Product"}

// dpScenario is one forward-auth request and what must come back. Header
// values and the target go through expand.
type dpScenario struct {
	name    string
	after   time.Duration // the clock's offset from the start; scenarios come in order
	proxied bool          // sent to the server that trusts dpTrustedProxies
	method  string        // GET when empty
	target  string        // /v1/auth when empty
	remote  string        // a fresh address of 198.51.100.0/24 when empty
	headers []string      // name, value pairs, added in order
	status  int
	code    string            // the error code; "" for a 200 with an empty body
	want    map[string]string // exact response headers
	absent  []string          // response headers that must be missing
}

// okIdentity is the identity headers of an allowed request with the key
// named name.
func okIdentity(name, env, scopes string) map[string]string {
	return map[string]string{
		"X-Keyplane-Key-Id": "{" + name + ".id}", "X-Keyplane-Org-Id": "{org.id}", "X-Keyplane-Org": "acme",
		"X-Keyplane-Environment": env, "X-Keyplane-Scopes": scopes, "X-Keyplane-Product": "default",
	}
}

func dpForwardAuthScenarios() []dpScenario {
	noRL := []string{"RateLimit-Policy", "RateLimit", "Retry-After"}
	denied := append(append([]string{}, identityHeaders...), "Retry-After")
	pub := func(origin string) []string { return []string{"X-Api-Key", "{public}", "Origin", origin} }
	pubOK := map[string]string{"RateLimit-Policy": `"default";q=5;w=60`, "RateLimit": `"default";r=4;t=60`}
	return []dpScenario{
		// Presenting the key.
		{name: "no key", status: 401, code: "unauthorized", absent: denied},
		{name: "X-Api-Key", headers: []string{"X-Api-Key", "{private}"}, status: 200, want: okIdentity("private", "live", ""), absent: noRL},
		{name: "Authorization: Bearer", headers: []string{"Authorization", "Bearer {private}"}, status: 200, want: okIdentity("private", "live", "")},
		{name: "lower-case bearer", headers: []string{"Authorization", "bearer {private}"}, status: 200, want: okIdentity("private", "live", "")},
		{name: "both headers, different keys", headers: []string{"X-Api-Key", "{private}", "Authorization", "Bearer {sms}"}, status: 401, code: "unauthorized", absent: denied},
		{name: "both headers, same key", headers: []string{"X-Api-Key", "{sms}", "Authorization", "Bearer {sms}"}, status: 200, want: okIdentity("sms", "live", "sms:send")},
		{name: "key only in the query string", target: "/v1/auth?api_key={private}", status: 401, code: "unauthorized", absent: denied},
		{name: "key in the query string of the original URI", headers: []string{"X-Forwarded-Uri", "/v1/x?api_key={private}"}, status: 401, code: "unauthorized"},
		{name: "Basic auth is no key", headers: []string{"Authorization", "Basic dXNlcjpwYXNz"}, status: 401, code: "unauthorized"},
		{name: "bad checksum", headers: []string{"X-Api-Key", "{badchecksum}"}, status: 401, code: "unauthorized", absent: denied},
		{name: "garbage", headers: []string{"X-Api-Key", "hello"}, status: 401, code: "unauthorized"},
		{name: "unknown well-formed key", headers: []string{"X-Api-Key", "{unknown}"}, status: 401, code: "unauthorized", absent: denied},
		{name: "revoked", headers: []string{"X-Api-Key", "{revoked}"}, status: 401, code: "key_revoked", absent: denied},
		{name: "before expiry", headers: []string{"X-Api-Key", "{expiring}"}, status: 200, want: okIdentity("expiring", "live", "")},
		{name: "rotated, old key within grace", headers: []string{"X-Api-Key", "{rotated}"}, status: 200, want: okIdentity("rotated", "live", "")},
		{name: "rotated, new key", headers: []string{"X-Api-Key", "{rotated.new}"}, status: 200, want: okIdentity("rotated.new", "live", "")},

		// IP allowlists, from the TCP peer.
		{name: "IPv4 first address", remote: "10.0.0.0:5000", headers: []string{"X-Api-Key", "{ipv4}"}, status: 200, want: okIdentity("ipv4", "live", "")},
		{name: "IPv4 last address", remote: "10.0.0.255:5000", headers: []string{"X-Api-Key", "{ipv4}"}, status: 200},
		{name: "IPv4 next range", remote: "10.0.1.0:5000", headers: []string{"X-Api-Key", "{ipv4}"}, status: 403, code: "ip_not_allowed", absent: denied},
		{name: "IPv4 just below", remote: "9.255.255.255:5000", headers: []string{"X-Api-Key", "{ipv4}"}, status: 403, code: "ip_not_allowed"},
		{name: "IPv4-mapped IPv6 peer", remote: "[::ffff:10.0.0.7]:5000", headers: []string{"X-Api-Key", "{ipv4}"}, status: 200},
		{name: "IPv6 inside", remote: "[2001:db8::1]:5000", headers: []string{"X-Api-Key", "{ipv6}"}, status: 200, want: okIdentity("ipv6", "live", "")},
		{name: "IPv6 last of the /64", remote: "[2001:db8::ffff:ffff:ffff:ffff]:5000", headers: []string{"X-Api-Key", "{ipv6}"}, status: 200},
		{name: "IPv6 next /64", remote: "[2001:db8:0:1::]:5000", headers: []string{"X-Api-Key", "{ipv6}"}, status: 403, code: "ip_not_allowed"},
		{name: "IPv4 peer, IPv6 allowlist", remote: "10.0.0.1:5000", headers: []string{"X-Api-Key", "{ipv6}"}, status: 403, code: "ip_not_allowed"},

		// X-Forwarded-For.
		{name: "spoofed XFF from an untrusted public peer", remote: "192.0.2.1:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "10.0.0.5"}, status: 403, code: "ip_not_allowed"},
		{name: "spoofed XFF from a private peer, nobody trusted", remote: "10.9.0.5:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "10.0.0.5"}, status: 403, code: "ip_not_allowed"},
		{name: "spoofed XFF from loopback, nobody trusted", remote: "127.0.0.1:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "10.0.0.5"}, status: 403, code: "ip_not_allowed"},
		{name: "X-Real-Ip is never read", remote: "192.0.2.1:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Real-Ip", "10.0.0.5"}, status: 403, code: "ip_not_allowed"},
		{name: "proxied: XFF from a trusted peer", proxied: true, remote: "10.9.0.5:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "10.0.0.5"}, status: 200},
		{name: "proxied: trusted hops skipped", proxied: true, remote: "10.9.0.5:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "10.0.0.5, 10.9.0.7"}, status: 200},
		{name: "proxied: right-most untrusted address used", proxied: true, remote: "10.9.0.5:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "10.0.0.5, 192.0.2.66"}, status: 403, code: "ip_not_allowed"},
		{name: "proxied: a spoofed left-most address is not used", proxied: true, remote: "10.9.0.5:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "192.0.2.66, 10.0.0.5"}, status: 200},
		{name: "proxied: XFF over two header lines", proxied: true, remote: "10.9.0.5:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "192.0.2.66", "X-Forwarded-For", "10.0.0.5"}, status: 200},
		{name: "proxied: XFF from an untrusted peer", proxied: true, remote: "192.0.2.1:5000", headers: []string{"X-Api-Key", "{ipv4}", "X-Forwarded-For", "10.0.0.5"}, status: 403, code: "ip_not_allowed"},
		{name: "proxied: no XFF, the peer itself", proxied: true, remote: "10.9.0.5:5000", headers: []string{"X-Api-Key", "{ipv4}"}, status: 403, code: "ip_not_allowed"},

		// Public keys: origins.
		{name: "public, allowed origin", headers: pub("https://example.com"), status: 200, want: mergeHeaders(okIdentity("public", "live", ""), pubOK)},
		{name: "public, http origin", headers: pub("http://example.com"), status: 200},
		{name: "public, Referer fallback", headers: []string{"X-Api-Key", "{public}", "Referer", "https://example.com/pricing?plan=pro"}, status: 200},
		{name: "public, Referer of another site", headers: []string{"X-Api-Key", "{public}", "Referer", "https://evil.net/https://example.com"}, status: 403, code: "domain_not_allowed"},
		{name: "public, Origin wins over Referer", headers: []string{"X-Api-Key", "{public}", "Origin", "https://evil.net", "Referer", "https://example.com/"}, status: 403, code: "domain_not_allowed"},
		{name: "public, no origin", headers: []string{"X-Api-Key", "{public}"}, status: 403, code: "anonymous_request", absent: denied},
		{name: "public, Origin: null", headers: pub("null"), status: 403, code: "anonymous_request"},
		{name: "public, Origin: null with a Referer", headers: []string{"X-Api-Key", "{public}", "Origin", "null", "Referer", "https://example.com/"}, status: 403, code: "anonymous_request"},
		{name: "public, subdomain of an exact pattern", headers: pub("https://www.example.com"), status: 403, code: "domain_not_allowed"},
		{name: "public, wildcard subdomain", headers: pub("https://app.example.org"), status: 200},
		{name: "public, wildcard deep subdomain", headers: pub("https://a.b.example.org"), status: 200},
		{name: "public, wildcard apex", headers: pub("https://example.org"), status: 403, code: "domain_not_allowed"},
		{name: "public, scheme pattern, same scheme", headers: pub("https://secure.example.net"), status: 200},
		{name: "public, scheme pattern, http", headers: pub("http://secure.example.net"), status: 403, code: "domain_not_allowed"},
		{name: "public, port pattern", headers: pub("https://app.example.io:8443"), status: 200},
		{name: "public, port pattern, default port", headers: pub("https://app.example.io"), status: 403, code: "domain_not_allowed"},
		{name: "public, explicit default port", headers: pub("https://example.com:443"), status: 200},
		{name: "public, other port", headers: pub("https://example.com:8443"), status: 403, code: "domain_not_allowed"},
		{name: "public, letter case", headers: pub("HTTPS://EXAMPLE.COM"), status: 200},
		{name: "public, look-alike evil-example.com", headers: pub("https://evil-example.com"), status: 403, code: "domain_not_allowed", absent: denied},
		{name: "public, look-alike example.com.evil.net", headers: pub("https://example.com.evil.net"), status: 403, code: "domain_not_allowed"},
		{name: "public, look-alike with user info", headers: pub("https://example.com@evil.net"), status: 403, code: "domain_not_allowed"},
		{name: "public, look-alike wildcard", headers: pub("https://evilexample.org"), status: 403, code: "domain_not_allowed"},
		{name: "public, not http", headers: pub("ftp://example.com"), status: 403, code: "domain_not_allowed"},

		// Scopes.
		{name: "X-Required-Scope missing on the key", headers: []string{"X-Api-Key", "{private}", "X-Required-Scope", "sms:send"}, status: 403, code: "forbidden", absent: denied},
		{name: "X-Required-Scope granted", headers: []string{"X-Api-Key", "{sms}", "X-Required-Scope", "sms:send"}, status: 200, want: okIdentity("sms", "live", "sms:send")},
		{name: "X-Required-Scope, two scopes, one missing", headers: []string{"X-Api-Key", "{sms}", "X-Required-Scope", "sms:send reports:read"}, status: 403, code: "forbidden"},
		{name: "Traefik: rule requires sms:send", headers: []string{"X-Api-Key", "{private}", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/v1/sms/send"}, status: 403, code: "forbidden"},
		{name: "Traefik: rule granted", headers: []string{"X-Api-Key", "{sms}", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/v1/sms/send"}, status: 200},
		{name: "Traefik: other method, no rule", headers: []string{"X-Api-Key", "{private}", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/v1/sms/send"}, status: 200},
		{name: "nginx: rule requires sms:send", headers: []string{"X-Api-Key", "{private}", "X-Original-Method", "POST", "X-Original-URI", "/v1/sms"}, status: 403, code: "forbidden"},
		{name: "nginx: rule granted", headers: []string{"X-Api-Key", "{sms}", "X-Original-Method", "POST", "X-Original-URI", "/v1/sms"}, status: 200},
		{name: "nginx: reports rule", headers: []string{"X-Api-Key", "{sms}", "X-Original-Method", "GET", "X-Original-URI", "/v1/reports/daily"}, status: 403, code: "forbidden"},
		{name: "Envoy: path after /v1/auth", method: "POST", target: "/v1/auth/v1/sms", headers: []string{"X-Api-Key", "{private}"}, status: 403, code: "forbidden"},
		{name: "Envoy: granted", method: "POST", target: "/v1/auth/v1/sms", headers: []string{"X-Api-Key", "{sms}"}, status: 200, want: okIdentity("sms", "live", "sms:send")},
		{name: "Envoy: query string ignored", method: "GET", target: "/v1/auth/v1/reports?day=1", headers: []string{"X-Api-Key", "{sms}"}, status: 403, code: "forbidden"},
		{name: "query string ignored for rules", headers: []string{"X-Api-Key", "{reports}", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/v1/reports?next=/v1/sms"}, status: 200},
		{name: "a rule's path in the query does not match", headers: []string{"X-Api-Key", "{private}", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/v1/other?x=/v1/sms"}, status: 200},
		{name: "header and rule: union", headers: []string{"X-Api-Key", "{sms}", "X-Required-Scope", "reports:read", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/v1/sms"}, status: 403, code: "forbidden"},
		{name: "header and rule: both granted", headers: []string{"X-Api-Key", "{multi}", "X-Required-Scope", "reports:read", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/v1/sms"}, status: 200,
			want: okIdentity("multi", "test", "sms:send reports:read")},
		{name: "no scope required: any valid key", headers: []string{"X-Api-Key", "{reports}", "X-Forwarded-Method", "DELETE", "X-Forwarded-Uri", "/v1/anything"}, status: 200},
		{name: "admin grants all", method: "POST", target: "/v1/auth/v1/sms", headers: []string{"X-Api-Key", "{admin}", "X-Required-Scope", "reports:read keys:manage"}, status: 200, want: okIdentity("admin", "live", "admin")},

		// Identity headers are computed, never copied.
		{name: "client-sent identity headers, allowed", headers: []string{"X-Api-Key", "{multi}", "X-Keyplane-Org", "evil", "X-Keyplane-Key-Id", "forged", "X-Keyplane-Scopes", "admin", "X-Keyplane-Environment", "live"}, status: 200,
			want: okIdentity("multi", "test", "sms:send reports:read")},
		{name: "client-sent identity headers, refused", headers: []string{"X-Api-Key", "{revoked}", "X-Keyplane-Org", "evil", "X-Keyplane-Key-Id", "forged"}, status: 401, code: "key_revoked", absent: identityHeaders},
		{name: "client-sent identity headers, no key", headers: []string{"X-Keyplane-Org", "evil"}, status: 401, code: "unauthorized", absent: identityHeaders},

		// CORS preflight.
		{name: "preflight without a key", method: "OPTIONS", headers: []string{"Origin", "https://example.com", "Access-Control-Request-Method", "POST"}, status: 200, absent: denied},
		{name: "preflight via X-Forwarded-Method", headers: []string{"X-Forwarded-Method", "OPTIONS", "X-Forwarded-Uri", "/v1/sms", "Origin", "https://example.com", "Access-Control-Request-Method", "POST"}, status: 200, absent: identityHeaders},
		{name: "preflight with a forged identity", method: "OPTIONS", headers: []string{"Origin", "https://evil.net", "Access-Control-Request-Method", "POST", "X-Keyplane-Org", "evil"}, status: 200, absent: identityHeaders},
		{name: "OPTIONS without Access-Control-Request-Method", method: "OPTIONS", headers: []string{"Origin", "https://example.com"}, status: 401, code: "unauthorized"},
		{name: "OPTIONS without Origin", method: "OPTIONS", headers: []string{"Access-Control-Request-Method", "POST"}, status: 401, code: "unauthorized"},
		{name: "preflight with a key is verified", method: "OPTIONS", headers: []string{"X-Api-Key", "{revoked}", "Origin", "https://example.com", "Access-Control-Request-Method", "POST"}, status: 401, code: "key_revoked"},

		// Time passes: two hours.
		{name: "rotated, old key past grace", after: 2 * time.Hour, headers: []string{"X-Api-Key", "{rotated}"}, status: 401, code: "key_expired", absent: denied},
		{name: "rotated, new key after grace", after: 2 * time.Hour, headers: []string{"X-Api-Key", "{rotated.new}"}, status: 200, want: okIdentity("rotated.new", "live", "")},
		{name: "not yet expired", after: 2 * time.Hour, headers: []string{"X-Api-Key", "{expiring}"}, status: 200},
		// Three days.
		{name: "expired", after: 72 * time.Hour, headers: []string{"X-Api-Key", "{expiring}"}, status: 401, code: "key_expired", absent: denied},
		{name: "a plain key still works", after: 72 * time.Hour, headers: []string{"X-Api-Key", "{private}"}, status: 200},
	}
}

func mergeHeaders(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestForwardAuthScenarios runs the forward-auth table through the real
// server on both databases.
func TestForwardAuthScenarios(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDPEnv(t, db)
		d.standardKeys()
		d.addSpecialKeys(t)
		var now time.Duration
		for i, sc := range dpForwardAuthScenarios() {
			if sc.after < now {
				t.Fatalf("scenario %q goes back in time", sc.name)
			}
			d.advance(sc.after - now)
			now = sc.after
			t.Run(sc.name, func(t *testing.T) {
				srv := d.srv
				if sc.proxied {
					srv = d.proxied.srv
				}
				method, target, remote := sc.method, sc.target, sc.remote
				if method == "" {
					method = http.MethodGet
				}
				if target == "" {
					target = "/v1/auth"
				}
				if remote == "" {
					remote = fmt.Sprintf("198.51.100.%d:40000", i%250+1)
				}
				hdr := make([]string, len(sc.headers))
				for j, h := range sc.headers {
					hdr[j] = d.expand(h)
				}
				rec := serve(srv, method, d.expand(target), remote, nil, hdr)
				d.check(t, rec, sc.status, sc.code, sc.want, sc.absent)
				if rec.Code == http.StatusOK && rec.Body.Len() != 0 {
					t.Errorf("forward-auth 200 with a body: %.100s", rec.Body)
				}
			})
		}
	})
}

// addSpecialKeys registers the plaintexts of keys that do not exist: one
// with a bad checksum and an unknown well-formed one.
func (d *dpEnv) addSpecialKeys(t *testing.T) {
	t.Helper()
	good := d.secrets["private"]
	last := good[len(good)-1]
	swap := byte('A')
	if last == 'A' {
		swap = 'B'
	}
	d.secrets["badchecksum"] = good[:len(good)-1] + string(swap)
	if _, err := apikey.Parse(d.secrets["badchecksum"], "kp"); err == nil {
		t.Fatal("the bad-checksum key parses")
	}
	unknown, err := apikey.Generate(nil, "kp", apikey.Private, apikey.Live)
	if err != nil {
		t.Fatal(err)
	}
	d.secrets["unknown"] = unknown
}

// check asserts a forward-auth or /v1/me response.
func (d *dpEnv) check(t *testing.T, rec *httptest.ResponseRecorder, status int, code string, want map[string]string, absent []string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %.300s", rec.Code, status, rec.Body)
	}
	if code != "" {
		if got := errorCode(t, rec); got != code {
			t.Fatalf("code %q, want %q", got, code)
		}
		// Gateways that drop the body keep the code from this header.
		if got := rec.Header().Values("X-Keyplane-Error"); len(got) != 1 || got[0] != code {
			t.Errorf("X-Keyplane-Error = %q, want %q", got, code)
		}
	} else if got := rec.Header().Values("X-Keyplane-Error"); len(got) != 0 {
		t.Errorf("X-Keyplane-Error = %q on an answer that refuses nothing", got)
	}
	for name, v := range want {
		if got := rec.Header().Values(name); len(got) != 1 || got[0] != d.expand(v) {
			t.Errorf("header %s = %q, want %q", name, got, d.expand(v))
		}
	}
	for _, name := range absent {
		if got := rec.Header().Values(name); len(got) != 0 {
			t.Errorf("header %s = %q, want none", name, got)
		}
	}
}

// TestPublicKeyRateLimit: 5 per minute per client IP, then a 5-minute block
// that refusals do not extend.
func TestPublicKeyRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var rec *usage.Recorder
		d := newDPEnv(t, db, func(deps *Deps) {
			rec = usage.NewRecorder(db, slog.New(slog.DiscardHandler), nil)
			deps.Usage = rec
		})
		d.add("public", apikey.Input{Kind: "public", Domains: "example.com"})
		key := d.secrets["public"]
		call := func(remote string) *httptest.ResponseRecorder {
			return serve(d.srv, http.MethodGet, "/v1/auth", remote, nil, []string{"X-Api-Key", key, "Origin", "https://example.com"})
		}
		const a, b = "203.0.113.10:1000", "203.0.113.11:1000"
		policy := `"default";q=5;w=60`
		for i := range 5 {
			r := call(a)
			d.check(t, r, 200, "", map[string]string{
				"RateLimit-Policy": policy, "RateLimit": fmt.Sprintf(`"default";r=%d;t=60`, 4-i),
			}, []string{"Retry-After"})
		}
		// Refusals before the limiter do not count.
		for range 3 {
			r := serve(d.srv, http.MethodGet, "/v1/auth", a, nil, []string{"X-Api-Key", key, "Origin", "https://evil.net"})
			d.check(t, r, 403, "domain_not_allowed", nil, []string{"Retry-After"})
		}
		r := call(a)
		d.check(t, r, 429, "rate_limited", map[string]string{
			"Retry-After": "300", "RateLimit-Policy": policy, "RateLimit": `"default";r=0;t=300`,
		}, identityHeaders)

		// During the block: refused, and the block is not extended.
		d.advance(60 * time.Second)
		d.check(t, call(a), 429, "rate_limited", map[string]string{"Retry-After": "240", "RateLimit": `"default";r=0;t=240`}, nil)
		d.advance(100 * time.Second)
		d.check(t, call(a), 429, "rate_limited", map[string]string{"Retry-After": "140"}, nil)
		d.advance(139*time.Second + 500*time.Millisecond)
		d.check(t, call(a), 429, "rate_limited", map[string]string{"Retry-After": "1"}, nil)

		// Another client IP is not affected.
		d.check(t, call(b), 200, "", map[string]string{"RateLimit": `"default";r=4;t=60`}, nil)

		// After the block, allowed again with a fresh window.
		d.advance(500 * time.Millisecond)
		d.check(t, call(a), 200, "", map[string]string{"RateLimit": `"default";r=4;t=60`}, nil)

		// Every outcome was counted: 5+1+1 allowed, 4 rate limited, 3 refused origins.
		if err := rec.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		var rows []usage.Hourly
		if err := db.Where("key_id = ?", d.ids["public"]).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, row := range rows {
			got[row.Outcome] += row.Count
		}
		want := map[string]int64{"allowed": 7, "rate_limited": 4, "domain_not_allowed": 3}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("usage %v, want %v", got, want)
		}
	})
}

// TestPrivateKeyRateLimit: a private key's limit is per key across IPs,
// with no block.
func TestPrivateKeyRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDPEnv(t, db)
		d.add("three", apikey.Input{RateLimit: "3"})
		call := func(remote string) *httptest.ResponseRecorder {
			return serve(d.srv, http.MethodGet, "/v1/auth", remote, nil, []string{"Authorization", "Bearer " + d.secrets["three"]})
		}
		policy := `"default";q=3;w=60`
		for i, ip := range []string{"192.0.2.1", "192.0.2.2", "[2001:db8::3]"} {
			d.check(t, call(ip+":1"), 200, "", map[string]string{"RateLimit-Policy": policy, "RateLimit": fmt.Sprintf(`"default";r=%d;t=60`, 2-i)}, nil)
		}
		d.check(t, call("192.0.2.4:1"), 429, "rate_limited", map[string]string{"Retry-After": "60", "RateLimit-Policy": policy, "RateLimit": `"default";r=0;t=60`}, identityHeaders)
		d.advance(30 * time.Second)
		d.check(t, call("192.0.2.1:1"), 429, "rate_limited", map[string]string{"Retry-After": "30"}, nil)
		d.advance(30 * time.Second)
		d.check(t, call("192.0.2.5:1"), 200, "", map[string]string{"RateLimit": `"default";r=2;t=60`}, nil)
	})
}

// dpVerifyScenario is one POST /v1/verify and the JSON that must come back.
type dpVerifyScenario struct {
	name   string
	after  time.Duration
	remote string
	body   string         // expanded
	status int            // 200 when 0
	code   string         // error code of a non-200
	want   map[string]any // exact fields of a 200 body (values expanded when strings)
}

func TestVerifyEndpointScenarios(t *testing.T) {
	valid := func(name, env, kind string, scopes ...string) map[string]any {
		if scopes == nil {
			scopes = []string{}
		}
		return map[string]any{"valid": true, "key_id": "{" + name + ".id}", "org_id": "{org.id}", "org": "acme", "environment": env, "kind": kind, "product": "default", "scopes": scopes}
	}
	invalid := func(code string) map[string]any { return map[string]any{"valid": false, "code": code} }
	scenarios := []dpVerifyScenario{
		{name: "valid", body: `{"key": "{private}"}`, want: valid("private", "live", "private")},
		{name: "valid with scopes", body: `{"key": "{multi}", "scope": "sms:send"}`, want: valid("multi", "test", "private", "sms:send", "reports:read")},
		{name: "admin grants all", body: `{"key": "{admin}", "scope": "sms:send reports:read"}`, want: valid("admin", "live", "private", "admin")},
		{name: "valid public key with its limit", body: `{"key": "{public}", "origin": "https://example.com"}`,
			want: mergeAny(valid("public", "live", "public"), map[string]any{"ratelimit": map[string]any{"limit": 5, "remaining": 4, "reset": 60}})},
		{name: "missing key", body: `{}`, want: invalid("unauthorized")},
		{name: "garbage key", body: `{"key": "nope"}`, want: invalid("unauthorized")},
		{name: "bad checksum", body: `{"key": "{badchecksum}"}`, want: invalid("unauthorized")},
		{name: "unknown key", body: `{"key": "{unknown}"}`, want: invalid("unauthorized")},
		{name: "revoked", body: `{"key": "{revoked}"}`, want: invalid("key_revoked")},
		{name: "ip in the body, allowed", body: `{"key": "{ipv4}", "ip": "10.0.0.255"}`, want: valid("ipv4", "live", "private")},
		{name: "ip in the body, refused", body: `{"key": "{ipv4}", "ip": "10.0.1.0"}`, want: invalid("ip_not_allowed")},
		{name: "ip in the body wins over the peer", remote: "10.0.0.1:1", body: `{"key": "{ipv4}", "ip": "192.0.2.1"}`, want: invalid("ip_not_allowed")},
		{name: "no ip: the peer", remote: "10.0.0.1:1", body: `{"key": "{ipv4}"}`, want: valid("ipv4", "live", "private")},
		{name: "IPv6 ip in the body", body: `{"key": "{ipv6}", "ip": "2001:db8::5"}`, want: valid("ipv6", "live", "private")},
		{name: "public, no origin", body: `{"key": "{public}"}`, want: invalid("anonymous_request")},
		{name: "public, origin null", body: `{"key": "{public}", "origin": "null"}`, want: invalid("anonymous_request")},
		{name: "public, other origin", body: `{"key": "{public}", "origin": "https://evil-example.com"}`, want: invalid("domain_not_allowed")},
		{name: "scope missing", body: `{"key": "{private}", "scope": "sms:send"}`, want: invalid("forbidden")},
		{name: "limit of one: first", body: `{"key": "{one}"}`, want: mergeAny(valid("one", "live", "private"), map[string]any{"ratelimit": map[string]any{"limit": 1, "remaining": 0, "reset": 60}})},
		{name: "limit of one: rate_limited", body: `{"key": "{one}"}`, want: mergeAny(invalid("rate_limited"), map[string]any{"retry_after": 60, "ratelimit": map[string]any{"limit": 1, "remaining": 0, "reset": 60}})},
		{name: "malformed JSON", body: `{"key": `, status: 400, code: "bad_request"},
		{name: "not an object", body: `"{private}"`, status: 400, code: "bad_request"},
		{name: "trailing data", body: `{"key": "{private}"} {}`, status: 400, code: "bad_request"},
		{name: "bad ip", body: `{"key": "{private}", "ip": "not-an-ip"}`, status: 400, code: "bad_request"},
		{name: "body over 64 KiB", body: `{"key": "{private}", "origin": "` + strings.Repeat("x", 65<<10) + `"}`, status: 413, code: "too_large"},
		{name: "rotated past grace", after: 2 * time.Hour, body: `{"key": "{rotated}"}`, want: invalid("key_expired")},
		{name: "expired", after: 72 * time.Hour, body: `{"key": "{expiring}"}`, want: invalid("key_expired")},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDPEnv(t, db)
		d.standardKeys()
		d.addSpecialKeys(t)
		var now time.Duration
		for i, sc := range scenarios {
			d.advance(sc.after - now)
			now = sc.after
			t.Run(sc.name, func(t *testing.T) {
				remote := sc.remote
				if remote == "" {
					remote = fmt.Sprintf("198.51.100.%d:40000", i%250+1)
				}
				rec := serve(d.srv, http.MethodPost, "/v1/verify", remote, strings.NewReader(d.expand(sc.body)), []string{"Content-Type", "application/json"})
				status := sc.status
				if status == 0 {
					status = http.StatusOK
				}
				if rec.Code != status {
					t.Fatalf("status %d, want %d: %.300s", rec.Code, status, rec.Body)
				}
				if sc.code != "" {
					if got := errorCode(t, rec); got != sc.code {
						t.Fatalf("code %q, want %q", got, sc.code)
					}
					return
				}
				var got map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("body %s: %v", rec.Body, err)
				}
				want := d.expandAny(sc.want).(map[string]any)
				if got["valid"] == false {
					if msg, _ := got["message"].(string); msg == "" {
						t.Errorf("refusal without a message: %s", rec.Body)
					}
					delete(got, "message")
				}
				if g, w := jsonOf(got), jsonOf(want); g != w {
					t.Fatalf("body\n got %s\nwant %s", g, w)
				}
			})
		}
	})
}

func mergeAny(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// expandAny expands the strings inside v.
func (d *dpEnv) expandAny(v any) any {
	switch x := v.(type) {
	case string:
		return d.expand(x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = d.expand(s)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = d.expandAny(e)
		}
		return out
	}
	return v
}

// jsonOf is v as canonical JSON (sorted keys, numbers as float64).
func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	var x any
	json.Unmarshal(b, &x)
	b, _ = json.Marshal(x)
	return string(b)
}

func TestMeScenarios(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDPEnv(t, db)
		d.standardKeys()
		d.addSpecialKeys(t)

		var stored apikey.Key
		if err := db.Where("id = ?", d.ids["multi"]).Take(&stored).Error; err != nil {
			t.Fatal(err)
		}
		rec := serve(d.srv, http.MethodGet, "/v1/me", "192.0.2.1:1", nil, []string{"Authorization", "Bearer " + d.secrets["multi"]})
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"org": map[string]any{"id": d.acme.ID, "slug": "acme", "name": "Acme"},
			"key": map[string]any{
				"id": d.ids["multi"], "description": "multi", "hint": stored.Hint, "product": "default", "kind": "private", "environment": "test",
				"scopes": []string{"sms:send", "reports:read"}, "created_at": stored.CreatedAt.UTC().Format(time.RFC3339Nano),
			},
		}
		if g, w := jsonOf(got), jsonOf(want); g != w {
			t.Fatalf("/v1/me\n got %s\nwant %s", g, w)
		}
		if !strings.HasSuffix(stored.Hint, d.secrets["multi"][len(d.secrets["multi"])-4:]) || strings.Contains(rec.Body.String(), d.secrets["multi"]) {
			t.Fatalf("/v1/me shows the key or a wrong hint: %s", rec.Body)
		}

		// A key without scopes says "scopes": [].
		rec = serve(d.srv, http.MethodGet, "/v1/me", "192.0.2.1:1", nil, []string{"X-Api-Key", d.secrets["private"]})
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"scopes":[]`) {
			t.Fatalf("/v1/me of a key without scopes: %d %s", rec.Code, rec.Body)
		}

		// Errors as forward-auth.
		for _, sc := range []struct {
			name, remote string
			hdr          []string
			status       int
			code         string
		}{
			{"no key", "192.0.2.1:1", nil, 401, "unauthorized"},
			{"query string only", "192.0.2.1:1", nil, 401, "unauthorized"},
			{"two keys", "192.0.2.1:1", []string{"X-Api-Key", "{private}", "Authorization", "Bearer {multi}"}, 401, "unauthorized"},
			{"bad checksum", "192.0.2.1:1", []string{"X-Api-Key", "{badchecksum}"}, 401, "unauthorized"},
			{"unknown", "192.0.2.1:1", []string{"X-Api-Key", "{unknown}"}, 401, "unauthorized"},
			{"revoked", "192.0.2.1:1", []string{"X-Api-Key", "{revoked}"}, 401, "key_revoked"},
			{"IP not allowed", "192.0.2.1:1", []string{"X-Api-Key", "{ipv4}"}, 403, "ip_not_allowed"},
			{"IP allowed", "10.0.0.3:1", []string{"X-Api-Key", "{ipv4}"}, 200, ""},
			{"public, no origin", "192.0.2.2:1", []string{"X-Api-Key", "{public}"}, 403, "anonymous_request"},
			{"public, other origin", "192.0.2.2:1", []string{"X-Api-Key", "{public}", "Origin", "https://example.com.evil.net"}, 403, "domain_not_allowed"},
			{"public, allowed origin", "192.0.2.2:1", []string{"X-Api-Key", "{public}", "Origin", "https://example.com"}, 200, ""},
			{"limit of one", "192.0.2.3:1", []string{"X-Api-Key", "{one}"}, 200, ""},
			{"limit of one, again", "192.0.2.3:1", []string{"X-Api-Key", "{one}"}, 429, "rate_limited"},
		} {
			t.Run(sc.name, func(t *testing.T) {
				hdr := make([]string, len(sc.hdr))
				for i, h := range sc.hdr {
					hdr[i] = d.expand(h)
				}
				target := "/v1/me"
				if sc.name == "query string only" {
					target += "?api_key=" + d.secrets["private"]
				}
				rec := serve(d.srv, http.MethodGet, target, sc.remote, nil, hdr)
				var want map[string]string
				if sc.code == "rate_limited" {
					want = map[string]string{"Retry-After": "60"}
				}
				d.check(t, rec, sc.status, sc.code, want, identityHeaders)
			})
		}
	})
}

// flakyStore is a verify.Store over the database that fails on demand.
type flakyStore struct {
	verify.Store
	down atomic.Bool
}

func (s *flakyStore) KeyByHash(ctx context.Context, h []byte) (*verify.Key, error) {
	if s.down.Load() {
		return nil, errors.New("database unreachable")
	}
	return s.Store.KeyByHash(ctx, h)
}

// TestDataPlaneDatabaseDown: cached keys keep verifying, uncached ones get
// 503 in the error shape, and everything recovers by itself.
func TestDataPlaneDatabaseDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fs := &flakyStore{Store: verify.DBStore{DB: db}}
		d := newDPEnv(t, db, func(deps *Deps) {
			deps.Verifier = verify.New(verify.Options{Store: fs, Prefix: deps.Config.KeyPrefix, Now: deps.Now, Logger: deps.Logger})
		})
		d.add("cached", apikey.Input{})
		d.add("uncached", apikey.Input{})
		auth := func(name string) *httptest.ResponseRecorder {
			return serve(d.srv, http.MethodGet, "/v1/auth", "192.0.2.1:1", nil, []string{"X-Api-Key", d.secrets[name]})
		}
		d.check(t, auth("cached"), 200, "", okIdentity("cached", "live", ""), nil)
		fs.down.Store(true)
		d.advance(time.Minute) // past the cache TTL: a refresh is tried and fails
		d.check(t, auth("cached"), 200, "", okIdentity("cached", "live", ""), nil)
		d.check(t, auth("uncached"), 503, "unavailable", nil, identityHeaders)
		rec := serve(d.srv, http.MethodPost, "/v1/verify", "192.0.2.1:1", strings.NewReader(`{"key": "`+d.secrets["uncached"]+`"}`), nil)
		d.check(t, rec, 503, "unavailable", nil, nil)
		rec = serve(d.srv, http.MethodGet, "/v1/me", "192.0.2.1:1", nil, []string{"X-Api-Key", d.secrets["uncached"]})
		d.check(t, rec, 503, "unavailable", nil, nil)
		fs.down.Store(false)
		d.check(t, auth("uncached"), 200, "", okIdentity("uncached", "live", ""), nil)
	})
}

// TestDataPlaneUnknownPath: other paths under /v1 answer 404 in the error
// shape, not the dashboard's page.
func TestDataPlaneUnknownPath(t *testing.T) {
	d := newDPEnv(t, storetest.SQLite(t))
	rec := serve(d.srv, http.MethodGet, "/v1/nothing", "192.0.2.1:1", nil, nil)
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
	errorCode(t, rec)
	rec = serve(d.srv, http.MethodGet, "/v1/verify", "192.0.2.1:1", nil, nil)
	if rec.Code < 400 || rec.Code >= 500 {
		t.Fatalf("GET /v1/verify: status %d", rec.Code)
	}
}
