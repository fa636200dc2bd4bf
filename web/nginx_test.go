package web

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"keyplane/internal/apikey"
	"keyplane/internal/audit"
	"keyplane/internal/store/storetest"
)

// nginxSnippet is the forward-auth setup the README documents, verbatim: it
// goes in nginx's http {} block. The test swaps the two upstream addresses
// and the listen address for its own.
const nginxSnippet = `upstream keyplane { server 127.0.0.1:8080; }  # KEYPLANE_TRUSTED_PROXIES must cover this nginx
upstream app      { server 127.0.0.1:3000; }

server {
    listen 80;

    location / {
        auth_request /_keyplane;
        # Identity from the auth response. proxy_set_header replaces any
        # X-Keyplane-* header the client sent; an empty value drops it.
        auth_request_set $kp_key_id $upstream_http_x_keyplane_key_id;
        auth_request_set $kp_org_id $upstream_http_x_keyplane_org_id;
        auth_request_set $kp_org    $upstream_http_x_keyplane_org;
        auth_request_set $kp_env    $upstream_http_x_keyplane_environment;
        auth_request_set $kp_scopes $upstream_http_x_keyplane_scopes;
        proxy_set_header X-Keyplane-Key-Id      $kp_key_id;
        proxy_set_header X-Keyplane-Org-Id      $kp_org_id;
        proxy_set_header X-Keyplane-Org         $kp_org;
        proxy_set_header X-Keyplane-Environment $kp_env;
        proxy_set_header X-Keyplane-Scopes      $kp_scopes;
        # auth_request passes a 401 or 403 on but turns any other status
        # (429, 503) into 500 and drops the auth body. Keep the status and
        # headers, and answer every refusal in @keyplane_error. Only errors
        # nginx makes are caught: the app's own 401s pass through.
        auth_request_set $kp_status      $upstream_status;
        auth_request_set $kp_retry_after $upstream_http_retry_after;
        auth_request_set $kp_rl          $upstream_http_ratelimit;
        auth_request_set $kp_rl_policy   $upstream_http_ratelimit_policy;
        error_page 401 403 500 = @keyplane_error;
        proxy_pass http://app;
    }

    location = /_keyplane {
        internal;
        proxy_pass http://keyplane/v1/auth;
        proxy_pass_request_body off;           # the key is in a header
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Original-URI    $request_uri;
        proxy_set_header X-Forwarded-Method "";  # a client's own would
        proxy_set_header X-Forwarded-Uri    "";  # contradict the above
        proxy_set_header X-Forwarded-For   $remote_addr;
    }

    location @keyplane_error {
        default_type application/json;
        add_header Retry-After      $kp_retry_after always;  # empty: not sent
        add_header RateLimit        $kp_rl          always;
        add_header RateLimit-Policy $kp_rl_policy   always;
        if ($kp_status = 401) { return 401 '{"error":{"code":"unauthorized","message":"Invalid or missing API key"}}'; }
        if ($kp_status = 403) { return 403 '{"error":{"code":"forbidden","message":"This key may not make this request"}}'; }
        if ($kp_status = 429) { return 429 '{"error":{"code":"rate_limited","message":"Too many requests"}}'; }
        if ($kp_status ~ "50[234]$") { return 503 '{"error":{"code":"unavailable","message":"Authorization is unavailable"}}'; }
        return 500 '{"error":{"code":"internal","message":"Internal error"}}';
    }
}
`

// nginxPath finds the nginx binary; the test fails without it.
func nginxPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx not found: apt-get install -y nginx")
	return ""
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// startNginx runs nginx with nginxSnippet in front of keyplane and app
// (host:port each) and returns its base URL. Everything nginx writes stays
// in a temporary directory, so it runs as root or not, without /var.
func startNginx(t *testing.T, keyplane, app string) string {
	t.Helper()
	bin := nginxPath(t)
	dir := t.TempDir()
	listen := "127.0.0.1:" + freePort(t)
	snippet := strings.NewReplacer(
		"server 127.0.0.1:8080;", "server "+keyplane+";",
		"server 127.0.0.1:3000;", "server "+app+";",
		"listen 80;", "listen "+listen+";",
	).Replace(nginxSnippet)
	p := func(name string) string { return filepath.Join(dir, name) }
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
	errorLog := func() string { b, _ := os.ReadFile(p("error.log")); return string(b) }

	ctx, cancel := context.WithCancel(context.Background())
	// -e: the startup error log, before the configuration is read.
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", confPath, "-e", p("error.log"), "-g", "daemon off;")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited: %v\n%s\nerror.log:\n%s", err, out.String(), errorLog())
		default:
		}
		c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s: %v\n%s\nerror.log:\n%s", listen, err, out.String(), errorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNginxForwardAuth puts a real nginx with auth_request between a
// client and an upstream, with Keyplane answering the auth subrequests.
func TestNginxForwardAuth(t *testing.T) {
	db := storetest.SQLite(t)
	e := newEnv(t, db, map[string]string{
		"KEYPLANE_SCOPES":          "sms:send=Send SMS",
		"KEYPLANE_TRUSTED_PROXIES": "127.0.0.1/32", // nginx
	})
	alice := e.user("alice@example.com", "Alice", false)
	acme := e.org("Acme", "acme", alice.ID)
	ctx := context.Background()
	create := func(in apikey.Input) apikey.Created {
		t.Helper()
		if in.Kind == "" {
			in.Kind = "private"
		}
		in.Environment = "live"
		in.Description = "nginx test"
		c, err := e.keys.Create(ctx, acme.ID, "", in, audit.Actor{})
		if err != nil {
			t.Fatalf("create key: %v", err)
		}
		return c
	}
	good := create(apikey.Input{Scopes: []string{"sms:send"}})
	revoked := create(apikey.Input{})
	if _, err := e.keys.Revoke(ctx, acme.ID, revoked.Key.ID, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	public := create(apikey.Input{Kind: "public", Domains: "example.com"})

	// The upstream answers with the headers it received.
	var hits atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(app.Close)
	base := startNginx(t, e.ts.Listener.Addr().String(), app.Listener.Addr().String())

	hc := &http.Client{Timeout: 10 * time.Second}
	type reply struct {
		status int
		header http.Header
		body   []byte
	}
	call := func(hdr map[string]string) reply {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+"/v1/sms?to=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = []string{v} // sent as written: a lower-case name stays lower-case
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return reply{res.StatusCode, res.Header, b}
	}
	// refused asserts a refusal in the error shape that never reached the app.
	refused := func(name string, r reply, status int, code string) {
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
		r := call(hdr)
		if r.status != http.StatusOK {
			t.Fatalf("good key: status %d; body %s", r.status, r.body)
		}
		var seen http.Header
		if err := json.Unmarshal(r.body, &seen); err != nil {
			t.Fatalf("upstream body %s: %v", r.body, err)
		}
		want := map[string]string{
			"X-Keyplane-Key-Id": good.Key.ID, "X-Keyplane-Org-Id": acme.ID, "X-Keyplane-Org": "acme",
			"X-Keyplane-Environment": "live", "X-Keyplane-Scopes": "sms:send",
		}
		for k, v := range want {
			if got := seen.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("upstream saw %s %q, want exactly %q (all headers: %v)", k, got, v, seen)
			}
		}
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("app hits %d, want 2", n)
	}

	// Refusals never reach the app, forged identity or not.
	refused("missing key", call(forged), 401, "unauthorized")
	refused("bad key", call(map[string]string{"X-Api-Key": "kp_live_not-a-key"}), 401, "unauthorized")
	refused("revoked key", call(map[string]string{"X-Api-Key": revoked.Secret}), 401, "unauthorized")
	refused("public key, foreign origin", call(map[string]string{"X-Api-Key": public.Secret, "Origin": "https://evil.net"}), 403, "forbidden")
	if n := hits.Load(); n != 2 {
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
	if n := hits.Load(); n != 7 {
		t.Fatalf("app hits %d, want 7", n)
	}
}
