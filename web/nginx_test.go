package web

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"keyplane/internal/apikey"
	"keyplane/internal/store/storetest"
)

// startNginx is the gatewayStart for nginx: the ```nginx block of
// README.md goes in an http {} block, and every file nginx writes stays in
// a temporary directory, so it runs as root or not, without /var.
func startNginx(t *testing.T, keyplane, app string) string {
	t.Helper()
	return runNginx(t, "nginx", [][2]string{
		{"server 127.0.0.1:8080;", "server " + keyplane + ";"},
		{"server 127.0.0.1:3000;", "server " + app + ";"},
	})
}

// runNginx runs the ```nginx block after README.md's **paragraph** in "In
// front of an API", its addresses swapped (and its listen address for a
// free port), inside an http {} block with every file in a temporary
// directory, and returns its base URL.
func runNginx(t *testing.T, paragraph string, swaps [][2]string) string {
	t.Helper()
	gw := newGatewayProcess(t, "nginx", "/usr/sbin/nginx")
	snippet := swapAddresses(t, readmeBlock(t, "In front of an API", paragraph, "nginx"),
		append(swaps, [2]string{"listen 80;", "listen " + gw.listen + ";"}))
	p := func(name string) string { return filepath.Join(gw.dir, name) }
	conf := `master_process off;
worker_processes 1;
pid ` + p("nginx.pid") + `;
error_log ` + p("error.log") + ` info;
events { worker_connections 64; }
http {
    access_log ` + p("access.log") + `;
    client_body_temp_path ` + p("client_body") + `;
    proxy_temp_path ` + p("proxy") + `;
    fastcgi_temp_path ` + p("fastcgi") + `;
    uwsgi_temp_path ` + p("uwsgi") + `;
    scgi_temp_path ` + p("scgi") + `;
` + snippet + `}
`
	confPath := p("nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// -e: the startup error log, before the configuration is read.
	gw.args = []string{"-p", gw.dir, "-c", confPath, "-e", p("error.log"), "-g", "daemon off;"}
	gw.report = func() string { b, _ := os.ReadFile(p("error.log")); return "error.log:\n" + string(b) }
	return gw.run(t)
}

// TestNginxForwardAuth puts a real nginx with auth_request, configured as
// README.md says, between a client and an upstream, with Keyplane
// answering the auth subrequests.
func TestNginxForwardAuth(t *testing.T) {
	g := newGatewayEnv(t, storetest.SQLite(t), "nginx", nil)
	good := g.key(apikey.Input{Scopes: []string{"sms:send"}})
	revoked := g.revokedKey()
	public := g.key(apikey.Input{Kind: "public", Domains: "example.com"})
	g.startGateway(startNginx)

	call := func(hdr map[string]string) gatewayReply {
		t.Helper()
		return g.call(http.MethodGet, "/v1/sms?to=1", "", hdr)
	}
	// refused asserts a refusal in the error shape that never reached the app.
	refused := func(name string, r gatewayReply, status int, code string) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: status %d, want %d; body %s", name, r.status, status, r.body)
		}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code != code || body.Error.Message == "" {
			t.Fatalf("%s: body %s, want the error shape with code %q", name, r.body, code)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: Content-Type %q", name, ct)
		}
		for _, h := range identityHeaders {
			if v := r.header.Get(h); v != "" {
				t.Fatalf("%s: response has %s: %q", name, h, v)
			}
		}
	}
	forged := map[string]string{"X-Keyplane-Org": "evil", "x-keyplane-key-id": "forged", "X-Keyplane-Scopes": "admin"}

	// A good key reaches the app with the identity Keyplane computed, not
	// the one the client sent.
	for _, hdr := range []map[string]string{
		{"X-Api-Key": good.Secret},
		{"Authorization": "Bearer " + good.Secret},
	} {
		for k, v := range forged {
			hdr[k] = v
		}
		hits := g.seen.count()
		r := call(hdr)
		if r.status != http.StatusOK || r.header.Get("X-App") != "upstream" || g.seen.count() != hits+1 {
			t.Fatalf("good key: status %d, X-App %q: not the app's answer; body %s", r.status, r.header.Get("X-App"), r.body)
		}
		seen := g.seen.last(t).header
		for k, v := range g.identity(good, "sms:send") {
			if got := seen.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("upstream saw %s %q, want exactly %q (all headers: %v)", k, got, v, seen)
			}
		}
	}
	if n := g.seen.count(); n != 2 {
		t.Fatalf("app hits %d, want 2", n)
	}

	// Refusals never reach the app, forged identity or not.
	refused("missing key", call(forged), 401, "unauthorized")
	refused("bad key", call(map[string]string{"X-Api-Key": "kp_live_not-a-key"}), 401, "unauthorized")
	refused("revoked key", call(map[string]string{"X-Api-Key": revoked.Secret}), 401, "unauthorized")
	refused("public key, foreign origin", call(map[string]string{"X-Api-Key": public.Secret, "Origin": "https://evil.net"}), 403, "forbidden")
	if n := g.seen.count(); n != 2 {
		t.Fatalf("app hits %d after refusals, want 2", n)
	}

	// A public key: 5 requests a minute per client IP, then a 5-minute
	// block that reaches the client as 429 with Retry-After, not nginx's 500.
	pub := map[string]string{"X-Api-Key": public.Secret, "Origin": "https://example.com"}
	for i := range 5 {
		if r := call(pub); r.status != http.StatusOK {
			t.Fatalf("public key request %d: status %d; body %s", i+1, r.status, r.body)
		}
	}
	r := call(pub)
	refused("rate limited", r, 429, "rate_limited")
	for h, v := range map[string]string{"Retry-After": "300", "RateLimit-Policy": `"default";q=5;w=60`, "RateLimit": `"default";r=0;t=300`} {
		if got := r.header.Get(h); got != v {
			t.Errorf("rate limited: %s %q, want %q", h, got, v)
		}
	}
	if n := g.seen.count(); n != 7 {
		t.Fatalf("app hits %d, want 7", n)
	}
}
